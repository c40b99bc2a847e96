// kill -9 of the leader of most partitions under a plain-HTTP produce load
// (checks in failover.ts), then a restart: the healed broker must serve the same log.
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

describe('failover under load', () => {
  it('loses no acknowledged event when the leader of most partitions is killed with SIGKILL, and serves them all once restarted', async () => {
    await failLeaderWhileProducing(cluster, 'kill -9', (nodeId) => cluster.kill(nodeId), async (nodeId) => cluster.restart(nodeId));
  });
});
