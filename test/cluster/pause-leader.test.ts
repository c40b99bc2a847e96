// SIGSTOP of the leader of most partitions for 5 s under a plain-HTTP produce
// load, then SIGCONT (checks in failover.ts).
import { afterEach, beforeEach, describe, it } from 'vitest';
import { TestCluster } from '../support/cluster.js';
import { failLeaderWhileProducing } from './failover.js';

let cluster: TestCluster;

beforeEach(async () => {
  cluster = await TestCluster.start({ brokers: 3 });
});
afterEach(async () => {
  await cluster?.close();
});

/** The 5 s is the fault itself (the producer keeps going meanwhile), not a wait for a condition. */
const PAUSE_MS = 5000;

describe('failover under load', () => {
  it('loses no acknowledged event when the leader of most partitions is paused for 5 s (SIGSTOP, then SIGCONT)', async () => {
    await failLeaderWhileProducing(cluster, 'SIGSTOP 5 s', async (nodeId) => {
      cluster.pause(nodeId);
      await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
      cluster.resume(nodeId);
    }, async () => undefined);
  });
});
