// Three brokers of one cluster in this process (each with its own data dir and
// LevelDB, real peer TCP on loopback): for cluster behaviour that needs no kill -9.
import { Broker, type BrokerOptions } from '../../src/broker/broker.js';
import { freePort } from './server-process.js';
import { silentLogger, tempDir, waitFor } from './temp.js';

export interface InProcessCluster {
  readonly brokers: Broker[];
  close(): Promise<void>;
}

export async function startInProcessCluster(options: Partial<BrokerOptions> = {}, size = 3): Promise<InProcessCluster> {
  const peerPorts = await Promise.all(Array.from({ length: size }, () => freePort()));
  const peers = peerPorts.map((port) => ({ host: '127.0.0.1', port }));
  const dirs = await Promise.all(peerPorts.map(() => tempDir()));
  // Founders wait for each other: start them all at once.
  const brokers = await Promise.all(peerPorts.map((peerPort, i) => Broker.start({
    logger: silentLogger, partitions: 2, port: 0, ...options, dataDir: dirs[i]!.path, cluster: { nodeId: i + 1, peers, peerPort },
  })));
  // Ready: every partition has a leader and each broker caught up with it since its start (it serves reads).
  await waitFor(async () => brokers.every((broker) => broker.log.raftStatus().every((group) => group.leader !== null))
    && (await Promise.all(brokers.map(async (broker) => (await fetch(`${broker.url}/readyz`)).ok))).every(Boolean), 'every partition to have a leader and every broker to be ready', 20_000);
  return {
    brokers,
    close: async () => {
      await Promise.all(brokers.map((broker) => broker.close()));
      await Promise.all(dirs.map((dir) => dir.remove()));
    },
  };
}
