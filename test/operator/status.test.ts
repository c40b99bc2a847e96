import { describe, expect, it } from 'vitest';
import type { FloCluster } from '../../src/operator/crd/types.js';
import { isSubset } from '../../src/operator/reconcile/ensure.js';
import { computeStatus, setCondition, type Observation } from '../../src/operator/status/conditions.js';

const cluster: FloCluster = {
  apiVersion: 'flo.dev/v1alpha1', kind: 'FloCluster', metadata: { name: 'c', namespace: 'ns', uid: 'u', generation: 4 }, spec: { replicas: 3 },
};

function observed(partial: Partial<Observation>): Observation {
  return {
    desiredReplicas: 3, replicas: 3, readyReplicas: 3, rolledOut: true, brokers: [], retentionApplied: true,
    founders: 3, replicating: true, activeMembers: 3, healthy: true, partitions: { total: 4, leaderless: 0, underReplicated: 0 }, ...partial,
  };
}

describe('status from observation', () => {
  it('never reports brokers that do not replicate Ready: single-node brokers beyond one, or members of different clusters', () => {
    for (const partial of [{ replicating: false }, { founders: 0, healthy: true }]) {
      const status = computeStatus(cluster, observed(partial), undefined, 't1');
      expect(status.phase, JSON.stringify(partial)).toBe('Degraded');
      expect(status.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'NotReplicating' });
      expect(status.conditions?.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'NotReplicating' });
    }
    // One single-node broker of an older operator is a working cluster of one.
    const one = { ...cluster, spec: { replicas: 1 } };
    expect(computeStatus(one, observed({ founders: 0, desiredReplicas: 1, replicas: 1, readyReplicas: 1, brokers: [{ pod: 'c-0', ready: true }], replicating: undefined, activeMembers: undefined }), undefined, 't1').phase).toBe('Ready');
  });

  it('is not Ready while the cluster is unhealthy, not every broker is an active member, or health is unknown', () => {
    const unhealthy = computeStatus(cluster, observed({ healthy: false, healthProblems: ['partition 2 has no leader'] }), undefined, 't1');
    expect(unhealthy.phase).toBe('Progressing');
    expect(unhealthy.conditions?.find((c) => c.type === 'Healthy')).toMatchObject({ status: 'False', reason: 'ClusterUnhealthy', message: 'partition 2 has no leader' });
    expect(computeStatus(cluster, observed({ activeMembers: 2 }), undefined, 't1').conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', message: '2 of 3 brokers are active members' });
    const unknown = computeStatus(cluster, observed({ healthy: undefined }), undefined, 't1');
    expect(unknown.conditions?.find((c) => c.type === 'Healthy')?.status).toBe('Unknown');
    expect(unknown.phase).not.toBe('Ready');
    expect(computeStatus(cluster, observed({ unanswered: ['c-2'] }), undefined, 't1').conditions?.find((c) => c.type === 'Healthy')?.message).toContain('c-2 do not answer');
  });

  it('is not Ready while a pod does not answer (Healthy=False) or a scale-down\'s last steps are pending', () => {
    const silent = computeStatus(cluster, observed({ unanswered: ['c-3'] }), undefined, 't1');
    expect(silent.conditions?.find((c) => c.type === 'Healthy')?.status).toBe('False');
    expect(silent.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'BrokersNotReady' });
    expect(silent.conditions?.find((c) => c.type === 'Ready')?.message).toContain('c-3 do not answer');
    const tail = computeStatus(cluster, observed({ operation: { type: 'ScaleDown', fromReplicas: 4, toReplicas: 3, message: 'waiting for pod 3 (broker 4) to stop' } }), undefined, 't1');
    expect(tail.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False' });
    expect(tail.conditions?.find((c) => c.type === 'Progressing')).toMatchObject({ status: 'True', reason: 'ScalingDown', message: 'waiting for pod 3 (broker 4) to stop' });
    expect(tail.phase).toBe('Progressing');
  });

  it('is Degraded (PodsFailing) while a pod\'s container cannot start: a bad image, a crash loop', () => {
    const status = computeStatus(cluster, observed({ unanswered: ['c-2'], podProblems: ['pod c-2: ErrImagePull: image nginx:1.27 is not known'] }), undefined, 't1');
    expect(status.conditions?.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'PodsFailing', message: 'pod c-2: ErrImagePull: image nginx:1.27 is not known' });
    expect(status.phase).toBe('Degraded');
    expect(computeStatus(cluster, observed({}), undefined, 't1').conditions?.find((c) => c.type === 'Degraded')?.status).toBe('False');
  });

  it('reports a blocked scale-down with the brokers\' reason, and the operation in progress', () => {
    const status = computeStatus(cluster, observed({
      desiredReplicas: 2, scaleDownBlocked: 'draining node 3 would leave 2 members, fewer than the replication factor 3',
      operation: { type: 'ScaleDown', fromReplicas: 3, toReplicas: 2, member: 3, message: 'draining broker 3 (pod 2)' },
    }), undefined, 't1');
    expect(status.conditions?.find((c) => c.type === 'ScaleDownBlocked')).toMatchObject({ status: 'True', reason: 'BelowReplicationFactor' });
    expect(status.conditions?.find((c) => c.type === 'ScaleDownBlocked')?.message).toContain('fewer than the replication factor 3');
    expect(status.conditions?.find((c) => c.type === 'Progressing')).toMatchObject({ status: 'True', reason: 'ScalingDown', message: 'draining broker 3 (pod 2)' });
    expect(status.operation).toMatchObject({ type: 'ScaleDown', member: 3 });
    expect(status.phase).not.toBe('Ready');
  });

  it('is Ready only when every desired broker is ready and the rollout is done', () => {
    const status = computeStatus(cluster, observed({}), undefined, 't1');
    expect(status.phase).toBe('Ready');
    expect(status.conditions?.map((c) => `${c.type}=${c.status}/${c.reason}`)).toEqual([
      'Degraded=False/AsExpected', 'Healthy=True/ClusterHealthy', 'Progressing=False/Reconciled', 'Ready=True/BrokersReady', 'ScaleDownBlocked=False/NotBlocked',
    ]);
    expect(status.partitions).toEqual({ total: 4, leaderless: 0, underReplicated: 0 });
    expect(status).toMatchObject({ observedGeneration: 4, readyReplicas: 3, endpoint: 'http://c.ns.svc:3000', retentionGeneration: 4 });
    expect(computeStatus(cluster, observed({ rolledOut: false }), undefined, 't1').conditions?.find((c) => c.type === 'Progressing')?.reason).toBe('RollingUpdate');
  });

  it('reports scaling and partial readiness as Progressing', () => {
    const status = computeStatus(cluster, observed({ replicas: 2, readyReplicas: 2 }), undefined, 't1');
    expect(status.phase).toBe('Progressing');
    const ready = status.conditions?.find((c) => c.type === 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'BrokersNotReady', message: '2/3 brokers ready' });
    expect(status.conditions?.find((c) => c.type === 'Progressing')?.reason).toBe('Scaling');
    expect(computeStatus(cluster, observed({ readyReplicas: 0 }), undefined, 't1').phase).toBe('Pending');
  });

  it('keeps Progressing on Scaling while scheduled brokers are not ready yet', () => {
    const progressing = computeStatus(cluster, observed({ replicas: 3, readyReplicas: 1 }), undefined, 't1').conditions?.find((c) => c.type === 'Progressing');
    expect(progressing).toMatchObject({ status: 'True', reason: 'Scaling', message: '3 of 3 brokers scheduled, 1/3 brokers ready' });
  });

  it('never reports a refused spec Ready, even when every broker it runs is ready', () => {
    const status = computeStatus(cluster, observed({}), { step: 'ValidateSpec', message: 'replicas 3 refused', invalidSpec: true }, 't1');
    expect(status.phase).toBe('Degraded');
    expect(status.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidSpec', message: 'the spec is refused: replicas 3 refused' });
  });

  it('marks a failed step Degraded with the step and message, and keeps the last confirmed retention generation', () => {
    const previous = { ...cluster, status: { retentionGeneration: 3 } };
    const status = computeStatus(previous, observed({}), { step: 'StatefulSet', message: 'forbidden' }, 't1');
    expect(status.phase).toBe('Degraded');
    expect(status.conditions?.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'ReconcileFailed', message: 'StatefulSet: forbidden' });
    expect(status.retentionGeneration).toBe(3);
    const invalid = computeStatus(cluster, observed({}), { step: 'ValidateSpec', message: 'bad', invalidSpec: true }, 't1');
    expect(invalid.conditions?.find((c) => c.type === 'Degraded')?.reason).toBe('InvalidSpec');
  });

  it('keeps lastTransitionTime while a condition keeps its status', () => {
    const first = setCondition([], { type: 'Ready', status: 'True', reason: 'BrokersReady', message: 'a' }, 't1');
    const same = setCondition(first, { type: 'Ready', status: 'True', reason: 'BrokersReady', message: 'b' }, 't2');
    const flipped = setCondition(same, { type: 'Ready', status: 'False', reason: 'BrokersNotReady', message: 'c' }, 't3');
    expect([first[0]?.lastTransitionTime, same[0]?.lastTransitionTime, flipped[0]?.lastTransitionTime]).toEqual(['t1', 't1', 't3']);
  });
});

describe('drift detection', () => {
  it('ignores fields the server or others added and sees every changed desired field', () => {
    const desired = { spec: { ports: [{ port: 3000, name: 'http' }], selector: { a: 'b' } }, metadata: { labels: { x: '1' } } };
    const live = { spec: { ports: [{ port: 3000, name: 'http', protocol: 'TCP' }], selector: { a: 'b' }, clusterIP: '10.0.0.1' }, metadata: { labels: { x: '1', y: '2' } } };
    expect(isSubset(desired, live)).toBe(true);
    expect(isSubset(desired, { ...live, spec: { ...live.spec, ports: [{ port: 9999, name: 'http' }] } })).toBe(false);
    expect(isSubset(desired, { ...live, spec: { ...live.spec, ports: [...live.spec.ports, { port: 1, name: 'extra' }] } })).toBe(false);
    expect(isSubset({ metadata: { annotations: {} } }, { metadata: {} })).toBe(true);
  });

  it('compares resource quantities by value, as the API server rewrites them in canonical form', () => {
    expect(isSubset({ resources: { requests: { cpu: '0.5', memory: '1024Mi' } } }, { resources: { requests: { cpu: '500m', memory: '1Gi' } } })).toBe(true);
    expect(isSubset({ resources: { limits: { cpu: '1' } } }, { resources: { limits: { cpu: '2' } } })).toBe(false);
    expect(isSubset({ labels: { version: '1' } }, { labels: { version: '1000m' } })).toBe(false);
  });
});
