import { describe, expect, it } from 'vitest';
import type { FloCluster } from '../../src/operator/crd/types.js';
import { isSubset } from '../../src/operator/reconcile/ensure.js';
import { computeStatus, setCondition, type Observation } from '../../src/operator/status/conditions.js';

const cluster: FloCluster = {
  apiVersion: 'flo.dev/v1alpha1', kind: 'FloCluster', metadata: { name: 'c', namespace: 'ns', uid: 'u', generation: 4 }, spec: { replicas: 3 },
};

function observed(partial: Partial<Observation>): Observation {
  return { desiredReplicas: 3, replicas: 3, readyReplicas: 3, rolledOut: true, brokers: [], retentionApplied: true, ...partial };
}

describe('status from observation', () => {
  it('is Ready only when every desired broker is ready and the rollout is done', () => {
    const status = computeStatus(cluster, observed({}), undefined, 't1');
    expect(status.phase).toBe('Ready');
    expect(status.conditions?.map((c) => `${c.type}=${c.status}/${c.reason}`)).toEqual(['Degraded=False/AsExpected', 'Progressing=False/Reconciled', 'Ready=True/BrokersReady']);
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
