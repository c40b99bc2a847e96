// Removing a drained member through a broker that has not yet seen its last
// replica move (CI on 630b81a: one broker's status showed node 1 holding no
// replica, the DELETE sent to another was refused 409 "still holds replicas
// of 1 raft group"). A follower learns a committed configuration with its
// leader's next message; the removal now waits that long before refusing.
import { describe, expect, it } from 'vitest';
import { ClusterAdmin, type AdminDeps } from '../../src/broker/cluster/cluster-admin.js';
import type { Controller } from '../../src/broker/cluster/controller.js';
import type { MemberRecord } from '../../src/broker/cluster/controller-machine.js';
import type { ReconciledGroup } from '../../src/broker/cluster/reconciler.js';
import type { RaftNodeStatus } from '../../src/broker/replication/raft-node.js';

function group(groupId: number, voters: () => number[]): ReconciledGroup {
  const status = (): RaftNodeStatus => ({
    nodeId: 4, role: 'follower', term: 3, leader: 2, commitIndex: 10, appliedIndex: 10, lastIndex: 10, persistedIndex: 10,
    conf: { voters: voters(), learners: [] }, progress: null,
  } as unknown as RaftNodeStatus);
  return { groupId, status } as unknown as ReconciledGroup;
}

/** Broker 4's view: node 1 draining, still a voter of partition 0 until `movedAt`. */
function admin(movedAfterMs: number, drainSettleMs?: number): { admin: ClusterAdmin; removals: number[] } {
  const movedAt = Date.now() + movedAfterMs;
  const records: MemberRecord[] = [1, 2, 3, 4].map((id) => ({ id, peer: `127.0.0.1:${4000 + id}`, url: null, state: id === 1 ? 'draining' : 'active', incarnation: null }));
  const removals: number[] = [];
  const controller = {
    members: () => records,
    member: (id: number) => records.find((record) => record.id === id),
    request: async (command: { op: string; id: number }) => {
      removals.push(command.id);
      return { ok: true };
    },
  } as unknown as Controller;
  const deps: AdminDeps = {
    nodeId: 4, controller, reachable: () => true, urlOf: () => null, drainSettleMs,
    groups: () => [group(0, () => [2, 3, 4]), group(1, () => (Date.now() < movedAt ? [1, 2, 3, 4] : [2, 3, 4]))],
  };
  return { admin: new ClusterAdmin(deps), removals };
}

describe('removing a drained member', () => {
  it('waits for this broker to see the last replica move instead of refusing at once', async () => {
    const { admin: cluster, removals } = admin(300);
    await cluster.remove(1, false);
    expect(removals).toEqual([1]);
  });

  it('still refuses a member whose drain has not finished within the wait', async () => {
    const { admin: cluster, removals } = admin(60_000, 400);
    const started = Date.now();
    await expect(cluster.remove(1, false)).rejects.toMatchObject({ code: 'FLO_ERR_MEMBERSHIP_REFUSED' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(350);
    expect(removals).toEqual([]);
  });
});
