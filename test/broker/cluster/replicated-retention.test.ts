// Retention in a cluster is decided once, by each partition's leader, and applied by
// every replica through the Raft log (TRIM commands): replicas keep exactly the
// same events, so an id names the same event on every broker after a cut too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Broker } from '../../../src/broker/broker.js';
import { parseRetentionRules } from '../../../src/broker/partitions/retention.js';
import { freePort } from '../../support/server-process.js';
import { silentLogger, tempDir, waitFor } from '../../support/temp.js';

const brokers: Broker[] = [];
const dirs: Array<Awaited<ReturnType<typeof tempDir>>> = [];

beforeAll(async () => {
  const peerPorts = [await freePort(), await freePort(), await freePort()];
  const peers = peerPorts.map((port) => ({ host: '127.0.0.1', port }));
  for (let i = 0; i < 3; i++) dirs.push(await tempDir());
  // Founders wait for each other: start all three at once.
  brokers.push(...await Promise.all(peerPorts.map((peerPort, i) => Broker.start({
    dataDir: dirs[i]!.path, logger: silentLogger, partitions: 2, port: 0, retentionIntervalMs: 200,
    cluster: { nodeId: i + 1, peers, peerPort },
  }))));
  await waitFor(() => brokers.every((broker) => broker.log.raftStatus().every((group) => group.leader !== null)), 'every partition to have a leader', 20_000);
}, 60_000);

afterAll(async () => {
  await Promise.all(brokers.map((broker) => broker.close()));
  await Promise.all(dirs.map((dir) => dir.remove()));
});

async function ids(broker: Broker, glob: string): Promise<string[]> {
  const found: string[] = [];
  for await (const event of broker.subscribe({ namespace: glob, follow: false })) found.push(event.id);
  return found;
}

describe('retention in a cluster', () => {
  it('cuts the same events on every replica, as the leader decided', async () => {
    for (let i = 0; i < 20; i++) await brokers[i % 3]!.produce({ namespace: '/r/a', data: `e${i}` });
    await brokers[1]!.produce({ namespace: '/keep/b', data: 'stays' });
    // Only the leader of /r/a's partition has the rule: the followers cut because it told them to.
    const partition = brokers[0]!.log.store.dictionary.partitionFor('/r/a');
    const leader = brokers.find((broker) => broker.log.raftStatus()[partition]!.role === 'leader')!;
    await leader.log.setRetentionRules(parseRetentionRules([{ namespace: '/r/**', maxEvents: 5 }]));
    await waitFor(async () => {
      const held = await Promise.all(brokers.map((broker) => ids(broker, '/r/**')));
      return held.every((list) => list.length === 5);
    }, 'every broker to keep 5 events of /r/a', 20_000);
    const held = await Promise.all(brokers.map((broker) => ids(broker, '/**')));
    expect(held[1]).toEqual(held[0]);
    expect(held[2]).toEqual(held[0]);
    const kept = await Promise.all(brokers.map(async (broker) => {
      const data: string[] = [];
      for await (const event of broker.subscribe({ namespace: '/r/a', follow: false })) data.push(Buffer.from(event.data).toString());
      return data;
    }));
    expect(kept).toEqual([0, 1, 2].map(() => ['e15', 'e16', 'e17', 'e18', 'e19']));
  }, 60_000);
});
