// kill -9 in the middle of a membership change: the joiner while it is still a
// learner, and the member being drained while its replicas move off. Each change
// must finish once the broker is back (the joiner keeps its id), with every
// acknowledged event on every remaining broker and no group left half-changed.
import { afterEach, describe, expect, it } from 'vitest';
import { TestCluster, type ClusterBroker, type ClusterStatus } from '../support/cluster.js';
import { waitFor } from '../support/temp.js';
import { produceContinuously, summarize } from '../cluster/failover.js';
import { admin, checkEverywhere, settled } from '../cluster/membership-support.js';

const PARTITIONS = ['--partitions', '4'];

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

const waitSettled = (broker: ClusterBroker, members: number[], what: string): Promise<ClusterStatus> => settled(cluster!, broker, members, what);

describe('kill -9 in the middle of a membership change', () => {
  it('finishes a join whose joiner is killed while a learner: restarted on its data dir it keeps its id and becomes a voter everywhere', { timeout: 150_000 }, async () => {
    cluster = await TestCluster.start({ brokers: 3, args: PARTITIONS });
    const run = produceContinuously(cluster.broker(1).url);
    try {
      await waitFor(() => run.acked.size >= 300, 'events acknowledged before the join', 20_000);
      const joiner = await cluster.join();
      const id = joiner.nodeId;
      const seen = await cluster.status(1);
      const learnerSomewhere = seen.partitions.some((p) => (p.raft.learners ?? []).map(Number).includes(id));
      await cluster.kill(id);
      console.log(`join kill: broker ${id} killed ${learnerSomewhere ? 'while a learner of some group' : 'before any group added it'}`);
      cluster.restart(id);
      const status = await waitSettled(cluster.broker(2), [1, 2, 3, id], `broker ${id} to finish its join after kill -9`);
      expect(status.brokers.map((b) => b.member).sort((a, b) => a - b), 'no second id was given to the restarted joiner').toEqual([1, 2, 3, id]);
      expect((await cluster.status(id)).member).toBe(id);
      const ackedAfter = run.acked.size;
      await waitFor(() => run.acked.size >= ackedAfter + 200, 'appends acknowledged after the join', 20_000);
    } finally {
      await run.stop();
    }
    summarize('join with the joiner killed', run);
    await cluster.waitFormed();
    await checkEverywhere(cluster.brokers, run, 'join with the joiner killed');
  });

  it('finishes a drain whose member is killed in the middle: restarted it stays draining, its replicas move off, and it is removed', { timeout: 150_000 }, async () => {
    cluster = await TestCluster.start({ brokers: 3, args: PARTITIONS });
    const fourth = await cluster.join();
    await waitSettled(cluster.broker(2), [1, 2, 3, fourth.nodeId], 'the fourth broker to become active');
    const run = produceContinuously(cluster.broker(2).url);
    try {
      await waitFor(() => run.acked.size >= 300, 'events acknowledged before the drain', 20_000);
      const drain = await admin(cluster.broker(3), 'POST', '/v1/admin/members/1/drain');
      expect(drain.status, JSON.stringify(drain.body)).toBe(202);
      await cluster.kill(1);
      cluster.restart(1);
      await waitSettled(cluster.broker(2), [2, 3, fourth.nodeId], 'broker 1 to hold no replica after its kill mid-drain');
      expect((await cluster.status(2)).brokers.find((b) => b.member === 1)).toMatchObject({ state: 'draining', partitions: 0, leaders: 0 });
      const removed = await admin(cluster.broker(4), 'DELETE', '/v1/admin/members/1');
      expect(removed.status, JSON.stringify(removed.body)).toBe(200);
      const ackedAfter = run.acked.size;
      await waitFor(() => run.acked.size >= ackedAfter + 200, 'appends acknowledged after the removal', 20_000);
    } finally {
      await run.stop();
    }
    summarize('drain with the member killed', run);
    const unexpected = run.failures.filter((f) => f.status !== 503);
    expect(unexpected.map((f) => `${f.status} ${JSON.stringify(f.body)}`)).toEqual([]);
    await checkEverywhere([cluster.broker(2), cluster.broker(3), fourth], run, 'drain with the member killed');
  });
});
