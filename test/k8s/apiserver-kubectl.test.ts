// The simulator behaves like a real API server for the real kubectl.
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectl, kubectlOk, waitFor } from './helpers.js';
import { startApiServer, type ApiServer } from './sim/index.js';

const CRD = new URL('../../crds/flo.dev_floclusters.yaml', import.meta.url).pathname;

function flo(name: string, spec: string): string {
  return `apiVersion: flo.dev/v1alpha1\nkind: FloCluster\nmetadata:\n  name: ${name}\nspec:\n${spec}\n`;
}

function configMap(name: string): string {
  return `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ${name}}\ndata: {a: "1"}\n`;
}

describe('API simulator driven by the real kubectl', () => {
  let sim: ApiServer;
  let kc: string;
  const run = (args: string[], input?: string): ReturnType<typeof kubectl> => kubectl(kc, args, input);
  const ok = (args: string[], input?: string): Promise<string> => kubectlOk(kc, args, input);

  beforeAll(async () => {
    sim = await startApiServer();
    kc = sim.kubeconfigPath;
    await ok(['apply', '-f', CRD]);
    await ok(['wait', '--for=condition=Established', 'crd/floclusters.flo.dev', '--timeout=10s']);
  });
  afterAll(async () => { await sim.close(); });

  it('applies the CRD from crds/ and serves the new kind through discovery', async () => {
    const resources = await ok(['api-resources', '--api-group=flo.dev']);
    expect(resources).toMatch(/floclusters\s+flo\s+flo.dev\/v1alpha1\s+true\s+FloCluster/);
    expect(await readFile(CRD, 'utf8')).toContain('floclusters.flo.dev');
  });

  it('creates a FloCluster with apply, fills defaults, and prints the printer columns', async () => {
    expect(await ok(['apply', '-f', '-'], flo('alpha', '  replicas: 1'))).toContain('flocluster.flo.dev/alpha created');
    const table = await ok(['get', 'floclusters']);
    expect(table.split('\n')[0]).toMatch(/^NAME\s+REPLICAS\s+READY\s+PHASE\s+HEALTHY\s+OPERATION\s+AGE$/);
    expect(table).toMatch(/alpha\s+1\s+/);
    const spec = JSON.parse(await ok(['get', 'flo', 'alpha', '-o', 'jsonpath={.spec}'])) as Record<string, unknown>;
    expect(spec).toMatchObject({ replicas: 1, partitions: 8, durability: 'fsync', storage: { size: '10Gi', deleteClaim: false } });
    expect(await ok(['get', 'flo', 'alpha', '-o', 'wide'])).toContain('ENDPOINT');
  });

  it('re-applies a changed manifest as a patch and bumps generation only for spec changes', async () => {
    await ok(['apply', '-f', '-'], flo('beta', '  replicas: 1'));
    await ok(['apply', '-f', '-'], flo('beta', '  replicas: 1\n  logLevel: debug'));
    expect(await ok(['get', 'flo', 'beta', '-o', 'jsonpath={.metadata.generation} {.spec.logLevel}'])).toBe('2 debug');
    await ok(['label', 'flo', 'beta', 'team=a']);
    expect(await ok(['get', 'flo', 'beta', '-o', 'jsonpath={.metadata.generation}'])).toBe('2');
    expect(await ok(['apply', '-f', '-'], flo('beta', '  replicas: 1\n  logLevel: debug'))).toContain('unchanged');
  });

  it('refuses an invalid FloCluster with a message that names each problem', async () => {
    const result = await run(['apply', '-f', '-'], flo('bad', '  replicas: 1\n  replicationFactor: 3\n  durability: fast\n  retention: [{maxAge: 7d}]'));
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('The FloCluster "bad" is invalid');
    expect(result.stderr).toContain('spec.durability: Unsupported value: "fast": supported values: "fsync", "os"');
    expect(result.stderr).toContain('spec.replicationFactor: Invalid value: "object": replicationFactor must not exceed replicas');
    expect(result.stderr).toContain('spec.retention[0].namespace: Required value');
    const range = await run(['apply', '-f', '-'], flo('bad2', '  replicas: 0\n  storage: {size: lots}'));
    expect(range.stderr).toContain('spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1');
    expect(range.stderr).toContain("spec.storage.size in body should match");
    expect((await run(['get', 'flo', 'bad'])).code).not.toBe(0);
  });

  it('rejects unknown fields under strict validation and prunes them when validation is off', async () => {
    const strict = await run(['apply', '-f', '-'], flo('typo', '  replicaz: 2'));
    expect(strict.stderr).toContain('strict decoding error: unknown field "spec.replicaz"');
    await ok(['apply', '--validate=false', '-f', '-'], flo('typo', '  replicaz: 2'));
    expect(await ok(['get', 'flo', 'typo', '-o', 'jsonpath={.spec.replicaz}|{.spec.replicas}'])).toBe('|1');
  });

  it('keeps partitions immutable', async () => {
    await ok(['apply', '-f', '-'], flo('gamma', '  partitions: 4'));
    const result = await run(['patch', 'flo', 'gamma', '--type=merge', '-p', '{"spec":{"partitions":16}}']);
    expect(result.stderr).toContain('spec.partitions: Invalid value: "integer": partitions is immutable');
  });

  it('scales through the scale subresource', async () => {
    await ok(['apply', '-f', '-'], flo('delta', '  replicas: 1'));
    expect(await ok(['scale', 'flocluster/delta', '--replicas=1'])).toContain('scaled');
    expect(await ok(['scale', 'flocluster/delta', '--replicas=3'])).toContain('scaled');
    expect(await ok(['get', 'flo', 'delta', '-o', 'jsonpath={.spec.replicas} {.metadata.generation}'])).toBe('3 2');
    // The CRD's rules apply to the scale subresource too: not below an explicit replication factor.
    await ok(['patch', 'flo', 'delta', '--type=merge', '-p', '{"spec":{"replicationFactor":3}}']);
    expect((await run(['scale', 'flocluster/delta', '--replicas=2'])).stderr).toContain('replicationFactor must not exceed replicas');
    expect(await ok(['get', 'flo', 'delta', '-o', 'jsonpath={.spec.replicas}'])).toBe('3');
    const refused = await run(['scale', 'flocluster/delta', '--replicas=0']);
    expect(refused.stderr).toContain('should be greater than or equal to 1');
  });

  it('writes status only through the status subresource and waits on a condition', async () => {
    await ok(['apply', '-f', '-'], flo('eps', '  replicas: 1'));
    const ignored = await ok(['patch', 'flo', 'eps', '--type=merge', '-p', '{"status":{"phase":"Ready"}}']);
    expect(ignored).toContain('no change');
    const waiting = run(['wait', '--for=condition=Ready', 'flocluster/eps', '--timeout=15s']);
    const condition = { type: 'Ready', status: 'True', reason: 'BrokersReady', message: 'all ready', lastTransitionTime: new Date().toISOString() };
    await ok(['patch', 'flo', 'eps', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { phase: 'Ready', readyReplicas: 1, conditions: [condition] } })]);
    const waited = await waiting;
    expect(waited.stdout).toContain('condition met');
    expect(await ok(['get', 'flo', 'eps'])).toMatch(/eps\s+1\s+1\s+Ready/);
    expect(await ok(['get', 'flo', 'eps', '-o', 'jsonpath={.metadata.generation}'])).toBe('1');
  });

  it('holds deletion while finalizers remain, then deletes', async () => {
    await ok(['apply', '-f', '-'], flo('zeta', '  replicas: 1'));
    await ok(['patch', 'flo', 'zeta', '--type=merge', '-p', '{"metadata":{"finalizers":["flo.dev/test"]}}']);
    await ok(['delete', 'flo', 'zeta', '--wait=false']);
    expect(await ok(['get', 'flo', 'zeta', '-o', 'jsonpath={.metadata.deletionTimestamp}'])).not.toBe('');
    await ok(['patch', 'flo', 'zeta', '--type=json', '-p', '[{"op":"remove","path":"/metadata/finalizers"}]']);
    await waitFor('zeta to be gone', async () => (await run(['get', 'flo', 'zeta'])).code !== 0);
  });

  it('collects objects owned by a deleted FloCluster', async () => {
    await ok(['apply', '-f', '-'], flo('eta', '  replicas: 1'));
    const uid = await ok(['get', 'flo', 'eta', '-o', 'jsonpath={.metadata.uid}']);
    const owned = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: eta-owned\n  ownerReferences: [{apiVersion: flo.dev/v1alpha1, kind: FloCluster, name: eta, uid: ${uid}, controller: true}]\ndata: {a: "1"}\n`;
    await ok(['apply', '-f', '-'], owned);
    await ok(['delete', 'flocluster', 'eta']);
    await waitFor('owned ConfigMap to be collected', async () => (await run(['get', 'cm', 'eta-owned'])).stderr.includes('NotFound'));
  });

  it('deletes in the foreground: the owner waits for its dependents', async () => {
    await ok(['apply', '-f', '-'], flo('iota', '  replicas: 1'));
    const uid = await ok(['get', 'flo', 'iota', '-o', 'jsonpath={.metadata.uid}']);
    const owned = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: iota-owned\n  finalizers: [flo.dev/hold]\n  ownerReferences: [{apiVersion: flo.dev/v1alpha1, kind: FloCluster, name: iota, uid: ${uid}, controller: true}]\n`;
    await ok(['apply', '-f', '-'], owned);
    await ok(['delete', 'flo', 'iota', '--cascade=foreground', '--wait=false']);
    expect(await ok(['get', 'flo', 'iota', '-o', 'jsonpath={.metadata.finalizers}'])).toContain('foregroundDeletion');
    expect(await ok(['get', 'cm', 'iota-owned', '-o', 'jsonpath={.metadata.deletionTimestamp}'])).not.toBe('');
    await ok(['patch', 'cm', 'iota-owned', '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
    await waitFor('the owner to go after its dependent', async () => (await run(['get', 'flo', 'iota'])).code !== 0);
  });

  it('answers a stale replace with 409 Conflict', async () => {
    await ok(['apply', '-f', '-'], configMap('stale'));
    const old = await ok(['get', 'cm', 'stale', '-o', 'json']);
    await ok(['patch', 'cm', 'stale', '-p', '{"data":{"a":"2"}}']);
    const result = await run(['replace', '-f', '-'], old);
    expect(result.stderr).toContain('the object has been modified; please apply your changes to the latest version');
  });

  it('merges strategic patches of built-in lists by key and applies JSON patches', async () => {
    const sts = `apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: web}\nspec:\n  serviceName: web\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n      - {name: a, image: one, env: [{name: X, value: "1"}]}\n`;
    await ok(['apply', '-f', '-'], sts);
    await ok(['patch', 'sts', 'web', '-p', '{"spec":{"template":{"spec":{"containers":[{"name":"b","image":"two"},{"name":"a","env":[{"name":"Y","value":"2"}]}]}}}}']);
    const containers = JSON.parse(await ok(['get', 'sts', 'web', '-o', 'jsonpath={.spec.template.spec.containers}'])) as { name: string; image: string; env?: unknown[] }[];
    expect(containers.map((container) => container.name)).toEqual(['a', 'b']);
    expect(containers[0]!.env).toHaveLength(2);
    await ok(['patch', 'sts', 'web', '--type=json', '-p', '[{"op":"replace","path":"/spec/replicas","value":2}]']);
    expect(await ok(['get', 'sts', 'web', '-o', 'jsonpath={.spec.replicas}'])).toBe('2');
    const immutable = await run(['patch', 'sts', 'web', '--type=merge', '-p', '{"spec":{"serviceName":"other"}}']);
    expect(immutable.stderr).toContain('updates to statefulset spec for fields other than');
  });

  it('filters by label selector and refuses objects in a missing namespace', async () => {
    await ok(['apply', '-f', '-'], configMap('sel-a'));
    await ok(['label', 'cm', 'sel-a', 'tier=one']);
    await ok(['apply', '-f', '-'], configMap('sel-b'));
    const names = await ok(['get', 'cm', '-l', 'tier=one', '-o', 'name']);
    expect(names.trim()).toBe('configmap/sel-a');
    expect(await ok(['get', 'cm', '-l', 'tier notin (one)', '-o', 'name'])).not.toContain('sel-a');
    const missing = await run(['apply', '-n', 'nowhere', '-f', '-'], configMap('x'));
    expect(missing.stderr).toContain('namespaces "nowhere" not found');
    await ok(['apply', '-f', '-'], 'apiVersion: v1\nkind: Namespace\nmetadata: {name: somewhere}\n');
    await ok(['apply', '-n', 'somewhere', '-f', '-'], configMap('x'));
  });

  it('deletes a FloCluster and kubectl waits for it to be gone', async () => {
    await ok(['apply', '-f', '-'], flo('theta', '  replicas: 1'));
    expect(await ok(['delete', 'flo', 'theta', '--timeout=10s'])).toContain('deleted');
    expect((await run(['get', 'flo', 'theta'])).stderr).toContain('floclusters.flo.dev "theta" not found');
  });
});
