import { describe, expect, it } from 'vitest';
import { EntryType, MessageType, message, type Entry } from '../../src/broker/raft/messages.js';
import { ProgressState } from '../../src/broker/raft/progress.js';
import { TestCluster, text } from './harness.js';

function entry(index: number, term: number): Entry {
  return { index, term, type: EntryType.Normal, data: text(`${index}@${term}`) };
}

describe('log replication (Raft §5.3)', () => {
  it('replicates proposals to every follower and applies them in order', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    for (const v of ['a', 'b', 'c']) c.propose(1, v);
    c.tickAll(2);
    for (const id of [1, 2, 3]) expect(c.appliedTexts(id)).toEqual(['a', 'b', 'c']);
  });

  it('batches several proposals into one append per follower', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    const leader = c.core(1);
    const r = leader.propose([text('a'), text('b'), text('c')]);
    expect(r.ok).toBe(true);
    const rd = leader.ready();
    const appends = rd.messagesBeforePersist.filter((m) => m.type === MessageType.Append && m.entries.length > 0);
    expect(appends).toHaveLength(2);
    expect(appends.every((m) => m.entries.length === 3)).toBe(true);
  });

  it('a follower rejects an append whose previous entry does not match (log matching)', () => {
    const c = new TestCluster([1, 2, 3]);
    const f = c.core(2);
    f.step(message({ type: MessageType.Append, from: 1, to: 2, term: 2, index: 7, logTerm: 2, entries: [entry(8, 2)] }));
    const rd = f.ready();
    const resp = rd.messages.find((m) => m.type === MessageType.AppendResponse);
    expect(resp?.reject).toBe(true);
    expect(resp?.rejectHint).toBe(3); // its last index: the leader can jump straight there
    expect(f.log.lastIndex()).toBe(3);
  });

  it('a follower drops conflicting uncommitted entries and takes the leader\'s', () => {
    const c = new TestCluster([1, 2, 3]);
    const f = c.core(2);
    f.step(message({ type: MessageType.Append, from: 1, to: 2, term: 2, index: 3, logTerm: 1, entries: [entry(4, 2), entry(5, 2)] }));
    c.node(2).storage.applyReady(f.ready());
    f.advance();
    f.step(message({ type: MessageType.Append, from: 3, to: 2, term: 3, index: 3, logTerm: 1, entries: [entry(4, 3)] }));
    expect(f.log.lastIndex()).toBe(4);
    expect(f.log.term(4)).toBe(3);
  });

  it('fast backtracking skips a whole divergent term in one round trip', () => {
    const c = new TestCluster([1, 2, 3]);
    const f = c.core(2);
    const stale: Entry[] = [];
    for (let i = 4; i < 54; i++) stale.push(entry(i, 2));
    f.step(message({ type: MessageType.Append, from: 3, to: 2, term: 2, index: 3, logTerm: 1, entries: stale }));
    c.node(2).storage.applyReady(f.ready());
    f.advance();
    // The leader of term 3 probes at index 60 with logTerm 3: the follower's hint lands at or below its own log.
    f.step(message({ type: MessageType.Append, from: 1, to: 2, term: 3, index: 60, logTerm: 3 }));
    const resp = f.ready().messages.find((m) => m.type === MessageType.AppendResponse);
    expect(resp?.reject).toBe(true);
    expect(resp?.rejectHint).toBe(53);
    expect(resp?.logTerm).toBe(2);
  });

  it('a lagging follower catches up after a partition', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.isolate(3);
    for (let i = 0; i < 20; i++) c.propose(1, `v${i}`);
    c.heal();
    c.tickAll(5);
    expect(c.appliedTexts(3)).toEqual(c.appliedTexts(1));
    expect(c.appliedTexts(3)).toHaveLength(20);
  });

  it('the leader never overwrites or deletes its own entries', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.propose(1, 'a');
    const leader = c.core(1);
    const before = leader.log.lastIndex();
    leader.step(message({ type: MessageType.AppendResponse, from: 2, to: 1, term: leader.term, index: 1, reject: true, rejectHint: 0 }));
    expect(leader.log.lastIndex()).toBe(before);
  });

  it('an entry is committed only once a quorum has persisted it', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.isolate(1);
    const index = c.core(1).propose([text('x')]);
    c.settle();
    expect(index.ok && c.core(1).log.committed < index.lastIndex).toBe(true);
    c.heal();
    c.tickAll(2);
    expect(index.ok && c.core(1).log.committed >= index.lastIndex).toBe(true);
  });
});

describe('flow control', () => {
  it('bounds the append messages in flight to an unresponsive follower', () => {
    const c = new TestCluster([1, 2, 3], { maxInflightMessages: 4, maxMessageBytes: 1 });
    c.elect(1);
    c.cutLink(2, 1); // follower 2 receives but its acks are lost
    for (let i = 0; i < 30; i++) c.propose(1, `v${i}`);
    const pr = c.core(1).progress.get(2);
    expect(pr?.state).toBe(ProgressState.Replicate);
    expect(pr?.inflights.size).toBe(4);
    const appendsTo2 = c.sent.filter((m) => m.to === 2 && m.type === MessageType.Append && m.entries.length > 0);
    expect(appendsTo2.length).toBeLessThanOrEqual(5);
  });

  it('probes one message at a time until the follower answers', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.isolate(3);
    c.tickAll(30); // acks stop: check-quorum with 2 still alive keeps 1 leader
    const pr = c.core(1).progress.get(3);
    c.core(1).reportUnreachable(3);
    expect(pr?.state).toBe(ProgressState.Probe);
    const before = c.sent.length;
    for (let i = 0; i < 5; i++) c.core(1).propose([text(`p${i}`)]);
    c.settle();
    const probes = c.sent.slice(before).filter((m) => m.to === 3 && m.type === MessageType.Append);
    expect(probes.length).toBeLessThanOrEqual(1);
  });
});

describe('commit rule (Raft §5.4.2, Figure 8)', () => {
  function depose(c: TestCluster, id: number): void {
    const term = Math.max(...[...c.nodes.values()].map((n) => n.core.term));
    c.core(id).step(message({ type: MessageType.AppendResponse, from: id === 3 ? 4 : 3, to: id, term }));
  }

  function figure8(commitPreviousTerm: boolean): { applied1: string[]; applied2: string[] } {
    const c = new TestCluster([1, 2, 3, 4, 5], { maxMessageBytes: 1, preVote: false, checkQuorum: false, plantedBugs: { commitPreviousTerm } });
    c.elect(1);
    c.tickAll(1);
    const termA = c.core(1).term;
    // (a) x reaches only S1 and S2.
    c.transform = (m) => (m.type === MessageType.Append && m.from === 1 && m.to !== 2 && m.entries.length > 0 ? null : m);
    const k = c.propose(1, 'x');
    // (b) S1 and S2 down; S5 wins with S3 and S4 and keeps its own entry at k to itself.
    c.transform = (m) => (m.type === MessageType.Append && m.from === 5 && m.entries.length > 0 ? null : m);
    c.isolate(1);
    c.isolate(2);
    c.elect(5);
    expect(c.core(5).log.term(k)).toBeGreaterThan(termA);
    // (c) S5 down, S1 back and elected again: it re-replicates x (term a) to S3 and S4, while its own
    // term's entries and any commit index above k - 1 are stripped from what it sends.
    c.heal();
    c.isolate(5);
    c.transform = (m) =>
      m.from !== 1 ? m : { ...m, entries: m.entries.filter((e) => e.term <= termA), commit: Math.min(m.commit, k - 1) };
    depose(c, 1);
    c.elect(1);
    c.tick(1, 3);
    // (d) S1 down, S5 back: its later term wins and overwrites x wherever S1 did not reach with a commit.
    c.heal();
    c.isolate(1);
    c.transform = null;
    depose(c, 5);
    c.elect(5);
    c.tick(5, 3);
    return { applied1: c.appliedTexts(1), applied2: c.appliedTexts(2) };
  }

  it('does not commit an earlier term\'s entry by counting replicas', () => {
    const { applied1, applied2 } = figure8(false);
    expect(applied1).not.toContain('x');
    expect(applied2).not.toContain('x');
  });

  it('with the rule disabled (planted bug), two members apply different entries at one index', () => {
    const { applied1, applied2 } = figure8(true);
    expect(applied1).toContain('x');
    expect(applied2).not.toContain('x');
  });
});
