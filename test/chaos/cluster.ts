// A chaos cluster: N `flo server` processes (node ids 1…N) whose every peer
// connection runs through the proxy mesh. A broker dials the addresses its own
// founders list (`--peers`) answered at, as saved in its cluster.json, so each
// broker gets its own list: its own peer port for itself, the proxy of link
// i→j for peer j. A pair of brokers keeps one connection, dialed by the lower
// id, and the mesh cuts both directions of each link, so a directed cut holds
// whichever side dialed. Ports stay fixed for the run, so restarts re-dial the
// same proxies.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { distinctFreePorts } from '../support/cluster.js';
import { waitFor } from '../support/temp.js';
import { BrokerProcess } from './brokers.js';
import type { MemberSlots } from './membership.js';
import { PEER_ROUTES_ENV } from '../../src/broker/transport/test-routes.js';
import { ProxyMesh } from './mesh.js';

export interface ChaosClusterOptions {
  brokers: number;
  dir: string;
  cliPath: string;
  /** Forming needs every founder up once, then an election per partition. Default 60 s. */
  formTimeoutMs?: number;
  /** One slot more than the founders, not started: what the member-replace nemesis joins (membership.ts). */
  spare?: boolean;
}

interface PartitionView {
  partition: number;
  leader: string | null;
  nextOffset: number;
}

export interface ClusterView {
  partitions: PartitionView[];
}

export class ChaosCluster implements MemberSlots {
  /** Every slot; `spare`, when there is one, is not a member now (not running, not judged). */
  private constructor(readonly brokers: readonly BrokerProcess[], readonly mesh: ProxyMesh, public spare: BrokerProcess | undefined) {}

  /** The slots that are members now. */
  get members(): BrokerProcess[] {
    return this.brokers.filter((broker) => broker !== this.spare);
  }

  /** Starts the mesh and every broker, adding each broker to `started` at once so a failed start still stops them all. */
  static async start(options: ChaosClusterOptions, started: BrokerProcess[]): Promise<ChaosCluster> {
    const count = options.brokers;
    const slots = count + (options.spare === true ? 1 : 0);
    await mkdir(join(options.dir, 'logs'), { recursive: true });
    const ports = await distinctFreePorts(slots * 2);
    const httpPorts = ports.slice(0, slots);
    const peerPorts = ports.slice(slots);
    const mesh = await ProxyMesh.start(peerPorts);
    try {
      const brokers = httpPorts.map((port, index) => {
        const founders = peerPorts.slice(0, count).map((peerPort, to) => (to === index ? `127.0.0.1:${peerPort}` : mesh.address(index, to)));
        return new BrokerProcess({
          index, port, dataDir: join(options.dir, 'data', `b${index}`), logPath: join(options.dir, 'logs', `b${index}.log`), cliPath: options.cliPath,
          readyTimeoutMs: options.formTimeoutMs ?? 60_000,
          // Members dial a joined member at the one peer address it advertises: the routes send each dialer through its own proxy.
          env: { [PEER_ROUTES_ENV]: mesh.routesFor(index, peerPorts) },
          // The spare is given --join when it is used.
          extraArgs: index < count ? ['--node-id', String(index + 1), '--peer-port', String(peerPorts[index]), '--peers', founders.join(',')] : ['--peer-port', String(peerPorts[index])],
        });
      });
      started.push(...brokers);
      // Every founder must be up before any can form: start them together.
      await Promise.all(brokers.slice(0, count).map((broker) => broker.start()));
      const cluster = new ChaosCluster(brokers, mesh, brokers[count]);
      await cluster.waitAgreed(options.formTimeoutMs ?? 60_000);
      return cluster;
    } catch (error) {
      await mesh.close();
      throw error;
    }
  }

  /** The members' URLs (a spare's is refused until it joins). */
  get urls(): string[] {
    return this.members.map((broker) => broker.url);
  }

  async view(broker: BrokerProcess): Promise<ClusterView | undefined> {
    try {
      const response = await fetch(`${broker.url}/v1/cluster`, { signal: AbortSignal.timeout(2_000) });
      return response.ok ? ((await response.json()) as ClusterView) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Every member answering and naming the same leader, one of them, for every partition. */
  async waitAgreed(timeoutMs: number): Promise<void> {
    await waitFor(async () => {
      const views = await Promise.all(this.members.map((broker) => this.view(broker)));
      if (views.some((view) => view === undefined)) return false;
      const [first, ...others] = views as ClusterView[];
      return first!.partitions.every((p, i) => p.leader !== null && others.every((view) => view.partitions[i]?.leader === p.leader));
    }, 'every broker to agree on one leader per partition', timeoutMs);
  }

  async close(): Promise<void> {
    await this.mesh.close();
  }
}
