import { describe, expect, it } from 'vitest';
import { ConfChangeType } from '../../src/broker/raft/membership.js';
import { MessageType, Role } from '../../src/broker/raft/messages.js';
import { MemoryStorage } from '../../src/broker/raft/storage.js';
import { TestCluster, text } from './harness.js';

describe('ReadIndex (thesis §6.4)', () => {
  it('confirms a read after a quorum acknowledges a heartbeat round', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.propose(1, 'a');
    const r = c.core(1).readIndex(7);
    expect(r.ok).toBe(true);
    c.settle();
    expect(c.node(1).readStates).toEqual([{ requestId: 7, index: c.core(1).log.committed }]);
  });

  it('an isolated leader cannot confirm a read', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.isolate(1);
    c.core(1).readIndex(1);
    c.settle();
    c.tick(1, 3);
    expect(c.node(1).readStates).toEqual([]);
  });

  it('a read before the leader commits in its term waits for that commit', () => {
    const c = new TestCluster([1, 2, 3]);
    c.isolate(1);
    c.tick(1, 30);
    c.heal();
    // Make 1 leader but hold its first append back.
    c.transform = (m) => (m.type === MessageType.Append ? null : m);
    c.elect(1);
    c.core(1).readIndex(9);
    c.settle();
    expect(c.node(1).readStates).toEqual([]);
    c.transform = null;
    c.tick(1, 2);
    expect(c.node(1).readStates.map((s) => s.requestId)).toEqual([9]);
  });

  it('followers refuse reads with a leader hint', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    const r = c.core(2).readIndex(1);
    expect(r).toMatchObject({ ok: false, reason: 'not-leader', leader: 1 });
  });
});

describe('leader transfer (thesis §3.10)', () => {
  it('hands leadership to an up-to-date follower', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.propose(1, 'a');
    expect(c.core(1).transferLeadership(3).ok).toBe(true);
    c.settle();
    expect(c.core(3).role).toBe(Role.Leader);
    expect(c.core(1).role).toBe(Role.Follower);
  });

  it('catches a lagging target up before handing over, refusing proposals meanwhile', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.isolate(3);
    c.propose(1, 'a');
    c.heal();
    c.transform = (m) => (m.to === 3 && m.type === MessageType.Append ? null : m);
    c.core(1).transferLeadership(3);
    expect(c.core(1).propose([text('b')])).toMatchObject({ ok: false, reason: 'transferring' });
    c.transform = null;
    c.tick(1, 2);
    expect(c.core(3).role).toBe(Role.Leader);
    expect(c.appliedTexts(3)).toEqual(['a']);
  });

  it('abandons a transfer to an unreachable target after an election timeout', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.isolate(3);
    c.core(1).transferLeadership(3);
    c.tick(1, 11);
    expect(c.core(1).leadTransferee).toBe(0);
    expect(c.core(1).propose([text('b')]).ok).toBe(true);
  });
});

describe('membership changes', () => {
  it('a new node joins as a learner, catches up without voting, then is promoted', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.propose(1, 'a');
    c.addNode(4, new MemoryStorage());
    expect(c.core(1).proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: 4 }).ok).toBe(true);
    c.settle();
    c.tickAll(3);
    expect(c.core(1).conf.learners).toEqual([4]);
    expect(c.appliedTexts(4)).toEqual(['a']);
    expect(c.core(4).promotable()).toBe(false);
    c.tick(4, 50);
    expect(c.core(4).role).toBe(Role.Follower);
    expect(c.core(1).proposeConfChange({ type: ConfChangeType.AddVoter, nodeId: 4 }).ok).toBe(true);
    c.settle();
    c.tickAll(2);
    expect(c.core(4).conf.voters).toEqual([1, 2, 3, 4]);
  });

  it('refuses a second change while one is pending', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.isolate(1);
    expect(c.core(1).proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: 4 }).ok).toBe(true);
    expect(c.core(1).proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: 5 })).toMatchObject({ ok: false, reason: 'conf-change-pending' });
  });

  it('a new leader refuses changes until its own term\'s first entry is applied', () => {
    const c = new TestCluster([1, 2, 3]);
    c.transform = (m) => (m.type === MessageType.Append ? null : m);
    c.elect(1);
    expect(c.core(1).proposeConfChange({ type: ConfChangeType.RemoveNode, nodeId: 3 })).toMatchObject({ ok: false, reason: 'conf-change-pending' });
  });

  it('removing a voter shrinks the quorum; a removed leader steps down', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.tickAll(1);
    expect(c.core(1).proposeConfChange({ type: ConfChangeType.RemoveNode, nodeId: 1 }).ok).toBe(true);
    c.settle();
    c.tickAll(1);
    expect(c.core(1).role).toBe(Role.Follower);
    expect(c.core(2).conf.voters).toEqual([2, 3]);
    c.tickAll(40);
    const leader = c.leaders()[0];
    expect(leader === 2 || leader === 3).toBe(true);
  });
});

describe('snapshots and compaction (§7)', () => {
  it('a follower behind the compacted log receives InstallSnapshot and catches up', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.isolate(3);
    for (let i = 0; i < 10; i++) c.propose(1, `v${i}`);
    const leader = c.node(1);
    const applied = leader.core.log.applied;
    leader.storage.createSnapshot(applied, leader.core.conf, text('state'));
    leader.storage.compact(applied);
    c.heal();
    c.tickAll(5);
    const sentSnapshot = c.sent.some((m) => m.type === MessageType.Snapshot && m.to === 3);
    expect(sentSnapshot).toBe(true);
    expect(c.node(3).storage.snapshot().metadata.index).toBe(applied);
    expect(c.core(3).log.committed).toBe(c.core(1).log.committed);
    c.propose(1, 'after');
    c.tickAll(2);
    expect(c.appliedTexts(3)).toEqual(['after']);
  });

  it('a lost snapshot is sent again after a timeout', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.isolate(3);
    for (let i = 0; i < 5; i++) c.propose(1, `v${i}`);
    const leader = c.node(1);
    leader.storage.createSnapshot(leader.core.log.applied, leader.core.conf, text('s'));
    leader.storage.compact(leader.core.log.applied);
    c.heal();
    let dropped = 0;
    c.transform = (m) => (m.type === MessageType.Snapshot && dropped++ === 0 ? null : m);
    c.tickAll(40);
    expect(dropped).toBeGreaterThanOrEqual(2);
    expect(c.core(3).log.committed).toBe(c.core(1).log.committed);
  });
});

describe('membership changes racing elections', () => {
  it('a candidate whose own removal is applied mid-campaign does not become leader (sim seed 25251)', () => {
    const c = new TestCluster([1, 2, 3], { preVote: false, checkQuorum: false });
    c.elect(1);
    c.cutLink(1, 3);
    const r = c.core(1).proposeConfChange({ type: ConfChangeType.RemoveNode, nodeId: 3 });
    c.settle();
    expect(r.ok).toBe(true);
    const index = r.ok ? r.lastIndex : 0;
    const leader = c.core(1);
    const entry = leader.log.slice(index, index + 1, 1024)?.[0];
    const n3 = c.node(3);
    const prev = index - 1;
    // Node 3 learns the removal and its commit, but applies it only after it has started campaigning.
    n3.core.step({ type: MessageType.Append, from: 1, to: 3, term: leader.term, index: prev, logTerm: leader.log.term(prev) ?? 0,
      entries: entry === undefined ? [] : [entry], commit: index, reject: false, rejectHint: 0, context: 0, snapshot: null });
    const rd = n3.core.ready();
    n3.storage.applyReady(rd);
    for (let i = 0; i < 40 && n3.core.role !== Role.Candidate; i++) n3.core.tick();
    expect(n3.core.role).toBe(Role.Candidate);
    n3.core.advance(); // applies the removal
    for (const from of [1, 2]) {
      n3.core.step({ type: MessageType.VoteResponse, from, to: 3, term: n3.core.term, index: 0, logTerm: 0, entries: [], commit: 0,
        reject: false, rejectHint: 0, context: 0, snapshot: null });
    }
    expect(n3.core.role).not.toBe(Role.Leader);
  });
});
