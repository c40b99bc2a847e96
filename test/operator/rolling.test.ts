// The rolling-restart plan: the partition the StatefulSet gets, from observations alone.
import { describe, expect, it } from 'vitest';
import { nextToRestart, planRoll, type RollObservation } from '../../src/operator/reconcile/rolling.js';

function observation(partial: Partial<RollObservation>): RollObservation {
  return {
    templateChanged: false, replicas: 3, partition: 3, updateRevision: 'new',
    pods: [{ ordinal: 0, revision: 'old', ready: true }, { ordinal: 1, revision: 'old', ready: true }, { ordinal: 2, revision: 'new', ready: true }],
    caughtUp: new Map([[2, true]]), nextSafe: { safe: true, problems: [] }, healthy: true, members: 3, scaling: false, ...partial,
  };
}

describe('rolling restart plan', () => {
  it('writes a changed template with the partition at the replica count, so nothing restarts by itself', () => {
    expect(planRoll(observation({ templateChanged: true, partition: 0 }))).toMatchObject({ partition: 3, operation: { type: 'RollingRestart' } });
  });

  it('releases the next broker, highest ordinal first, once the restarted ones caught up, the cluster is healthy and keeps a quorum', () => {
    expect(nextToRestart(observation({}))).toBe(1);
    expect(planRoll(observation({}))).toMatchObject({ partition: 1, operation: { message: 'restarting pod 1' } });
    // Released already: keep it while the StatefulSet restarts that pod.
    expect(planRoll(observation({ partition: 1 })).partition).toBe(1);
  });

  it('holds the partition while a restarted broker is not ready or not caught up, the cluster is unhealthy, the restart check says no, or a scale runs', () => {
    const held = (partial: Partial<RollObservation>): string | undefined => {
      const plan = planRoll(observation(partial));
      expect(plan.partition, JSON.stringify(partial)).toBe(3);
      return plan.operation?.message;
    };
    expect(held({ pods: [{ ordinal: 0, revision: 'old', ready: true }, { ordinal: 1, revision: 'old', ready: true }, { ordinal: 2, revision: 'new', ready: false }] })).toContain('pod 2 is not ready');
    expect(held({ caughtUp: new Map() })).toContain('pod 2 has not caught up');
    expect(held({ healthy: false })).toContain('not healthy');
    expect(held({ nextSafe: { safe: false, problems: ['partition 3: without node 2, 1 of 3 voters are reachable and caught up (a quorum is 2)'] } })).toContain('a quorum is 2');
    expect(held({ nextSafe: undefined })).toContain('restart check unavailable');
    expect(held({ scaling: true })).toContain('a scale is under way');
  });

  it('restarts the next pod itself when it is the not-ready, silent one (a bad image fixed back), instead of waiting for it to be healthy for ever', () => {
    // Pod 2 ran the bad image (ErrImagePull); the template is back to the revision pods 0 and 1 run.
    const broken = observation({
      updateRevision: 'good', partition: 3, healthy: false, nextSafe: { safe: false, problems: ['node 3 does not answer'] }, caughtUp: new Map(),
      pods: [{ ordinal: 0, revision: 'good', ready: true, answering: true }, { ordinal: 1, revision: 'good', ready: true, answering: true }, { ordinal: 2, revision: 'bad', ready: false, answering: false }],
    });
    expect(planRoll(broken)).toMatchObject({ partition: 2, deletePod: 2, waiting: true });
    expect(planRoll(broken).operation?.message).toContain('restarting pod 2');
    // Released already and still stuck (the StatefulSet controller waits for ready pods): deleted again.
    expect(planRoll({ ...broken, partition: 2 })).toMatchObject({ partition: 2, deletePod: 2 });
    // A broker that answers may still vote: the health gate holds as before; so does a scale.
    const answering = { ...broken, pods: broken.pods.map((pod) => (pod.ordinal === 2 ? { ...pod, answering: true } : pod)) };
    expect(planRoll(answering)).toMatchObject({ partition: 3 });
    expect(planRoll(answering).deletePod).toBeUndefined();
    expect(planRoll({ ...broken, scaling: true }).deletePod).toBeUndefined();
  });

  it('rolls a cluster of fewer than three without a restart check (no quorum survives any restart there), and ends at partition 0', () => {
    const one = observation({ replicas: 1, partition: 1, members: 1, nextSafe: undefined, healthy: undefined, pods: [{ ordinal: 0, revision: 'old', ready: true }], caughtUp: new Map() });
    expect(planRoll(one).partition).toBe(0);
    expect(planRoll(observation({ pods: [0, 1, 2].map((ordinal) => ({ ordinal, revision: 'new', ready: true })) }))).toEqual({ partition: 0, waiting: false });
  });
});
