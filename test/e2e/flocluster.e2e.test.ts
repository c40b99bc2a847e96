// End to end: the real kubectl, the operator, the simulated control plane and real
// `flo server` processes as pods.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectl, kubectlOk, waitFor } from '../k8s/helpers.js';
import { brokerBuilt, clusterHttp, CRD_PATH, startHarness, type Harness } from './support.js';

const FLO = `apiVersion: flo.dev/v1alpha1
kind: FloCluster
metadata:
  name: demo
spec:
  replicas: 1
  partitions: 4
  storage: {size: 1Gi}
  retention:
  - {namespace: /audit/**, maxAge: 7d}
`;

interface Status { phase?: string; readyReplicas?: number; replicas?: number; conditions?: { type: string; status: string; reason: string }[]; brokers?: { pod: string; nodeId?: string; ready: boolean }[]; retentionGeneration?: number }

describe.skipIf(!brokerBuilt())('FloCluster end to end against the simulator with real brokers', () => {
  let harness: Harness;
  let kc: string;
  const ok = (args: string[], input?: string): Promise<string> => kubectlOk(kc, args, input);
  const status = async (): Promise<Status> => JSON.parse(await ok(['get', 'flo', 'demo', '-o', 'jsonpath={.status}']) || '{}') as Status;
  const condition = (s: Status, type: string): string | undefined => s.conditions?.find((c) => c.type === type)?.status;

  beforeAll(async () => {
    harness = await startHarness();
    kc = harness.cluster.kubeconfigPath;
    await ok(['apply', '-f', CRD_PATH]);
    await ok(['wait', '--for=condition=Established', 'crd/floclusters.flo.dev', '--timeout=10s']);
    await harness.operator.start();
  });
  afterAll(async () => { await harness?.close(); });

  it('creates the owned objects, runs the broker and reports Ready', async () => {
    await ok(['apply', '-f', '-'], FLO);
    const owned = await waitFor('owned objects', async () => {
      const out = await ok(['get', 'sts,svc,cm,pdb', '-l', 'app.kubernetes.io/instance=demo', '-o', 'name']);
      return out.split('\n').filter(Boolean).length >= 5 ? out : undefined;
    });
    expect(owned).toContain('statefulset.apps/demo');
    expect(owned).toContain('service/demo-peers');
    expect(owned).toContain('service/demo');
    expect(owned).toContain('configmap/demo-config');
    expect(owned).toContain('poddisruptionbudget.policy/demo');
    const waited = await kubectl(kc, ['wait', '--for=condition=Ready', 'flocluster/demo', '--timeout=40s']);
    expect(waited.stdout).toContain('condition met');
    const s = await status();
    expect(s).toMatchObject({ phase: 'Ready', readyReplicas: 1, replicas: 1 });
    expect(condition(s, 'Degraded')).toBe('False');
    expect(s.brokers?.[0]).toMatchObject({ pod: 'demo-0', ready: true });
    expect(s.brokers?.[0]?.nodeId).toMatch(/\S+/);
    expect(await ok(['get', 'pods', 'demo-0', '-o', 'jsonpath={.status.containerStatuses[0].ready}'])).toBe('true');
    const events = await ok(['get', 'events', '-o', 'jsonpath={.items[*].reason}']);
    expect(events).toContain('Created');
    expect(await ok(['logs', 'demo-0'])).toContain('broker listening');
  });

  it('produces through the client Service DNS name and consumes the event back', async () => {
    const lookup = harness.cluster.lookup;
    const produced = await clusterHttp(lookup, 'http://demo.default.svc:3000/v1/events', 'POST', { namespace: '/orders/1', data: 'placed' });
    expect(produced.status).toBeLessThan(300);
    const read = await clusterHttp(lookup, 'http://demo.default.svc.cluster.local:3000/v1/events?namespace=/orders/**&from=earliest&limit=10');
    const events = (read.body as { events: { namespace: string; data: string }[] }).events;
    expect(events).toEqual([expect.objectContaining({ namespace: '/orders/1', data: 'placed' })]);
    const direct = await clusterHttp(lookup, 'http://demo-0.demo-peers.default.svc.cluster.local:3000/readyz');
    expect(direct.status).toBe(200);
  });

  it('pushes changed retention rules to the running broker without a restart', async () => {
    const before = await ok(['get', 'pod', 'demo-0', '-o', 'jsonpath={.status.containerStatuses[0].restartCount}']);
    await ok(['patch', 'flo', 'demo', '--type=merge', '-p', '{"spec":{"retention":[{"namespace":"/audit/**","maxAge":"1d"},{"namespace":"/tmp/**","maxEvents":10}]}}']);
    const rules = await waitFor('broker retention', async () => {
      const reply = await clusterHttp(harness.cluster.lookup, 'http://demo-0.demo-peers.default.svc.cluster.local:3000/v1/admin/retention');
      const body = reply.body as { rules: { namespace: string; maxAge?: string; maxEvents?: number }[] };
      return body.rules.length === 2 ? body.rules : undefined;
    });
    expect(rules).toEqual([{ namespace: '/audit/**', maxAge: '1d' }, { namespace: '/tmp/**', maxEvents: 10 }]);
    expect(await ok(['get', 'pod', 'demo-0', '-o', 'jsonpath={.status.containerStatuses[0].restartCount}'])).toBe(before);
    expect(await ok(['get', 'cm', 'demo-config', '-o', 'jsonpath={.data.retention\\.json}'])).toContain('/tmp/**');
    await waitFor('retentionGeneration', async () => (await status()).retentionGeneration === Number(await ok(['get', 'flo', 'demo', '-o', 'jsonpath={.metadata.generation}'])));
  });

  it('brings a deleted pod back with its data', async () => {
    const uid = await ok(['get', 'pod', 'demo-0', '-o', 'jsonpath={.metadata.uid}']);
    const nodeId = (await status()).brokers?.[0]?.nodeId;
    await ok(['delete', 'pod', 'demo-0', '--timeout=20s']);
    await waitFor('a new demo-0', async () => {
      const now = await kubectl(kc, ['get', 'pod', 'demo-0', '-o', 'jsonpath={.metadata.uid}']);
      return now.code === 0 && now.stdout !== uid && now.stdout !== '';
    });
    await ok(['wait', '--for=condition=Ready', 'pod/demo-0', '--timeout=30s']);
    const read = await clusterHttp(harness.cluster.lookup, 'http://demo.default.svc:3000/v1/events?namespace=/orders/**&from=earliest&limit=10');
    expect((read.body as { events: unknown[] }).events).toHaveLength(1);
    await waitFor('same broker identity', async () => (await status()).brokers?.[0]?.nodeId === nodeId && (await status()).phase === 'Ready');
  });

  it('restarts a killed broker process in place, as a node would', async () => {
    const restarts = async (): Promise<number> => Number(await ok(['get', 'pod', 'demo-0', '-o', 'jsonpath={.status.containerStatuses[0].restartCount}']));
    const before = await restarts();
    const child = harness.cluster.kubelet!.processOf('default', 'demo-0');
    expect(child?.pid).toBeGreaterThan(0);
    child!.kill('SIGKILL');
    await waitFor('restartCount to grow by one', async () => await restarts() === before + 1);
    await ok(['wait', '--for=condition=Ready', 'pod/demo-0', '--timeout=30s']);
  });

  it('repairs an owned object that someone edits or deletes', async () => {
    await ok(['patch', 'svc', 'demo', '--type=merge', '-p', '{"spec":{"ports":[{"name":"http","port":9999,"targetPort":"http"}]}}']);
    await waitFor('client Service repaired', async () => await ok(['get', 'svc', 'demo', '-o', 'jsonpath={.spec.ports[0].port}']) === '3000');
    await ok(['delete', 'cm', 'demo-config']);
    await waitFor('ConfigMap recreated', async () => (await kubectl(kc, ['get', 'cm', 'demo-config'])).code === 0);
    await ok(['patch', 'pdb', 'demo', '--type=merge', '-p', '{"spec":{"maxUnavailable":0}}']);
    await waitFor('PDB repaired', async () => await ok(['get', 'pdb', 'demo', '-o', 'jsonpath={.spec.maxUnavailable}']) === '1');
    expect(await ok(['get', 'events', '-o', 'jsonpath={.items[*].reason}'])).toContain('Updated');
  });

  it('scales the one-broker cluster to two, whose new broker joins and holds every event, and back to one', async () => {
    // The one founder stays the founders' list; the second pod joins and is given id 2 by the cluster.
    const before = await clusterHttp(harness.cluster.lookup, 'http://demo-0.demo-peers.default.svc.cluster.local:3000/v1/events?namespace=/orders/**&from=earliest&limit=10');
    await ok(['scale', 'flocluster/demo', '--replicas=2']);
    const two = await waitFor('two active brokers, Ready', async () => {
      const s = await status();
      return s.phase === 'Ready' && s.readyReplicas === 2 && s.brokers?.length === 2 && s.brokers.every((b) => (b as { state?: string }).state === 'active') ? s : undefined;
    }, 60_000, 200);
    expect(two.brokers?.map((b) => b.nodeId)).toEqual([expect.any(String), '2']);
    const joined = await clusterHttp(harness.cluster.lookup, 'http://demo-1.demo-peers.default.svc.cluster.local:3000/v1/events?namespace=/orders/**&from=earliest&limit=10');
    expect((joined.body as { events: unknown[] }).events).toEqual((before.body as { events: unknown[] }).events);
    await ok(['scale', 'flocluster/demo', '--replicas=1']);
    await waitFor('back on one broker, Ready', async () => {
      const s = await status();
      return s.phase === 'Ready' && s.readyReplicas === 1 && s.brokers?.length === 1 && (await ok(['get', 'sts', 'demo', '-o', 'jsonpath={.spec.replicas}'])) === '1' ? s : undefined;
    }, 60_000, 200);
    expect(await ok(['get', 'flo', 'demo'])).toMatch(/demo\s+1\s+1\s+Ready/);
    // deleteClaim is false: the removed broker's claim is kept, marked as a removed member's.
    const keptClaim = await ok(['get', 'pvc', 'data-demo-1', '-o', 'jsonpath={.metadata.uid}']);
    expect(await ok(['get', 'pvc', 'data-demo-1', '-o', 'jsonpath={.metadata.annotations.flo\\.dev/removed-member}'])).toBe('2');
    // Growing again: a removed member's data dir can never rejoin, so that claim goes first and the pod joins as id 3.
    await ok(['scale', 'flocluster/demo', '--replicas=2']);
    const again = await waitFor('two active brokers again', async () => {
      const s = await status();
      return s.phase === 'Ready' && s.readyReplicas === 2 && s.brokers?.length === 2 && s.brokers.every((b) => (b as { state?: string }).state === 'active') ? s : undefined;
    }, 60_000, 200);
    expect(again.brokers?.[1]?.nodeId).toBe('3');
    expect(await ok(['get', 'pvc', 'data-demo-1', '-o', 'jsonpath={.metadata.uid}'])).not.toBe(keptClaim);
    await ok(['scale', 'flocluster/demo', '--replicas=1']);
    await waitFor('on one broker again', async () => (await status()).phase === 'Ready' && (await ok(['get', 'pods', '-o', 'name'])).trim() === 'pod/demo-0', 60_000, 200);
  });

  it('rolls the brokers one by one when the pod template changes, keeping their data', async () => {
    const uid = await ok(['get', 'pod', 'demo-0', '-o', 'jsonpath={.metadata.uid}']);
    await ok(['patch', 'flo', 'demo', '--type=merge', '-p', '{"spec":{"logLevel":"debug"}}']);
    await waitFor('StatefulSet template updated', async () => (await ok(['get', 'sts', 'demo', '-o', 'jsonpath={.spec.template.spec.containers[0].env}'])).includes('"debug"'));
    expect((await kubectl(kc, ['rollout', 'status', 'statefulset/demo', '--timeout=40s'])).stdout).toContain('complete');
    expect(await ok(['get', 'pod', 'demo-0', '-o', 'jsonpath={.metadata.uid}'])).not.toBe(uid);
    await waitFor('Ready after the rollout', async () => (await status()).phase === 'Ready');
    const read = await clusterHttp(harness.cluster.lookup, 'http://demo.default.svc:3000/v1/events?namespace=/orders/**&from=earliest&limit=10');
    expect((read.body as { events: unknown[] }).events).toHaveLength(1);
  });

  it('refuses an invalid FloCluster with a clear message', async () => {
    const result = await kubectl(kc, ['apply', '-f', '-'], FLO.replace('name: demo', 'name: broken').replace('replicas: 1', 'replicas: 2\n  replicationFactor: 3'));
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('replicationFactor must not exceed replicas');
    for (const name of ['dotted.name', `a${'b'.repeat(52)}`, '1st']) {
      const refused = await kubectl(kc, ['apply', '-f', '-'], FLO.replace('name: demo', `name: ${name}`));
      expect(refused.code, name).not.toBe(0);
      expect(refused.stderr, name).toMatch(/the name of a FloCluster must be (a DNS label|at most 52 characters)/);
    }
  });

  it('collects everything owned when the FloCluster is deleted', async () => {
    const pvcDirs = join(harness.cluster.dir, 'node', 'pvc');
    await ok(['delete', 'flo', 'demo', '--timeout=20s']);
    await waitFor('owned objects collected', async () => {
      const out = await ok(['get', 'sts,svc,cm,pdb,pods', '-l', 'app.kubernetes.io/instance=demo', '-o', 'name']);
      return out.trim() === '';
    }, 30_000);
    // storage.deleteClaim is false: the claims (and the data) outlive the cluster.
    expect(await ok(['get', 'pvc', '-o', 'name'])).toContain('data-demo-0');
    expect(existsSync(pvcDirs) && readdirSync(pvcDirs).length).toBeGreaterThan(0);
  });
});
