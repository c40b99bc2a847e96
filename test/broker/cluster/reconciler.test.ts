import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CAUGHT_UP_ENTRIES, nextGroupAction, preferredLeader, type GroupAction } from '../../../src/broker/cluster/reconciler.js';
import { applyConfChange, ConfChangeType, validateConfChange } from '../../../src/broker/raft/membership.js';
import type { ConfState, NodeId } from '../../../src/broker/raft/messages.js';
import type { RaftNodeStatus, VoterProgress } from '../../../src/broker/replication/raft-node.js';

type Row = Pick<VoterProgress, 'match' | 'state'>;

/** A leader's status: `rows` gives the other members' progress (a member left out is in probe at 0). */
function leaderStatus(nodeId: NodeId, conf: ConfState, commitIndex: number, rows: Record<NodeId, Row> = {}): RaftNodeStatus {
  const progress: VoterProgress[] = [...conf.voters, ...conf.learners].map((member) => {
    // The leader's own row is never 'replicate' (it does not replicate to itself).
    const row = member === nodeId ? { match: commitIndex, state: 'probe' as const } : rows[member] ?? { match: 0, state: 'probe' as const };
    return { member, match: row.match, next: row.match + 1, state: row.state, learner: !conf.voters.includes(member) };
  });
  return { nodeId, role: 'leader', term: 3, leader: nodeId, commitIndex, appliedIndex: commitIndex, lastIndex: commitIndex, persistedIndex: commitIndex, conf, progress };
}
const caughtUpAt = (commitIndex: number): Row => ({ match: commitIndex, state: 'replicate' });
const conf = (voters: NodeId[], learners: NodeId[] = []): ConfState => ({ voters, learners });
const change = (type: (typeof ConfChangeType)[keyof typeof ConfChangeType], nodeId: NodeId): object => ({ kind: 'change', change: { type, nodeId } });

describe('nextGroupAction: examples', () => {
  it('does nothing on a member that does not lead', () => {
    const status: RaftNodeStatus = { ...leaderStatus(1, conf([1, 2]), 0), role: 'follower', leader: 2, progress: null };
    expect(nextGroupAction(status, new Set([3]))).toBeNull();
  });

  it('does nothing when the group already matches', () => {
    expect(nextGroupAction(leaderStatus(1, conf([1, 2, 3]), 50, { 2: caughtUpAt(50), 3: caughtUpAt(50) }), new Set([1, 2, 3]))).toBeNull();
  });

  it('adds a joiner as a learner, waits while it catches up, then promotes it', () => {
    const desired = new Set([1, 2]);
    expect(nextGroupAction(leaderStatus(1, conf([1]), 500), desired)).toMatchObject(change(ConfChangeType.AddLearner, 2));
    expect(nextGroupAction(leaderStatus(1, conf([1], [2]), 500), desired)).toBeNull();
    expect(nextGroupAction(leaderStatus(1, conf([1], [2]), 500, { 2: { match: 500, state: 'snapshot' } }), desired)).toBeNull();
    expect(nextGroupAction(leaderStatus(1, conf([1], [2]), 500, { 2: caughtUpAt(500) }), desired)).toMatchObject(change(ConfChangeType.AddVoter, 2));
  });

  it(`counts a learner within ${CAUGHT_UP_ENTRIES} entries of the commit index as caught up, and no further`, () => {
    const desired = new Set([1, 2]);
    const at = (match: number): GroupAction | null => nextGroupAction(leaderStatus(1, conf([1], [2]), 1000, { 2: { match, state: 'replicate' } }), desired);
    expect(at(1000 - CAUGHT_UP_ENTRIES)).toMatchObject(change(ConfChangeType.AddVoter, 2));
    expect(at(1000 - CAUGHT_UP_ENTRIES - 1)).toBeNull();
  });

  it('removes a learner that is no longer a member before anything else', () => {
    expect(nextGroupAction(leaderStatus(1, conf([1], [4]), 10), new Set([1, 2]))).toMatchObject(change(ConfChangeType.RemoveNode, 4));
  });

  it('removes a leaving voter that is not the leader, only after the joiners are voters', () => {
    const desired = new Set([1, 2, 4]);
    expect(nextGroupAction(leaderStatus(1, conf([1, 2, 3]), 10, { 2: caughtUpAt(10), 3: caughtUpAt(10) }), desired)).toMatchObject(change(ConfChangeType.AddLearner, 4));
    expect(nextGroupAction(leaderStatus(1, conf([1, 2, 3, 4]), 10, { 2: caughtUpAt(10), 3: caughtUpAt(10) }), desired)).toMatchObject(change(ConfChangeType.RemoveNode, 3));
  });

  it('has a leaving leader hand leadership to the caught-up desired voter furthest along (lowest id on a tie)', () => {
    const status = leaderStatus(1, conf([1, 2, 3, 4]), 1000, { 2: { match: 990, state: 'replicate' }, 3: caughtUpAt(1000), 4: caughtUpAt(1000) });
    expect(nextGroupAction(status, new Set([2, 3, 4]))).toMatchObject({ kind: 'transfer', to: 3 });
    expect(nextGroupAction(status, new Set([2, 4]))).toMatchObject({ kind: 'transfer', to: 4 });
  });

  it('never hands leadership to a voter that is itself leaving', () => {
    const status = leaderStatus(1, conf([1, 2, 3]), 1000, { 2: caughtUpAt(1000), 3: { match: 0, state: 'probe' } });
    expect(nextGroupAction(status, new Set([3]))).toBeNull();
  });

  it('waits (null) when a leaving leader has no caught-up desired voter to hand over to', () => {
    const status = leaderStatus(1, conf([1, 2, 3]), 1000, { 2: { match: 10, state: 'replicate' }, 3: { match: 1000, state: 'probe' } });
    expect(nextGroupAction(status, new Set([2, 3]))).toBeNull();
  });
});

describe('preferredLeader', () => {
  it('is undefined without members', () => {
    expect(preferredLeader(0, [])).toBeUndefined();
  });

  it('goes round the sorted members', () => {
    expect([0, 1, 2, 3, 4].map((group) => preferredLeader(group, [30, 10, 20]))).toEqual([10, 20, 30, 10, 20]);
  });

  it('spreads groups evenly and does not depend on the order members are listed in (property)', () => {
    fc.assert(fc.property(
      fc.uniqueArray(fc.integer({ min: 1, max: 1000 }), { minLength: 1, maxLength: 9 }),
      fc.integer({ min: 1, max: 200 }),
      fc.nat(),
      (members, groups, rotation) => {
        const reordered = [...members.slice(rotation % members.length), ...members.slice(0, rotation % members.length)].reverse();
        const counts = new Map<NodeId, number>(members.map((member) => [member, 0]));
        for (let group = 0; group < groups; group++) {
          const leader = preferredLeader(group, members);
          expect(leader).toBeDefined();
          expect(preferredLeader(group, reordered)).toBe(leader);
          counts.set(leader!, counts.get(leader!)! + 1);
        }
        for (const count of counts.values()) {
          expect(count).toBeGreaterThanOrEqual(Math.floor(groups / members.length));
          expect(count).toBeLessThanOrEqual(Math.ceil(groups / members.length));
        }
      },
    ), { numRuns: 300 });
  });
});

// ---- The convergence property: a group's leader applying nextGroupAction's actions until it returns null. ----

const ALL_IDS = [1, 2, 3, 4, 5, 6, 7];
interface Start {
  readonly voters: NodeId[];
  readonly learners: NodeId[];
  readonly leader: NodeId;
  readonly desired: NodeId[];
  readonly commitIndex: number;
  /** Per member: passes until it catches up once it is added (a learner) or after a new leader takes over. */
  readonly delays: Record<NodeId, number>;
}

const startArb: fc.Arbitrary<Start> = fc
  .record({
    roles: fc.array(fc.constantFrom('voter', 'learner', 'none'), { minLength: ALL_IDS.length, maxLength: ALL_IDS.length }),
    leaderPick: fc.nat(),
    desired: fc.subarray(ALL_IDS, { minLength: 1 }),
    commitIndex: fc.integer({ min: 0, max: 5000 }),
    delays: fc.array(fc.integer({ min: 0, max: 6 }), { minLength: ALL_IDS.length, maxLength: ALL_IDS.length }),
  })
  .filter(({ roles }) => roles.includes('voter'))
  .map(({ roles, leaderPick, desired, commitIndex, delays }) => {
    const voters = ALL_IDS.filter((_, index) => roles[index] === 'voter');
    return {
      voters,
      learners: ALL_IDS.filter((_, index) => roles[index] === 'learner'),
      leader: voters[leaderPick % voters.length]!,
      desired,
      commitIndex,
      delays: Object.fromEntries(ALL_IDS.map((id, index) => [id, delays[index]!])),
    };
  });

/**
 * Simulates the group: members not caught up catch up after their delay (replicate, match = commit),
 * each configuration change is one committed entry, and a transfer makes the heir the leader, which
 * starts with every other member in probe (as a new Raft leader does) until they catch up again.
 */
function simulate(start: Start): void {
  const desired = new Set(start.desired);
  let state: ConfState = { voters: [...start.voters], learners: [...start.learners] };
  let leader = start.leader;
  let commitIndex = start.commitIndex;
  /** Passes until each member catches up (0: caught up now). */
  const waiting = new Map<NodeId, number>([...state.voters, ...state.learners].map((id) => [id, start.delays[id]!]));
  const caughtUp = (id: NodeId): boolean => waiting.get(id) === 0;
  const rows = (): Record<NodeId, Row> => Object.fromEntries([...waiting].map(([id, left]) => [id, left === 0 ? caughtUpAt(commitIndex) : { match: 0, state: 'probe' as const }]));

  const inStart = new Set([...start.voters, ...start.learners]);
  const bound = start.learners.filter((id) => !desired.has(id)).length
    + 2 * start.desired.filter((id) => !inStart.has(id)).length
    + start.learners.filter((id) => desired.has(id)).length
    + start.voters.filter((id) => !desired.has(id)).length
    + 1;
  let actions = 0;
  let transfers = 0;
  const MAX_PASSES = 200;
  let pass = 0;
  for (; pass < MAX_PASSES; pass++) {
    const action = nextGroupAction(leaderStatus(leader, state, commitIndex, rows()), desired);
    if (action === null) {
      if ([...waiting.values()].every((left) => left === 0)) break;
    } else {
      actions += 1;
      if (action.kind === 'transfer') {
        transfers += 1;
        expect(action.to).not.toBe(leader);
        expect(state.voters).toContain(action.to);
        expect(desired.has(action.to)).toBe(true);
        expect(caughtUp(action.to)).toBe(true);
        expect(desired.has(leader)).toBe(false);
        leader = action.to;
        for (const id of waiting.keys()) if (id !== leader) waiting.set(id, Math.max(1, start.delays[id]!));
        waiting.set(leader, 0);
      } else {
        const { type, nodeId } = action.change;
        expect(validateConfChange(state, action.change)).toBeNull();
        expect(nodeId).not.toBe(leader);
        if (type === ConfChangeType.AddLearner) {
          expect(desired.has(nodeId)).toBe(true);
          waiting.set(nodeId, Math.max(1, start.delays[nodeId]!));
        } else if (type === ConfChangeType.AddVoter) {
          expect(desired.has(nodeId)).toBe(true);
          expect(state.learners).toContain(nodeId);
          expect(caughtUp(nodeId)).toBe(true);
        } else {
          expect(desired.has(nodeId)).toBe(false);
          if (state.voters.includes(nodeId)) expect(state.voters.length).toBeGreaterThan(1);
          waiting.delete(nodeId);
        }
        state = applyConfChange(state, action.change);
        commitIndex += 1;
        expect(state.voters).toContain(leader);
      }
    }
    for (const [id, left] of waiting) if (left > 0) waiting.set(id, left - 1);
  }
  expect(pass).toBeLessThan(MAX_PASSES);
  expect([...state.voters].sort((a, b) => a - b)).toEqual([...desired].sort((a, b) => a - b));
  expect(state.learners).toEqual([]);
  expect(actions).toBeLessThanOrEqual(bound);
  expect(transfers).toBeLessThanOrEqual(1);
}

describe('nextGroupAction: convergence (property)', () => {
  it('brings any group to voters == desired with no learners, one valid change at a time, within a bounded number of actions', () => {
    fc.assert(fc.property(startArb, simulate), { numRuns: 1000 });
  });

  it('handles the cases a random search might miss: a lone leaving leader, a full swap, a learner to drop', () => {
    const delays = Object.fromEntries(ALL_IDS.map((id) => [id, 2]));
    simulate({ voters: [1], learners: [], leader: 1, desired: [2], commitIndex: 0, delays });
    simulate({ voters: [1, 2, 3], learners: [], leader: 2, desired: [4, 5, 6], commitIndex: 900, delays });
    simulate({ voters: [1, 2, 3], learners: [4, 5], leader: 3, desired: [1, 5], commitIndex: 7, delays });
  });
});
