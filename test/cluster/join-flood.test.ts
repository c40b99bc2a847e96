// Four brokers asking to join at once: at most three catch up together (each is a learner every
// leader copies the whole log to), the fourth is held back with a retryable answer, keeps asking,
// and joins once one of the others is active. Every one ends up active and holding everything.
import { afterEach, describe, expect, it } from 'vitest';
import { TestCluster } from '../support/cluster.js';
import { waitFor } from '../support/temp.js';
import { produceContinuously, summarize } from './failover.js';
import { checkEverywhere, settled } from './membership-support.js';

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

describe('a flood of joins', () => {
  it('lets at most three members catch up at once, and every joiner in', { timeout: 150_000 }, async () => {
    cluster = await TestCluster.start({ brokers: 3, args: ['--partitions', '4'] });
    const run = produceContinuously(cluster.broker(1).url);
    let mostJoining = 0;
    let sampling = true;
    const sampler = (async () => {
      for (let i = 0; sampling && i < 2_000; i++) {
        const status = await cluster!.status(2).catch(() => undefined);
        mostJoining = Math.max(mostJoining, status?.brokers.filter((b) => b.state === 'joining').length ?? 0);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    try {
      // Enough of a log that catching up takes a while.
      await waitFor(() => run.acked.size >= 5_000, 'events acknowledged before the joins', 60_000);
      const joiners = await Promise.all([1, 2, 3, 4].map((seed) => cluster!.join({ seed: 1 + (seed % 3) })));
      expect(joiners.map((joiner) => joiner.nodeId).sort()).toEqual([4, 5, 6, 7]);
      await settled(cluster, cluster.broker(2), [1, 2, 3, 4, 5, 6, 7], 'all seven active and holding every partition');
    } finally {
      sampling = false;
      await sampler;
      await run.stop();
    }
    summarize('join flood', run);
    expect(mostJoining, 'members joining at once, as broker 2 saw them').toBeLessThanOrEqual(3);
    expect(mostJoining, 'the sampler saw joins under way').toBeGreaterThan(0);
    await checkEverywhere(cluster.brokers, run, 'join flood');
  });
});
