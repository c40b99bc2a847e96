// Health judged the lag of replicas only for the groups the answering broker led:
// asked of a follower, a partition whose replica was far behind its leader on
// another broker was reported fully replicated (and the operator may drain on
// that answer). Now the answering broker asks every other leader.
import { describe, expect, it } from 'vitest';
import { FloError } from '../../../src/common/errors.js';
import { ClusterAdmin } from '../../../src/broker/cluster/cluster-admin.js';
import type { Controller } from '../../../src/broker/cluster/controller.js';
import type { MemberRecord } from '../../../src/broker/cluster/controller-machine.js';
import { decodeLaggingReply, encodeLaggingReply, encodeLaggingRequest, isLaggingRequest, type LagAnswer } from '../../../src/broker/cluster/lag-requests.js';
import type { ReconciledGroup } from '../../../src/broker/cluster/reconciler.js';
import type { RaftNodeStatus, VoterProgress } from '../../../src/broker/replication/raft-node.js';
import { PeerRequestError } from '../../../src/broker/transport/tcp-transport.js';

const VOTERS = [1, 2, 3];

function status(leader: number, progress: VoterProgress[] | null): RaftNodeStatus {
  return {
    nodeId: 1, role: leader === 1 ? 'leader' : 'follower', term: 2, leader, commitIndex: 1000, appliedIndex: 1000, lastIndex: 1000, persistedIndex: 1000,
    conf: { voters: VOTERS, learners: [] }, progress,
  };
}

const caughtUp = (member: number): VoterProgress => ({ member, match: 1000, next: 1001, state: 'replicate', learner: false });

/** Broker 1: follows partition 0 (led by node 2) and leads partition 1, whose replicas are caught up. */
function admin(askLagging?: (leader: number) => Promise<LagAnswer>): ClusterAdmin {
  const records: MemberRecord[] = VOTERS.map((id) => ({ id, peer: `127.0.0.1:${4000 + id}`, url: null, state: 'active', incarnation: null }));
  const controller = { members: () => records, member: (id: number) => records.find((r) => r.id === id), replicaHolders: () => VOTERS, leader: 1 } as unknown as Controller;
  const groups = [
    { groupId: 0, status: () => status(1, VOTERS.map(caughtUp)) },
    { groupId: 1, status: () => status(2, null) },
    { groupId: 2, status: () => status(1, VOTERS.map(caughtUp)) },
  ] as unknown as ReconciledGroup[];
  return new ClusterAdmin({ nodeId: 1, controller, groups: () => groups, reachable: () => true, urlOf: () => null, askLagging });
}

describe('cluster health asked of a follower', () => {
  it('reports a replica that lags behind a leader on another broker', async () => {
    const asked: number[] = [];
    const health = await admin(async (leader) => {
      asked.push(leader);
      return { led: [1], lagging: [{ group: 1, member: 3, behind: 500 }] };
    }).health();
    expect(asked).toEqual([2]);
    expect(health.healthy).toBe(false);
    expect(health.partitions.underReplicated).toBe(1);
    expect(health.problems).toEqual(['partition 0 is not fully replicated (voters 1, 2, 3; behind its leader: node 3 by 500 entries)']);
  });

  it('is healthy when the other leader names no lagging replica', async () => {
    const health = await admin(async () => ({ led: [1], lagging: [] })).health();
    expect(health).toMatchObject({ healthy: true, problems: [], partitions: { total: 2, leaderless: 0, underReplicated: 0 } });
  });

  it('is not healthy while the broker it takes for a leader no longer leads the partition (its answer cannot vouch for the replicas)', async () => {
    const health = await admin(async () => ({ led: [], lagging: [] })).health();
    expect(health.healthy).toBe(false);
    expect(health.problems).toEqual(['partition 0: node 2, its leader as this broker last heard, no longer leads it (leadership is moving)']);
  });

  it('is not healthy when a leader does not answer, and names it', async () => {
    const health = await admin(async () => {
      throw new FloError('FLO_ERR_TIMEOUT', 'no answer from node 2 within 2000 ms');
    }).health();
    expect(health.healthy).toBe(false);
    expect(health.problems).toEqual(['node 2, leading partition 0, did not say which of their replicas lag: no answer from node 2 within 2000 ms']);
  });

  it('takes a leader of the previous version, which cannot be asked, as it did before (during a rolling upgrade)', async () => {
    const health = await admin(async () => {
      throw new PeerRequestError('FLO_ERR_PROTOCOL', 'not a forwarded append', true, { code: 'FLO_ERR_PROTOCOL' });
    }).health();
    expect(health.healthy).toBe(true);
  });

  it('answers a lag request with the lagging voters of the groups it leads', () => {
    const records: MemberRecord[] = VOTERS.map((id) => ({ id, peer: `127.0.0.1:${4000 + id}`, url: null, state: 'active', incarnation: null }));
    const controller = { members: () => records, replicaHolders: () => VOTERS, leader: 1 } as unknown as Controller;
    const behind: VoterProgress = { member: 2, match: 10, next: 11, state: 'replicate', learner: false };
    const probing: VoterProgress = { member: 3, match: 0, next: 1, state: 'probe', learner: false };
    const groups = [
      { groupId: 4, status: () => status(1, [caughtUp(1), behind, probing]) },
      { groupId: 5, status: () => status(2, null) },
    ] as unknown as ReconciledGroup[];
    const led = new ClusterAdmin({ nodeId: 1, controller, groups: () => groups, reachable: () => true, urlOf: () => null }).laggingLed();
    expect(led).toEqual({ led: [4], lagging: [{ group: 4, member: 2, behind: 990 }, { group: 4, member: 3, behind: 1000 }] });
    const request = encodeLaggingRequest();
    expect(isLaggingRequest(request)).toBe(true);
    expect(decodeLaggingReply(encodeLaggingReply(led))).toEqual(led);
    expect(() => decodeLaggingReply(Buffer.from([0, 0, 0, 2, 1]))).toThrow(/malformed/);
    expect(() => decodeLaggingReply(Buffer.from([0, 0, 0, 0, 0, 0, 0, 1]))).toThrow(/malformed/);
  });
});
