// The scale plan, step by step, from observations alone: what a running operator and one
// restarted in the middle both decide (resumable, never draining twice or skipping a step).
import { describe, expect, it } from 'vitest';
import type { ClusterHealth, ClusterMember } from '../../src/operator/reconcile/broker-client.js';
import { memberAt, planScale, type ScaleObservation } from '../../src/operator/reconcile/scaling.js';

const peer = (ordinal: number): string => `flo-${ordinal}.flo-peers.ns.svc.cluster.local:4000`;
const member = (id: number, ordinal: number, state: ClusterMember['state'], partitions = 4): ClusterMember => ({
  member: id, self: false, peer: peer(ordinal), url: null, reachable: true, state, partitions, leaders: 0,
});
const HEALTHY: ClusterHealth = { healthy: true, controllerLeader: 1, partitions: { total: 4, leaderless: 0, underReplicated: 0 }, problems: [] };

function observation(partial: Partial<ScaleObservation>): ScaleObservation {
  return {
    specReplicas: 3, statefulSetReplicas: 5, podOrdinals: [0, 1, 2, 3, 4],
    // Joiners got ids in the order they asked: pod 3 is id 5, pod 4 is id 4.
    members: [member(1, 0, 'active'), member(2, 1, 'active'), member(3, 2, 'active'), member(5, 3, 'active'), member(4, 4, 'active')],
    health: HEALTHY, selfIds: new Map([[0, 1], [1, 2], [2, 3], [3, 5], [4, 4]]), peerOf: peer,
    claims: [0, 1, 2, 3, 4].map((ordinal) => ({ name: `data-flo-${ordinal}`, ordinal })), deleteClaim: true, ...partial,
  };
}

describe('scale-down plan', () => {
  it('drains the broker of the highest ordinal, by the id that broker reports, and keeps the StatefulSet', () => {
    const plan = planScale(observation({}));
    expect(plan.actions).toEqual([{ kind: 'drain', member: 4 }]);
    expect(plan.statefulSetReplicas).toBe(5);
    expect(plan.operation).toMatchObject({ type: 'ScaleDown', member: 4, fromReplicas: 5, toReplicas: 3 });
  });

  it('prefers the broker\'s own answer to the table\'s peer address, and falls back to the peer address when the pod is silent', () => {
    const members = [member(1, 0, 'active'), member(9, 4, 'removed'), member(4, 4, 'active')];
    expect(memberAt(observation({ members }), 4)?.member).toBe(4);
    expect(memberAt(observation({ members, selfIds: new Map() }), 4)?.member).toBe(4);
  });

  it('waits while the drain moves replicas, and while the cluster is not healthy after it', () => {
    const draining = observation({ members: [member(1, 0, 'active'), member(2, 1, 'active'), member(3, 2, 'active'), member(5, 3, 'active'), member(4, 4, 'draining', 2)] });
    expect(planScale(draining)).toMatchObject({ statefulSetReplicas: 5, actions: [], waiting: true });
    expect(planScale(draining).operation?.message).toContain('2 partitions left');
    const drained = { ...draining, members: draining.members!.map((m) => (m.member === 4 ? { ...m, partitions: 0 } : m)) };
    const sick = planScale({ ...drained, health: { ...HEALTHY, healthy: false, problems: ['partition 1 has no leader'] } });
    expect(sick).toMatchObject({ statefulSetReplicas: 5, actions: [] });
    expect(sick.operation?.message).toContain('partition 1 has no leader');
    expect(planScale({ ...drained, health: undefined }).statefulSetReplicas).toBe(5);
    // Drained and healthy: only now one broker fewer; the member is not removed while its pod runs.
    expect(planScale(drained)).toMatchObject({ statefulSetReplicas: 4, actions: [] });
  });

  it('removes the member once its pod is gone, deletes its claim after that, and only then drains the next one', () => {
    const base = { statefulSetReplicas: 4, podOrdinals: [0, 1, 2, 3, 4] };
    const members = [member(1, 0, 'active'), member(2, 1, 'active'), member(3, 2, 'active'), member(5, 3, 'active'), member(4, 4, 'draining', 0)];
    expect(planScale(observation({ ...base, members }))).toMatchObject({ statefulSetReplicas: 4, actions: [] });
    const podGone = planScale(observation({ ...base, podOrdinals: [0, 1, 2, 3], members }));
    expect(podGone.actions).toEqual([{ kind: 'remove', member: 4 }]);
    expect(podGone.statefulSetReplicas).toBe(4);
    const removed = members.map((m) => (m.member === 4 ? { ...m, state: 'removed' as const } : m));
    const next = planScale(observation({ ...base, podOrdinals: [0, 1, 2, 3], members: removed }));
    expect(next.actions).toEqual([{ kind: 'deleteClaim', claim: 'data-flo-4', member: 4 }, { kind: 'drain', member: 5 }]);
    // Without deleteClaim the claim is kept, marked as a removed broker's.
    expect(planScale(observation({ ...base, podOrdinals: [0, 1, 2, 3], members: removed, deleteClaim: false })).actions[0]).toEqual({ kind: 'markClaim', claim: 'data-flo-4', member: 4 });
  });

  it('changes nothing without a member table, and drains nothing for a pod that holds no member', () => {
    expect(planScale(observation({ members: undefined }))).toMatchObject({ statefulSetReplicas: 5, actions: [] });
    const noMember = observation({ members: [member(1, 0, 'active'), member(2, 1, 'active'), member(3, 2, 'active'), member(5, 3, 'active')], selfIds: new Map([[0, 1]]) });
    expect(planScale(noMember)).toMatchObject({ statefulSetReplicas: 4, actions: [] });
  });

  it('restores a StatefulSet someone shrank directly, and drains none of the brokers whose pods went (drift, not a scale-down)', () => {
    // spec 5, `kubectl scale sts --replicas=2`: pods 2-4 are gone, their members still active.
    const shrunk = planScale(observation({ specReplicas: 5, statefulSetReplicas: 2, podOrdinals: [0, 1], selfIds: new Map([[0, 1], [1, 2]]) }));
    expect(shrunk.actions).toEqual([]);
    expect(shrunk.statefulSetReplicas).toBe(5);
    // The same while a scale-down to 3 is asked for: the pods come back first, and only the operator's own choice (pod 4) is drained, with its pod running.
    const down = planScale(observation({ specReplicas: 3, statefulSetReplicas: 2, podOrdinals: [0, 1], selfIds: new Map([[0, 1], [1, 2]]) }));
    expect(down.statefulSetReplicas).toBe(5);
    expect(down.actions.filter((action) => action.kind === 'drain')).toEqual([]);
    expect(planScale(observation({ specReplicas: 4, statefulSetReplicas: 4, podOrdinals: [0, 1, 2, 3] }))).toMatchObject({ statefulSetReplicas: 5, actions: [] });
  });

  it('starts no drain while the cluster is not healthy or a broker does not answer, and says why', () => {
    const held = (partial: Partial<ScaleObservation>): string | undefined => {
      const plan = planScale(observation(partial));
      expect(plan.actions, JSON.stringify(partial)).toEqual([]);
      expect(plan.statefulSetReplicas).toBe(5);
      return plan.operation?.message;
    };
    expect(held({ health: { ...HEALTHY, healthy: false, problems: ['partition 2 has 1 of 3 replicas caught up'] } })).toBe('waiting: the cluster is not healthy: partition 2 has 1 of 3 replicas caught up');
    // Two of five brokers paused: the witness may still call the partitions healthy, but they do not answer.
    expect(held({ selfIds: new Map([[0, 1], [1, 2], [4, 4]]) })).toBe('waiting: the cluster is not healthy: pod 2 does not answer');
    expect(held({ health: undefined })).toContain('cluster health unknown');
  });

  it('reports the tail of a scale-down (pod stopping, member not yet removed) as an operation', () => {
    const members = [member(1, 0, 'active'), member(2, 1, 'active'), member(3, 2, 'active'), member(5, 3, 'active'), member(4, 4, 'draining', 0)];
    const stopping = planScale(observation({ specReplicas: 4, statefulSetReplicas: 4, members }));
    expect(stopping).toMatchObject({ statefulSetReplicas: 4, actions: [], waiting: true, operation: { type: 'ScaleDown', fromReplicas: 5, toReplicas: 4 } });
    expect(stopping.operation?.message).toContain('waiting for pod 4');
    expect(planScale(observation({ specReplicas: 4, statefulSetReplicas: 4, podOrdinals: [0, 1, 2, 3], members })).operation?.type).toBe('ScaleDown');
  });
});

describe('a scale-down cancelled in the middle of a drain', () => {
  const drainingAt4 = (partitions: number): ClusterMember[] => [member(1, 0, 'active'), member(2, 1, 'active'), member(3, 2, 'active'), member(5, 3, 'active'), member(4, 4, 'draining', partitions)];

  it('finishes the drain instead of leaving the broker draining for ever: waits, removes it, then deletes its claim and pod so it joins again as a new member', () => {
    // replicas 5 -> 4 (pod 4 draining) -> 5 again.
    const moving = planScale(observation({ specReplicas: 5, members: drainingAt4(2) }));
    expect(moving).toMatchObject({ statefulSetReplicas: 5, actions: [], waiting: true, operation: { type: 'ScaleUp', toReplicas: 5 } });
    expect(moving.operation?.message).toContain('2 partitions left');
    const drained = planScale(observation({ specReplicas: 5, members: drainingAt4(0) }));
    expect(drained).toMatchObject({ statefulSetReplicas: 5, actions: [{ kind: 'remove', member: 4 }], waiting: true });
    expect(drained.operation?.message).toContain('removing it');
    const removed = drainingAt4(0).map((m) => (m.member === 4 ? { ...m, state: 'removed' as const } : m));
    const recreate = planScale(observation({ specReplicas: 5, members: removed }));
    expect(recreate.actions).toEqual([{ kind: 'deleteClaim', claim: 'data-flo-4', member: 4 }, { kind: 'recreatePod', ordinal: 4, member: 4 }]);
    expect(recreate.operation?.message).toContain('joins again as a new member');
    // Back as a new member (id 6): nothing left to do.
    const rejoined = planScale(observation({ specReplicas: 5, members: [...removed, member(6, 4, 'active')], selfIds: new Map([[0, 1], [1, 2], [2, 3], [3, 5], [4, 6]]) }));
    expect(rejoined).toMatchObject({ statefulSetReplicas: 5, actions: [], waiting: false });
    expect(rejoined.operation).toBeUndefined();
  });

  it('recreates a pod that runs (or crash-loops on) a claim marked as a removed broker\'s, e.g. a FloCluster recreated over kept claims', () => {
    const members = [member(1, 0, 'active'), member(2, 1, 'active'), member(3, 2, 'active'), member(5, 3, 'active'), member(4, 4, 'removed')];
    const claims = [0, 1, 2, 3, 4].map((ordinal) => ({ name: `data-flo-${ordinal}`, ordinal, ...(ordinal === 4 ? { removedMember: 4 } : {}) }));
    const crashing = planScale(observation({ specReplicas: 5, members, claims, selfIds: new Map([[0, 1], [1, 2], [2, 3], [3, 5]]) }));
    expect(crashing.actions).toEqual([{ kind: 'deleteClaim', claim: 'data-flo-4', member: 4 }, { kind: 'recreatePod', ordinal: 4, member: 4 }]);
    // No pod on it (yet): nothing to recreate.
    expect(planScale(observation({ specReplicas: 5, members, claims, podOrdinals: [0, 1, 2, 3], selfIds: new Map([[0, 1], [1, 2], [2, 3], [3, 5]]) })).actions).toEqual([]);
  });

  it('finishes off a draining broker below the StatefulSet before growing past it', () => {
    // replicas 5 -> 3: pod 4 gone and removed, pod 3 (broker 5) draining; then replicas 5.
    const members = [member(1, 0, 'active'), member(2, 1, 'active'), member(3, 2, 'active'), member(5, 3, 'draining', 1), member(4, 4, 'removed')];
    const plan = planScale(observation({ specReplicas: 5, statefulSetReplicas: 4, podOrdinals: [0, 1, 2, 3], members, claims: [0, 1, 2, 3].map((ordinal) => ({ name: `data-flo-${ordinal}`, ordinal })) }));
    expect(plan).toMatchObject({ statefulSetReplicas: 4, actions: [], waiting: true, operation: { type: 'ScaleUp' } });
    expect(plan.operation?.message).toContain('broker 5 (pod 3)');
  });
});

describe('scale-up plan', () => {
  it('grows the StatefulSet at once when nothing is left over', () => {
    const plan = planScale(observation({ specReplicas: 5, statefulSetReplicas: 3, podOrdinals: [0, 1, 2], members: [member(1, 0, 'active'), member(2, 1, 'active'), member(3, 2, 'active')], claims: [] }));
    expect(plan).toMatchObject({ statefulSetReplicas: 5, actions: [], operation: { type: 'ScaleUp', fromReplicas: 3, toReplicas: 5 } });
  });

  it('deletes a removed broker\'s kept claim before reusing its ordinal, and grows once it is gone', () => {
    const members = [member(1, 0, 'active'), member(2, 1, 'active'), member(3, 2, 'active'), member(4, 3, 'removed')];
    const kept = observation({ specReplicas: 4, statefulSetReplicas: 3, podOrdinals: [0, 1, 2], members, deleteClaim: false, claims: [{ name: 'data-flo-3', ordinal: 3, removedMember: 4 }] });
    expect(planScale(kept)).toMatchObject({ statefulSetReplicas: 3, actions: [{ kind: 'deleteClaim', claim: 'data-flo-3', member: 4 }] });
    // Not yet marked (the operator stopped between the removal and the mark): deleted too, never reused.
    expect(planScale({ ...kept, claims: [{ name: 'data-flo-3', ordinal: 3 }] })).toMatchObject({ statefulSetReplicas: 3, actions: [{ kind: 'deleteClaim', claim: 'data-flo-3', member: 4 }] });
    expect(planScale({ ...kept, claims: [] }).statefulSetReplicas).toBe(4);
  });
});
