// The minority side, for partitions the survivor followed (scenario in minority.ts):
// it has no leader to forward to and refuses writes with a retryable 503.
import { afterAll, beforeAll, describe, it } from 'vitest';
import { TestCluster } from '../support/cluster.js';
import { leaveOneBroker } from './minority.js';

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await TestCluster.start({ brokers: 3 });
});
afterAll(async () => {
  await cluster?.close();
});

describe('a broker on the minority side', () => {
  it('refuses writes to partitions it followed with a 503 naming the partition, serves committed reads, and writes again once a majority is back', async () => {
    // The broker leading the fewest partitions, so there are partitions it follows.
    const byLeader = new Map<number, number>(cluster.brokers.map((b) => [b.nodeId, 0]));
    for (const p of (await cluster.status(1)).partitions) byLeader.set(Number(p.leader), (byLeader.get(Number(p.leader)) ?? 0) + 1);
    const survivor = [...byLeader].sort((a, b) => a[1] - b[1])[0]![0];
    await leaveOneBroker(cluster, survivor, 'followed');
  });
});
