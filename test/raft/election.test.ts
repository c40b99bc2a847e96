import { describe, expect, it } from 'vitest';
import { MessageType, Role, message } from '../../src/broker/raft/messages.js';
import { TestCluster } from './harness.js';

describe('leader election (Raft §5.2)', () => {
  it('elects exactly one leader in a healthy three-node cluster', () => {
    const c = new TestCluster([1, 2, 3]);
    c.tickAll(40);
    expect(c.leaders()).toHaveLength(1);
    const leader = c.leaders()[0] ?? 0;
    for (const id of [1, 2, 3]) expect(c.core(id).leader).toBe(leader);
  });

  it('a single-voter group elects itself without messages', () => {
    const c = new TestCluster([1]);
    c.elect(1);
    expect(c.core(1).role).toBe(Role.Leader);
  });

  it('grants at most one vote per term', () => {
    const c = new TestCluster([1, 2, 3], { preVote: false, checkQuorum: false });
    const voter = c.core(3);
    const lastIndex = voter.log.lastIndex();
    const lastTerm = voter.log.lastTerm();
    voter.step(message({ type: MessageType.Vote, from: 1, to: 3, term: 5, index: lastIndex, logTerm: lastTerm }));
    voter.step(message({ type: MessageType.Vote, from: 2, to: 3, term: 5, index: lastIndex, logTerm: lastTerm }));
    const rd = voter.ready();
    const answers = rd.messages.filter((m) => m.type === MessageType.VoteResponse);
    expect(answers.map((m) => [m.to, m.reject])).toEqual([[1, false], [2, true]]);
    expect(voter.vote).toBe(1);
  });

  it('refuses its vote to a candidate whose log is less up to date (§5.4.1)', () => {
    const c = new TestCluster([1, 2, 3], { preVote: false, checkQuorum: false });
    c.elect(1);
    c.propose(1, 'a');
    const voter = c.core(3);
    voter.step(message({ type: MessageType.Vote, from: 2, to: 3, term: 9, index: 1, logTerm: 1 }));
    const rd = voter.ready();
    expect(rd.messages.find((m) => m.type === MessageType.VoteResponse)?.reject).toBe(true);
  });

  it('sends a granted vote only in the Ready that persists it', () => {
    const c = new TestCluster([1, 2, 3], { preVote: false, checkQuorum: false });
    const voter = c.core(2);
    voter.step(message({ type: MessageType.Vote, from: 1, to: 2, term: 4, index: 3, logTerm: 1 }));
    const rd = voter.ready();
    expect(rd.messages.some((m) => m.type === MessageType.VoteResponse && !m.reject)).toBe(true);
    expect(rd.hardState).toEqual({ term: 4, vote: 1, commit: 3 });
  });

  it('a leader that sees a higher term steps down (§5.1)', () => {
    const c = new TestCluster([1, 2, 3], { checkQuorum: false });
    c.elect(1);
    const term = c.core(1).term;
    c.core(1).step(message({ type: MessageType.AppendResponse, from: 2, to: 1, term: term + 3 }));
    expect(c.core(1).role).toBe(Role.Follower);
    expect(c.core(1).term).toBe(term + 3);
  });

  it('ignores messages from a stale term', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    const follower = c.core(2);
    const before = follower.log.lastIndex();
    follower.step(message({ type: MessageType.Append, from: 3, to: 2, term: 1, index: before, logTerm: follower.log.lastTerm(),
      entries: [{ term: 1, index: before + 1, type: 0, data: new Uint8Array(1) }] }));
    expect(follower.log.lastIndex()).toBe(before);
  });

  it('the same seed produces the same election transcript', () => {
    const run = (): string => {
      const c = new TestCluster([1, 2, 3, 4, 5], {}, 42);
      c.tickAll(60);
      return JSON.stringify(c.sent.map((m) => [m.type, m.from, m.to, m.term, m.index]));
    };
    expect(run()).toBe(run());
  });
});

describe('pre-vote and check-quorum (thesis §9.6, §6.2)', () => {
  it('a partitioned node rejoining does not depose a healthy leader', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    const term = c.core(1).term;
    c.isolate(3);
    c.tickAll(100);
    expect(c.core(3).term).toBe(term); // pre-votes never raised its term
    c.heal();
    c.tickAll(30);
    expect(c.core(1).role).toBe(Role.Leader);
    expect(c.core(1).term).toBe(term);
  });

  it('without pre-vote the same rejoin bumps the term (the check above can fail)', () => {
    const c = new TestCluster([1, 2, 3], { preVote: false, checkQuorum: false });
    c.elect(1);
    const term = c.core(1).term;
    c.isolate(3);
    c.tickAll(100);
    expect(c.core(3).term).toBeGreaterThan(term);
  });

  it('a leader that lost its quorum steps down after an election timeout', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    c.isolate(1);
    c.tickAll(25);
    expect(c.core(1).role).not.toBe(Role.Leader);
  });

  it('voters ignore vote requests while they hear from a live leader', () => {
    const c = new TestCluster([1, 2, 3]);
    c.elect(1);
    const follower = c.core(2);
    const term = follower.term;
    follower.step(message({ type: MessageType.Vote, from: 3, to: 2, term: term + 1, index: 100, logTerm: 100 }));
    expect(follower.term).toBe(term);
    expect(follower.hasReady()).toBe(false);
  });
});
