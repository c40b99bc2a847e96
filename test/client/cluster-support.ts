// A cluster of three real `flo server` processes on loopback for the client's
// cluster tests: each on its own HTTP and peer port, founded together, stopped
// by PID. Also reads what each broker says about itself (/v1/cluster, /metrics).
import { freePort, startServer, type ServerProcess } from '../support/server-process.js';
import { tempDir, waitFor } from '../support/temp.js';

export interface TestCluster {
  readonly brokers: ServerProcess[];
  readonly urls: string[];
  /** Stops every broker still running and removes the data dirs. */
  stop(): Promise<void>;
}

export async function startCluster(size = 3, extraArgs: string[] = []): Promise<TestCluster> {
  const dir = await tempDir('flo-client-cluster-');
  const peerPorts = await Promise.all(Array.from({ length: size }, () => freePort()));
  const peers = peerPorts.map((port) => `127.0.0.1:${port}`).join(',');
  const brokers = await Promise.all(peerPorts.map((peerPort, i) =>
    startServer(`${dir.path}/d${i + 1}`, ['--node-id', String(i + 1), '--peers', peers, '--peer-port', String(peerPort), ...extraArgs])));
  const urls = brokers.map((broker) => broker.url);
  // Balanced first: tests then start from leaders that stay put (the balancer moves none that sit where preferred).
  await waitFor(async () => (await Promise.all(urls.map(leadersBalanced))).every(Boolean), 'every broker to see every partition led by its preferred leader', 30_000);
  return {
    brokers,
    urls,
    async stop() {
      await Promise.all(brokers.map((broker) => broker.stop('SIGKILL')));
      await dir.remove();
    },
  };
}

interface ClusterView {
  nodeId: string;
  brokers: Array<{ nodeId: string; url: string | null }>;
  partitions: Array<{ partition: number; leader: string | null; leaderUrl: string | null; preferredLeader: string | null }>;
}

export async function clusterView(url: string): Promise<ClusterView> {
  const response = await fetch(`${url}/v1/cluster`);
  return (await response.json()) as ClusterView;
}

async function leadersBalanced(url: string): Promise<boolean> {
  try {
    return (await clusterView(url)).partitions.every((p) => p.leader !== null && p.leader === p.preferredLeader);
  } catch {
    return false;
  }
}

/** Events this broker acknowledged to producers that sent them to it (forwarded ones count at their origin). */
export async function producedAt(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('flo_produced_events_total'));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}
