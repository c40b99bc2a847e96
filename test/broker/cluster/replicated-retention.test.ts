// Retention in a cluster is decided once, by each partition's leader, and applied by
// every replica through the Raft log (TRIM commands): replicas keep exactly the
// same events, so an id names the same event on every broker after a cut too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../../src/broker/broker.js';
import { parseRetentionRules } from '../../../src/broker/partitions/retention.js';
import { startInProcessCluster, type InProcessCluster } from '../../support/in-process-cluster.js';
import { waitFor } from '../../support/temp.js';

let cluster: InProcessCluster;
let brokers: Broker[];

beforeAll(async () => {
  cluster = await startInProcessCluster({ retentionIntervalMs: 200 });
  brokers = cluster.brokers;
}, 60_000);

afterAll(async () => {
  await cluster.close();
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
