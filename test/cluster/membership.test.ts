// Membership under load, with real broker processes: brokers join (--join) and
// become voters of every group, a broker is drained and removed, a dead one is
// force-removed, a founder whose disk was lost comes back as a new member, and
// the controller's leader is killed in the middle of a join. Every test ends
// with every acknowledged event on every remaining broker, each partition's
// sequence identical everywhere, and the cluster healthy.
import { afterEach, describe, expect, it } from 'vitest';
import { rm } from 'node:fs/promises';
import { TestCluster, type ClusterBroker, type ClusterStatus } from '../support/cluster.js';
import { waitFor } from '../support/temp.js';
import { holdsEvery, produceContinuously, summarize, tail } from './failover.js';
import { request } from './http.js';
import { SETTLE_MS, admin, checkEverywhere, health, settled } from './membership-support.js';

const PARTITIONS = ['--partitions', '4'];

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

const waitSettled = (broker: ClusterBroker, members: number[], what: string): Promise<ClusterStatus> => settled(cluster!, broker, members, what);

describe('cluster membership under load', () => {
  it('grows from 3 to 5 brokers: each joiner gets a new id, becomes a voter of every group and serves every acknowledged event', async () => {
    cluster = await TestCluster.start({ brokers: 3, args: PARTITIONS });
    const run = produceContinuously(cluster.broker(1).url);
    try {
      await waitFor(() => run.acked.size >= 200, 'events acknowledged before the joins', 20_000);
      const fourth = await cluster.join();
      const fifth = await cluster.join({ seed: 2 });
      expect([fourth.nodeId, fifth.nodeId]).toEqual([4, 5]);
      // Joining, it is not ready for clients yet; once a voter everywhere it is active.
      await waitSettled(cluster.broker(1), [1, 2, 3, 4, 5], 'brokers 4 and 5 to become active voters of every group');
      const ackedAtJoin = run.acked.size;
      await waitFor(() => run.acked.size >= ackedAtJoin + 200, 'appends acknowledged after the joins', 20_000);
    } finally {
      await run.stop();
    }
    summarize('grow 3 → 5', run);
    expect(run.failures.map((f) => `${f.status} after ${f.elapsedMs} ms: ${JSON.stringify(f.body)}`), 'no request failed while brokers joined').toEqual([]);
    await waitFor(async () => (await request(`${cluster!.broker(5).url}/readyz`)).status === 200, 'broker 5 ready for clients');
    await checkEverywhere(cluster.brokers, run, 'grow 3 → 5');
    // Leadership spreads over the new members too (each leads a partition of the four it prefers).
    await waitFor(async () => {
      const status = await cluster!.status(1);
      return new Set(status.partitions.map((p) => p.leader)).size === 4;
    }, 'leadership spread over four brokers', SETTLE_MS);
  });

  it('drains a founder under load (its replicas and leaderships move off), refuses to drain below the replication factor, and removes it', { timeout: 150_000 }, async () => {
    cluster = await TestCluster.start({ brokers: 3, args: PARTITIONS });
    const fourth = await cluster.join();
    await waitSettled(cluster.broker(2), [1, 2, 3, 4], 'broker 4 to become active');
    // A tail on the broker being drained: told to resume elsewhere once it drains, it must miss nothing.
    const subscriber = await tail(cluster.broker(1).url);
    const run = produceContinuously(cluster.broker(2).url);
    try {
      await waitFor(() => run.acked.size >= 200, 'events acknowledged before the drain', 20_000);
      const removeEarly = await admin(cluster.broker(2), 'DELETE', '/v1/admin/members/1');
      expect(removeEarly.status, JSON.stringify(removeEarly.body)).toBe(409);
      const drain = await admin(cluster.broker(3), 'POST', '/v1/admin/members/1/drain');
      expect(drain.status, JSON.stringify(drain.body)).toBe(202);
      await waitSettled(cluster.broker(2), [2, 3, 4], 'broker 1 to hold no replica and lead nothing');
      const status = await cluster.status(2);
      expect(status.brokers.find((b) => b.member === 1)).toMatchObject({ state: 'draining', partitions: 0, leaders: 0 });
      // Drained, not yet removed: its readiness says what is left to do.
      await waitFor(async () => /node 1 is drained \(it holds no replica\): remove it/.test(JSON.stringify((await request(`${cluster!.broker(1).url}/readyz`)).body)),
        'broker 1 to say it is drained and waits to be removed', 15_000);
      const belowRf = await admin(cluster.broker(2), 'POST', '/v1/admin/members/3/drain');
      expect(belowRf.status).toBe(409);
      expect(belowRf.body).toMatchObject({ code: 'FLO_ERR_MEMBERSHIP_REFUSED' });
      const removed = await admin(cluster.broker(4), 'DELETE', '/v1/admin/members/1');
      expect(removed.status, JSON.stringify(removed.body)).toBe(200);
      expect(removed.body).toMatchObject({ member: { member: 1, state: 'removed' } });
      const ackedAtRemove = run.acked.size;
      await waitFor(() => run.acked.size >= ackedAtRemove + 200, 'appends acknowledged after the removal', 20_000);
    } finally {
      await run.stop();
    }
    summarize('drain and remove', run);
    const unexpected = run.failures.filter((f) => f.status !== 503);
    expect(unexpected.map((f) => `${f.status} ${JSON.stringify(f.body)}`)).toEqual([]);
    // The drained broker takes no client traffic: its readiness says why.
    expect((await request(`${cluster.broker(1).url}/readyz`)).status).toBe(503);
    await checkEverywhere([cluster.broker(2), cluster.broker(3), fourth], run, 'drain and remove');
    await waitFor(() => holdsEvery(subscriber.events.map((e) => ({ id: e.id, data: e.text() })), run.acked), 'the tail that started on the drained broker to see every acknowledged event', 30_000)
      .catch((error: Error) => {
        const seen = new Set(subscriber.events.map((e) => e.id));
        throw new Error(`${error.message}: ${[...run.acked.keys()].filter((id) => !seen.has(id)).length} of ${run.acked.size} never delivered`);
      });
    await subscriber.close();
    expect((await admin(cluster.broker(2), 'POST', '/v1/admin/members/9/drain')).status).toBe(404);
  });

  it('force-removes a broker killed for good, and a founder whose disk was lost comes back with --join as a new member that holds everything', { timeout: 150_000 }, async () => {
    cluster = await TestCluster.start({ brokers: 3, args: PARTITIONS });
    const run = produceContinuously(cluster.broker(1).url);
    let newcomer: ClusterBroker;
    try {
      await waitFor(() => run.acked.size >= 200, 'events acknowledged before the kill', 20_000);
      await cluster.kill(3);
      await rm(cluster.broker(3).dataDir, { recursive: true, force: true });
      const refused = await admin(cluster.broker(1), 'DELETE', '/v1/admin/members/3');
      expect(refused.status, 'a member holding replicas is not removed without force').toBe(409);
      // Its replacement: an empty data dir joins and is given a new id, never the old one.
      newcomer = await cluster.join({ seed: 2 });
      expect(newcomer.nodeId).toBe(4);
      const forced = await admin(cluster.broker(2), 'DELETE', '/v1/admin/members/3?force=true');
      expect(forced.status, JSON.stringify(forced.body)).toBe(200);
      await waitSettled(cluster.broker(1), [1, 2, 4], 'broker 3 gone from every group and broker 4 a voter of every group');
      const ackedAfter = run.acked.size;
      await waitFor(() => run.acked.size >= ackedAfter + 200, 'appends acknowledged after the replacement', 20_000);
    } finally {
      await run.stop();
    }
    summarize('force-remove and replace', run);
    await checkEverywhere([cluster.broker(1), cluster.broker(2), newcomer!], run, 'force-remove and replace');
    // The removed id does not come back: a broker started on its old (empty) data dir is refused as a founder.
    cluster.restart(3);
    await waitFor(() => cluster!.broker(3).child === undefined, 'the wiped founder to be refused', 30_000);
    expect(cluster.broker(3).output()).toMatch(/without this data dir|--join/);
  });

  it('finishes a join whose controller leader is killed in the middle, with no group left half-changed', async () => {
    cluster = await TestCluster.start({ brokers: 3, args: PARTITIONS });
    const run = produceContinuously(cluster.broker(1).url);
    try {
      await waitFor(() => run.acked.size >= 200, 'events acknowledged before the join', 20_000);
      const status = await cluster.status(1);
      const controllerLeader = (status as ClusterStatus & { controllerLeader: number | null }).controllerLeader;
      expect(controllerLeader).not.toBeNull();
      const seed = [1, 2, 3].find((id) => id !== controllerLeader)!;
      const joining = cluster.join({ seed });
      // Kill the controller's leader as soon as the join is registered (the newcomer is a learner somewhere or not yet).
      const joiner = await joining;
      await cluster.kill(controllerLeader!);
      const survivors = [1, 2, 3].filter((id) => id !== controllerLeader);
      await waitFor(async () => (await health(cluster!.broker(survivors[0]!)))?.controllerLeader != null, 'a new controller leader', 20_000);
      cluster.restart(controllerLeader!);
      await waitSettled(cluster.broker(survivors[0]!), [1, 2, 3, joiner.nodeId], 'the join to complete after the controller leader was killed');
      const ackedAfter = run.acked.size;
      await waitFor(() => run.acked.size >= ackedAfter + 200, 'appends acknowledged after the join', 20_000);
    } finally {
      await run.stop();
    }
    summarize('join with the controller leader killed', run);
    await cluster.waitFormed();
    await checkEverywhere(cluster.brokers, run, 'join with the controller leader killed');
  });

  it('answers restart checks: safe with every voter up, not safe for a second broker while one is down, caught up after the restart', async () => {
    cluster = await TestCluster.start({ brokers: 3, args: PARTITIONS });
    const before = await admin(cluster.broker(1), 'GET', '/v1/admin/members/2/restart-check');
    expect(before.body).toMatchObject({ member: 2, safe: true });
    await cluster.stop(3);
    const second = await waitFor(async () => {
      const answer = await admin(cluster!.broker(1), 'GET', '/v1/admin/members/2/restart-check');
      return (answer.body as { safe: boolean }).safe === false ? answer : false;
    }, 'the check to see broker 3 down', 20_000);
    expect((second.body as { problems: string[] }).problems.length).toBeGreaterThan(0);
    cluster.restart(3);
    await cluster.waitFormed();
    await waitFor(async () => {
      const answer = await admin(cluster!.broker(3), 'GET', '/v1/admin/members/3/restart-check');
      return (answer.body as { caughtUp: boolean }).caughtUp === true;
    }, 'broker 3 to say it has caught up', 20_000);
    // Leadership comes back to the restarted broker's preferred partitions.
    await waitFor(async () => (await cluster!.status(1)).partitions.some((p) => p.leader === '3'), 'broker 3 to lead a partition again', SETTLE_MS);
  });
});
