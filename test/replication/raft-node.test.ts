import { afterEach, describe, expect, it } from 'vitest';
import { ConfChangeType } from '../../src/broker/raft/membership.js';
import { NotLeaderError } from '../../src/broker/replication/errors.js';
import { TestRaftCluster, until } from './cluster.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
let cluster: TestRaftCluster | null = null;
afterEach(async () => {
  await cluster?.close();
  cluster = null;
});

describe('RaftNode over TCP and LevelDB', () => {
  it('acknowledges a proposal only once a quorum holds it', async () => {
    cluster = new TestRaftCluster([1, 2, 3]);
    await cluster.start();
    const leader = await cluster.leader();
    const others = [...cluster.members.values()].filter((m) => m !== leader);
    for (const m of others) await cluster.stopMember(m.id);
    let acked = false;
    const node = leader.node!;
    const before = node.status().lastIndex;
    const pending = node.propose(text('lonely')).then(() => {
      acked = true;
    }, () => undefined);
    // The leader's own fsync is done, so only the missing quorum can be holding the ack back.
    await until(() => node.status().persistedIndex > before);
    await new Promise((resolve) => setImmediate(resolve));
    expect(node.status().commitIndex).toBeLessThanOrEqual(before);
    expect(acked).toBe(false);
    const first = others[0];
    if (first !== undefined) await cluster.startMember(first.id);
    await pending;
  });

  it('commits a proposal on a quorum and applies it on every member', async () => {
    cluster = new TestRaftCluster([1, 2, 3]);
    await cluster.start();
    const leader = await cluster.leader();
    const index = await leader.node?.propose(text('hello'));
    expect(index).toBeGreaterThan(3);
    const c = cluster;
    await until(() => [...c.members.values()].every((m) => m.machine.values.includes('hello')));
  });

  it('a follower refuses proposals and reads with NotLeaderError naming the leader', async () => {
    cluster = new TestRaftCluster([1, 2, 3]);
    await cluster.start();
    const leader = await cluster.leader();
    const follower = [...cluster.members.values()].find((m) => m !== leader);
    await until(() => follower?.node?.status().leader === leader.id);
    const error = await follower?.node?.propose(text('x')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotLeaderError);
    expect((error as NotLeaderError).leaderHint).toBe(leader.id);
    await expect(follower?.node?.readIndex()).rejects.toBeInstanceOf(NotLeaderError);
  });

  it('serves a ReadIndex read that reflects every acknowledged write', async () => {
    cluster = new TestRaftCluster([1, 2, 3]);
    await cluster.start();
    const leader = await cluster.leader();
    const written = await Promise.all(['a', 'b', 'c'].map((v) => leader.node?.propose(text(v))));
    const readIndex = await leader.node?.readIndex();
    expect(readIndex).toBeGreaterThanOrEqual(Math.max(...written.map((i) => i ?? 0)));
    expect(leader.machine.values).toEqual(expect.arrayContaining(['a', 'b', 'c']));
  });

  it('a restarted member recovers its log from disk and catches up', async () => {
    cluster = new TestRaftCluster([1, 2, 3]);
    await cluster.start();
    let leader = await cluster.leader();
    await leader.node?.propose(text('before'));
    const victim = [...cluster.members.values()].find((m) => m !== leader)?.id ?? 1;
    await cluster.stopMember(victim);
    leader = await cluster.leader();
    await leader.node?.propose(text('while-down'));
    await cluster.startMember(victim);
    const m = cluster.member(victim);
    await until(() => m.machine.values.includes('while-down'));
    expect(m.machine.values.slice(0, 2)).toEqual(['before', 'while-down']);
  });

  it('applies an entry only once its own log holds it durably, also when catching up on committed entries', async () => {
    // A member behind the quorum is sent entries that are committed already; applying them while its
    // own write is in flight put the state ahead of the log, and a crash then left a store it refused.
    cluster = new TestRaftCluster([1, 2, 3]);
    await cluster.start();
    let leader = await cluster.leader();
    const victim = [...cluster.members.values()].find((m) => m !== leader)!.id;
    await cluster.stopMember(victim);
    leader = await cluster.leader();
    for (let i = 0; i < 200; i++) await leader.node?.propose(text(`while-down-${i}`));
    await cluster.startMember(victim);
    const m = cluster.member(victim);
    await until(() => m.machine.values.includes('while-down-199'));
    for (let i = 0; i < 50; i++) await (await cluster.leader()).node?.propose(text(`after-${i}`));
    await until(() => m.machine.values.includes('after-49'));
    for (const member of cluster.members.values()) expect(member.machine.appliedAheadOfLog, `member ${member.id}`).toEqual([]);
  });

  it('survives the loss of the leader: the others elect a new one and keep committing', async () => {
    cluster = new TestRaftCluster([1, 2, 3]);
    await cluster.start();
    const old = await cluster.leader();
    await old.node?.propose(text('one'));
    await cluster.stopMember(old.id);
    const next = await cluster.leader();
    expect(next.id).not.toBe(old.id);
    await next.node?.propose(text('two'));
    await until(() => next.machine.values.length === 2); // acknowledged at commit, applied just after
    expect(next.machine.values).toEqual(['one', 'two']);
  });

  it('adds a learner that catches up from a snapshot, then promotes it to voter', async () => {
    cluster = new TestRaftCluster([1, 2, 3], 5);
    await cluster.start();
    const leader = await cluster.leader();
    for (let i = 0; i < 20; i++) await leader.node?.propose(text(`v${i}`));
    await cluster.add(4, false);
    await leader.node?.changeMembership({ type: ConfChangeType.AddLearner, nodeId: 4 });
    expect(leader.node?.status().conf.learners).toEqual([4]); // resolved once applied, not merely committed
    const learner = cluster.member(4);
    await until(() => learner.machine.values.includes('v19'));
    expect(learner.machine.restoredAt.length).toBeGreaterThan(0); // InstallSnapshot, not the log
    await leader.node?.changeMembership({ type: ConfChangeType.AddVoter, nodeId: 4 });
    await until(() => learner.node?.status().conf.voters.includes(4) === true);
    expect(leader.node?.status().conf.voters).toEqual([1, 2, 3, 4]);
  });

  it('restarts from its own snapshot plus the log after it', async () => {
    cluster = new TestRaftCluster([1, 2, 3], 4);
    await cluster.start();
    const leader = await cluster.leader();
    for (let i = 0; i < 10; i++) await leader.node?.propose(text(`s${i}`));
    const id = leader.id;
    await cluster.stopMember(id);
    await cluster.startMember(id);
    const m = cluster.member(id);
    expect(m.machine.restoredAt.length).toBe(1);
    await until(() => m.machine.values.length === 10);
    expect(m.machine.values).toEqual(Array.from({ length: 10 }, (_, i) => `s${i}`));
  });

  it('hands leadership to another member on request', async () => {
    cluster = new TestRaftCluster([1, 2, 3]);
    await cluster.start();
    const leader = await cluster.leader();
    const target = [...cluster.members.keys()].find((id) => id !== leader.id) ?? 1;
    leader.node?.transferLeadership(target);
    await until(() => cluster?.member(target).node?.isLeader === true);
  });

  it('the leader reports each voter\'s match and next; a stopped voter\'s match stays behind, followers report no progress', async () => {
    cluster = new TestRaftCluster([1, 2, 3]);
    await cluster.start();
    const leader = await cluster.leader();
    const node = leader.node!;
    const others = [...cluster.members.values()].filter((m) => m !== leader);
    for (const m of others) await until(() => m.node?.status().leader === leader.id);
    for (const m of others) expect(m.node?.status().progress).toBeNull();
    const stopped = others[0]!;
    await cluster.stopMember(stopped.id);
    const index = await node.propose(text('while-one-is-down'));
    await until(() => node.status().progress?.every((p) => p.member === stopped.id || p.match >= index) === true);
    const progress = node.status().progress!;
    expect(progress.map((p) => p.member).sort()).toEqual([1, 2, 3]);
    const behind = progress.find((p) => p.member === stopped.id)!;
    expect(behind.match).toBeLessThan(index);
    for (const p of progress) expect(p.next).toBeGreaterThan(p.match);
    const self = progress.find((p) => p.member === leader.id)!;
    expect(self.match).toBe(node.status().persistedIndex);
    expect(progress.find((p) => p.member === others[1]!.id)?.state).toBe('replicate');
  });
});
