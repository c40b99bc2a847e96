// Lease leader election against the API simulator (real HTTP, real client-node).
import * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaderElector } from '../../src/operator/kube/leader.js';
import { waitFor } from '../k8s/helpers.js';
import { startApiServer, type ApiServer } from '../k8s/sim/index.js';

describe('Lease leader election', () => {
  let sim: ApiServer;
  let api: k8s.CoordinationV1Api;
  const log = pino({ level: 'silent' });
  const timing = { leaseDurationMs: 1500, renewDeadlineMs: 1000, retryPeriodMs: 100 };

  beforeAll(async () => {
    sim = await startApiServer();
    const config = new k8s.KubeConfig();
    config.loadFromFile(sim.kubeconfigPath);
    api = config.makeApiClient(k8s.CoordinationV1Api);
  });
  afterAll(async () => { await sim.close(); });

  function candidate(identity: string, name: string, log_: string[]): LeaderElector {
    return new LeaderElector(api, { namespace: 'default', name, identity, ...timing }, {
      onStartedLeading: () => log_.push(`${identity}:start`),
      onStoppedLeading: () => log_.push(`${identity}:stop`),
    }, log);
  }

  it('elects exactly one of several candidates and hands over when the leader steps down', async () => {
    const events: string[] = [];
    const electors = ['a', 'b', 'c'].map((id) => candidate(id, 'race', events));
    electors.forEach((elector) => elector.start());
    await waitFor('a leader', () => electors.some((elector) => elector.isLeader));
    // Over several renewals of the Lease, never more than one candidate leads.
    const renewals = new Set<number>();
    await waitFor('three renewals by the leader', async () => {
      expect(electors.filter((elector) => elector.isLeader)).toHaveLength(1);
      const renewed = (await api.readNamespacedLease({ name: 'race', namespace: 'default' })).spec?.renewTime;
      if (renewed !== undefined) renewals.add(new Date(renewed).getTime());
      return renewals.size >= 3;
    });
    const leader = electors.find((elector) => elector.isLeader)!;
    const lease = await api.readNamespacedLease({ name: 'race', namespace: 'default' });
    expect(events).toEqual([`${lease.spec?.holderIdentity}:start`]);
    await leader.stop();
    await waitFor('a new leader', () => electors.some((elector) => elector !== leader && elector.isLeader));
    // Released on stop: the successor acquired the Lease before the old holder's term ran out.
    const taken = await api.readNamespacedLease({ name: 'race', namespace: 'default' });
    const expiresAt = new Date(lease.spec!.renewTime!).getTime() + (lease.spec!.leaseDurationSeconds ?? 0) * 1000;
    expect(new Date(taken.spec!.acquireTime!).getTime()).toBeLessThan(expiresAt);
    expect(electors.filter((elector) => elector.isLeader)).toHaveLength(1);
    const after = await api.readNamespacedLease({ name: 'race', namespace: 'default' });
    expect(after.spec?.leaseTransitions).toBe(1);
    await Promise.all(electors.map((elector) => elector.stop()));
  });

  it('takes over a lease whose holder stopped renewing only after it expires', async () => {
    const now = new Date().toISOString().replace('Z', '000Z');
    await api.createNamespacedLease({
      namespace: 'default',
      body: { metadata: { name: 'stale' }, spec: { holderIdentity: 'ghost', leaseDurationSeconds: 1, renewTime: now as unknown as k8s.V1MicroTime } },
    });
    const events: string[] = [];
    const elector = candidate('heir', 'stale', events);
    const started = Date.now();
    elector.start();
    await waitFor('takeover', () => elector.isLeader);
    expect(Date.now() - started).toBeGreaterThanOrEqual(700);
    await elector.stop();
  });

  it('stops leading when it cannot renew within the deadline', async () => {
    const events: string[] = [];
    const elector = candidate('lonely', 'cut', events);
    elector.start();
    await waitFor('leading', () => elector.isLeader);
    const lease = await api.readNamespacedLease({ name: 'cut', namespace: 'default' });
    // Someone else takes the lease by force: renewals now conflict or see another holder.
    lease.spec = { ...lease.spec, holderIdentity: 'usurper', renewTime: new Date(Date.now() + 60_000).toISOString().replace('Z', '000Z') as unknown as k8s.V1MicroTime, leaseDurationSeconds: 60 };
    await api.replaceNamespacedLease({ name: 'cut', namespace: 'default', body: lease });
    await waitFor('stepped down', () => !elector.isLeader);
    expect(events).toEqual(['lonely:start', 'lonely:stop']);
    await elector.stop();
  });
});
