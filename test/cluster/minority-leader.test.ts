// The minority side, for partitions the survivor led when the other two stopped
// (scenario in minority.ts): it must notice it lost its quorum and refuse writes
// with a retryable 503 naming the partition within the bound, like a follower.
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

describe('a leader left on the minority side', () => {
  it('refuses writes to partitions it led with a 503 naming the partition within 10 s, serves committed reads, and writes again once a majority is back', async () => {
    const leader = await cluster.leaderOfMost();
    await leaveOneBroker(cluster, leader.nodeId, 'led');
  });
});
