// The proxy mesh of a cluster run: one FaultProxy per directed peer link, the
// one broker `from` dials to reach broker `to`. A schedule's partition is a set
// of directed cuts [a, b] ("nothing a sends reaches b"): on a's link to b the
// way up is cut, on b's link to a the way down, so the cut holds whichever
// connection the brokers use for a message. It needs brokers that can be given
// a peer address per peer (or that dial from their own loopback address).
import { FaultProxy } from './proxy.js';

export class ProxyMesh {
  private constructor(private readonly links: Map<string, FaultProxy>, readonly size: number) {}

  /** `peerPorts[i]`: where broker i listens for peers. */
  static async start(peerPorts: readonly number[]): Promise<ProxyMesh> {
    const links = new Map<string, FaultProxy>();
    try {
      for (let from = 0; from < peerPorts.length; from++) {
        for (let to = 0; to < peerPorts.length; to++) {
          if (from !== to) links.set(`${from}>${to}`, await FaultProxy.start({ targetPort: peerPorts[to]! }));
        }
      }
    } catch (error) {
      for (const proxy of links.values()) await proxy.close();
      throw error;
    }
    return new ProxyMesh(links, peerPorts.length);
  }

  link(from: number, to: number): FaultProxy {
    const proxy = this.links.get(`${from}>${to}`);
    if (!proxy) throw new Error(`no link from ${from} to ${to}`);
    return proxy;
  }

  /** The address broker `from` must use for peer `to`. */
  address(from: number, to: number): string {
    return `127.0.0.1:${this.link(from, to).port}`;
  }

  /**
   * FLO_TEST_PEER_ROUTES for broker `from`: every address that reaches peer `to` (its own peer port, or
   * another broker's proxy to it) is dialed through `from`'s own proxy to `to`. Members that join during
   * a run advertise one address to everyone; with this their links run through the mesh too.
   */
  routesFor(from: number, peerPorts: readonly number[]): string {
    const routes: string[] = [];
    for (let to = 0; to < this.size; to++) {
      if (to === from) continue;
      const own = this.address(from, to);
      routes.push(`127.0.0.1:${peerPorts[to]}=${own}`);
      for (let other = 0; other < this.size; other++) if (other !== to && other !== from) routes.push(`${this.address(other, to)}=${own}`);
    }
    return routes.join(',');
  }

  /** Heals everything, then cuts exactly these directed links. */
  apply(cuts: ReadonlyArray<readonly [number, number]>): void {
    this.heal();
    for (const [from, to] of cuts) {
      this.link(from, to).cut('up');
      this.link(to, from).cut('down');
    }
  }

  /** Every link to or from `broker`, both ways: what a fault on one broker's network acts on. */
  linksOf(broker: number): FaultProxy[] {
    const links: FaultProxy[] = [];
    for (let other = 0; other < this.size; other++) {
      if (other !== broker) links.push(this.link(broker, other), this.link(other, broker));
    }
    return links;
  }

  heal(): void {
    for (const proxy of this.links.values()) proxy.heal();
  }

  async close(): Promise<void> {
    for (const proxy of this.links.values()) await proxy.close();
  }
}
