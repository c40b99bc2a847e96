// The addresses behind a DNS name that resolves to every member's pod (on Kubernetes the
// headless peer Service, FLO_PEERS_SERVICE). They are not members to form with, only brokers
// to ask: whether the cluster already formed (a founder whose volume was lost must not form
// again, alone or with the other founders: with one founder nobody else in --peers would say
// so), and whom to join through when --join names this broker itself.
// Looked up through the module object at call time: a resolver installed over it (a test seam) is used.
import dns from 'node:dns';
import { FloError } from '../../common/errors.js';
import type { PeerAddress } from '../transport/peer-link.js';

const LOOKUP_TIMEOUT_MS = 2_000;

export type Discover = () => Promise<PeerAddress[]>;
export type Resolve = (host: string) => Promise<Array<{ address: string }>>;

/** `name` is a host, or host:port; the port defaults to this broker's own peer port (every pod listens on the same one). */
export function peerDiscovery(name: string, peerPort: number, resolve: Resolve = (host) => dns.promises.lookup(host, { all: true })): Discover {
  const match = /^([^\s:[\]/]+)(?::(\d{1,5}))?$/.exec(name.trim());
  if (match !== null && match[2] === undefined && peerPort === 0) throw new FloError('FLO_ERR_CONFIG_INVALID', `--peers-service: "${name}" needs a port when --peer-port is 0`);
  const port = match?.[2] === undefined ? peerPort : Number(match[2]);
  if (match === null || port < 1 || port > 65535) throw new FloError('FLO_ERR_CONFIG_INVALID', `--peers-service: "${name}" is not a DNS name or name:port (e.g. flo-peers.prod.svc.cluster.local)`);
  const host = match[1]!;
  return async () => {
    let timer: NodeJS.Timeout | undefined;
    try {
      const answers = await Promise.race([
        resolve(host),
        new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer for ${host} in ${LOOKUP_TIMEOUT_MS} ms`)), LOOKUP_TIMEOUT_MS); }),
      ]);
      return [...new Set(answers.map((answer) => answer.address))].map((address) => ({ host: address, port }));
    } catch {
      return []; // not resolvable yet (no pod ready, or not on Kubernetes): nobody else to ask
    } finally {
      clearTimeout(timer);
    }
  };
}
