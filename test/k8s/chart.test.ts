// The Helm chart: lint, values schema, rendering, and manifests/ kept equal to the chart.
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CHART, helm, IMAGE_SETS, renderChart, renderedManifests, REPO, type Rendered } from './helm.js';

function find(docs: Rendered[], kind: string, name?: string): Rendered {
  const doc = docs.find((candidate) => candidate.kind === kind && (name === undefined || candidate.metadata.name === name));
  if (doc === undefined) throw new Error(`no ${kind} ${name ?? ''} rendered`);
  return doc;
}

interface Rule { apiGroups: string[]; resources: string[]; verbs: string[] }

describe('Helm chart charts/flo', () => {
  it('passes helm lint --strict with an explicit image and default or non-default values', () => {
    for (const sets of [[], ['example.enabled=true', 'operator.watchNamespace=apps', 'operator.replicas=2']]) {
      const result = helm(['lint', '--strict', CHART, ...[...IMAGE_SETS, ...sets].flatMap((set) => ['--set', set])]);
      expect(result.stdout + result.stderr).toContain('1 chart(s) linted, 0 chart(s) failed');
      expect(result.code).toBe(0);
    }
  });

  it('has no default image, since none is published, and says how to build one', () => {
    const result = helm(['template', 'flo', CHART]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('image.repository is required: no public Flo image is published. Build one (docker build -t flo.local/flo:dev .)');
  });

  it('refuses misspelled values at every level through values.schema.json', () => {
    for (const typo of ['operator.replicaz=2', 'replicas=2', 'example.storagesize=1Gi', 'image.pullpolicy=Always']) {
      const result = helm(['template', 'flo', CHART, ...IMAGE_SETS.flatMap((set) => ['--set', set]), '--set', typo]);
      expect(result.code, typo).not.toBe(0);
      expect(result.stderr).toMatch(/[Aa]dditional property .* is not allowed/);
    }
    expect(helm(['template', 'flo', CHART, '--set', 'operator.logLevel=loud']).stderr).toContain('logLevel');
    expect(helm(['template', 'flo', CHART, ...IMAGE_SETS.flatMap((set) => ['--set', set]), '--set', 'example.replicas=3']).stderr).toContain('example.replicas');
  });

  it('renders the operator hardened, with leader election and probes', () => {
    const docs = renderChart();
    expect(docs.map((doc) => doc.kind).sort()).toEqual(['ClusterRole', 'ClusterRoleBinding', 'Deployment', 'Pod', 'Role', 'RoleBinding', 'Service', 'ServiceAccount']);
    const deployment = find(docs, 'Deployment') as unknown as { spec: { template: { spec: { serviceAccountName: string; securityContext: object; containers: { args: string[]; securityContext: object; readinessProbe: object; livenessProbe: object; image: string }[] } } } };
    const pod = deployment.spec.template.spec;
    const container = pod.containers[0]!;
    expect(container.image).toBe('flo.local/flo:dev');
    expect(container.args).toEqual(expect.arrayContaining(['operator', '--leader-elect', '--metrics-host=0.0.0.0', '--broker-image=flo.local/flo:dev', '--cluster-domain=cluster.local']));
    expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true });
    expect(container.readinessProbe).toBeDefined();
    expect(container.livenessProbe).toBeDefined();
    expect(pod.serviceAccountName).toBe('flo');
  });

  it('grants least privilege: no wildcards, Secrets create-only (never read), write access only to owned kinds', () => {
    const docs = renderChart();
    const rules = (find(docs, 'ClusterRole') as unknown as { rules: Rule[] }).rules;
    for (const rule of rules) {
      expect([...rule.apiGroups, ...rule.resources, ...rule.verbs]).not.toContain('*');
      // The generated cluster secret is created once; the operator never reads a Secret.
      if (rule.resources.includes('secrets')) expect(rule).toEqual({ apiGroups: [''], resources: ['secrets'], verbs: ['create'] });
    }
    const writable = rules.filter((rule) => rule.verbs.includes('create') || rule.verbs.includes('update')).flatMap((rule) => rule.resources);
    expect(writable.sort()).toEqual(['configmaps', 'events', 'floclusters/finalizers', 'floclusters/status', 'poddisruptionbudgets', 'secrets', 'services', 'statefulsets'].sort());
    // Claims: deleted (or marked) only after their broker was drained and removed on a scale-down.
    expect(rules.find((rule) => rule.resources.includes('persistentvolumeclaims'))?.verbs).toEqual(['get', 'list', 'patch', 'delete']);
    expect(rules.find((rule) => rule.resources.includes('floclusters'))?.verbs).toEqual(['get', 'list', 'watch', 'patch']);
    const leases = (find(docs, 'Role') as unknown as { metadata: { namespace: string }; rules: Rule[] });
    expect(leases.metadata.namespace).toBe('flo-system');
    expect(leases.rules).toEqual([{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }]);
  });

  it('mounts the operator\'s broker token from a Secret when one is named', () => {
    const deployment = find(renderChart(['operator.brokerTokenSecret.name=flo-operator-token']), 'Deployment') as unknown as { spec: { template: { spec: { volumes: unknown[]; containers: { args: string[]; volumeMounts: unknown[] }[] } } } };
    const pod = deployment.spec.template.spec;
    expect(pod.containers[0]!.args).toContain('--broker-token-file=/etc/flo/operator-token/token');
    expect(pod.volumes).toEqual([{ name: 'operator-token', secret: { secretName: 'flo-operator-token' } }]);
    expect(pod.containers[0]!.volumeMounts).toEqual([{ name: 'operator-token', mountPath: '/etc/flo/operator-token', readOnly: true }]);
    expect(JSON.stringify(find(renderChart(), 'Deployment'))).not.toContain('operator-token');
  });

  it('scopes RBAC to one namespace when watchNamespace is set', () => {
    const docs = renderChart(['operator.watchNamespace=apps']);
    expect(docs.some((doc) => doc.kind === 'ClusterRole')).toBe(false);
    expect(find(docs, 'Role', 'flo-operator').metadata.namespace).toBe('apps');
    expect(find(docs, 'RoleBinding', 'flo-operator').metadata.namespace).toBe('apps');
    const args = (find(docs, 'Deployment') as unknown as { spec: { template: { spec: { containers: { args: string[] }[] } } } }).spec.template.spec.containers[0]!.args;
    expect(args).toContain('--namespace=apps');
  });

  it('renders the optional example FloCluster and the helm test hook', () => {
    const docs = renderChart(['example.enabled=true', 'example.name=demo', 'example.retention[0].namespace=/audit/**', 'example.retention[0].maxAge=30d']);
    const example = find(docs, 'FloCluster', 'demo') as unknown as { spec: Record<string, unknown> };
    expect(example.spec).toMatchObject({ replicas: 1, storage: { size: '1Gi' }, retention: [{ namespace: '/audit/**', maxAge: '30d' }] });
    const pulled = find(renderChart(['example.enabled=true', 'imagePullSecrets[0].name=regcred']), 'FloCluster') as unknown as { spec: Record<string, unknown> };
    expect(pulled.spec['pod']).toEqual({ imagePullSecrets: [{ name: 'regcred' }] });
    const test = helm(['template', 'flo', CHART, '-n', 'flo-system', ...IMAGE_SETS.flatMap((set) => ['--set', set]), '--set', 'example.enabled=true', '--show-only', 'templates/tests/produce-consume-pod.yaml']);
    expect(test.stdout).toContain('helm.sh/hook: test');
    expect(test.stdout).toContain('http://flo.flo-system.svc:3000');
  });

  it('ships the CRD of crds/ unchanged in the chart and in manifests/', () => {
    const crd = readFileSync(`${REPO}crds/flo.dev_floclusters.yaml`, 'utf8');
    expect(readFileSync(`${CHART}/crds/flo.dev_floclusters.yaml`, 'utf8')).toBe(crd);
    expect(readFileSync(`${REPO}manifests/00-crd.yaml`, 'utf8')).toBe(crd);
  });

  it('keeps manifests/ equal to the chart rendered with default values', () => {
    for (const [file, content] of Object.entries(renderedManifests())) {
      const path = `${REPO}manifests/${file}`;
      if (process.env['FLO_UPDATE_MANIFESTS'] === '1') writeFileSync(path, content);
      expect(readFileSync(path, 'utf8'), `${file} differs from the chart; regenerate with FLO_UPDATE_MANIFESTS=1`).toBe(content);
    }
  });
});
