// A graceful stop (SIGTERM) of a broker that leads partitions hands its
// leaderships to the others before it closes, so writers under load see no
// failure at all (a kill -9 costs an election timeout and some "outcome unknown"
// answers; a planned stop, as in a rolling restart, should cost nothing).
import { afterEach, describe, expect, it } from 'vitest';
import { TestCluster } from '../support/cluster.js';
import { waitFor } from '../support/temp.js';
import { checkStored, produceContinuously, summarize } from './failover.js';
import { readAll } from './http.js';

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

describe('a graceful stop', () => {
  it('hands every leadership over before closing: no write fails, and the others lead at once', async () => {
    cluster = await TestCluster.start({ brokers: 3, logLevel: 'info' });
    const leader = await cluster.leaderOfMost();
    const [entry] = cluster.brokers.filter((b) => b.nodeId !== leader.nodeId);
    const run = produceContinuously(entry!.url);
    try {
      await waitFor(() => run.acked.size >= 300, 'events acknowledged before the stop', 20_000);
      const started = Date.now();
      await cluster.stop(leader.nodeId);
      const stopMs = Date.now() - started;
      const ackedAtStop = run.acked.size;
      await waitFor(() => run.acked.size >= ackedAtStop + 300, 'appends acknowledged after the stop', 20_000);
      console.log(`graceful stop of broker ${leader.nodeId} (led ${leader.partitions.length} partitions) took ${stopMs} ms`);
    } finally {
      await run.stop();
    }
    summarize('graceful stop', run);
    expect(run.failures.map((f) => `${f.status} after ${f.elapsedMs} ms: ${JSON.stringify(f.body)}`), 'writes that failed across a graceful stop').toEqual([]);
    expect(cluster.broker(leader.nodeId).output()).toMatch(/stopping: leadership handed off\n(?:\s+\S+: \S+\n)*?\s+stillLeading: 0/);
    const stored = await readAll(entry!.url, { namespace: '/failover/**' });
    checkStored(stored.events, run.acked, `broker ${entry!.nodeId}`);
  });
});
