// The packaging, proven on the simulator: the real helm installs the chart (operator
// Deployment running as a pod under the chart's RBAC), the example FloCluster becomes
// Ready, `helm test` produces and consumes through the Service; `kubectl apply -f
// manifests/` does the same without helm.
import { afterEach, describe, expect, it } from 'vitest';
import { startSimCluster, type SimCluster } from '../k8s/cluster.js';
import { CHART, helmAsync, helmBinary, IMAGE_SETS, REPO } from '../k8s/helm.js';
import { kubectl, kubectlOk, waitFor } from '../k8s/helpers.js';
import { brokerBuilt } from './support.js';
import { existsSync } from 'node:fs';

const OPERATOR_BUILT = existsSync(`${REPO}dist/cli/operator-command.js`);

describe.skipIf(!brokerBuilt() || !OPERATOR_BUILT)('chart and manifests on the simulator', () => {
  let cluster: SimCluster | undefined;
  afterEach(async () => {
    await cluster?.close();
    cluster = undefined;
  });

  it('installs with helm, reconciles the example under the chart RBAC (owner-reference permissions enforced), passes helm test, and uninstalls cleanly', async () => {
    helmBinary();
    cluster = await startSimCluster();
    const kc = cluster.kubeconfigPath;
    const env = { KUBECONFIG: kc, HELM_CACHE_HOME: `${cluster.dir}/helm-cache`, HELM_CONFIG_HOME: `${cluster.dir}/helm-config`, HELM_DATA_HOME: `${cluster.dir}/helm-data` };
    await kubectlOk(kc, ['apply', '-f', '-'], 'apiVersion: v1\nkind: Namespace\nmetadata: {name: flo-system}\n');
    const install = await helmAsync(['install', 'flo', CHART, '-n', 'flo-system', ...IMAGE_SETS.flatMap((set) => ['--set', set]),
      '--set', 'example.enabled=true', '--wait', '--timeout', '60s'], env);
    expect(install.stderr).toBe('');
    expect(install.stdout).toContain('STATUS: deployed');
    expect(install.stdout).toContain('kubectl -n flo-system wait --for=condition=Ready flocluster/flo');
    expect(await kubectlOk(kc, ['-n', 'flo-system', 'get', 'pods', '-l', 'app.kubernetes.io/component=operator', '-o', 'jsonpath={.items[0].spec.serviceAccountName}'])).toBe('flo');
    expect((await kubectl(kc, ['-n', 'flo-system', 'wait', '--for=condition=Ready', 'flocluster/flo', '--timeout=40s'])).stdout).toContain('condition met');
    const test = await helmAsync(['test', 'flo', '-n', 'flo-system'], env);
    expect(test.stdout).toContain('Phase:          Succeeded');
    const uninstall = await helmAsync(['uninstall', 'flo', '-n', 'flo-system', '--wait'], env);
    expect(uninstall.code).toBe(0);
    await waitFor('everything owned collected', async () => {
      const left = await kubectlOk(kc, ['-n', 'flo-system', 'get', 'deploy,rs,sts,svc,cm,pdb,flo', '-o', 'name']);
      return left.trim() === '';
    }, 30_000);
  });

  it('runs from the plain manifests with kubectl apply and accepts both examples', async () => {
    cluster = await startSimCluster();
    const kc = cluster.kubeconfigPath;
    const applied = await kubectlOk(kc, ['apply', '-f', `${REPO}manifests/`]);
    expect(applied).toContain('customresourcedefinition.apiextensions.k8s.io/floclusters.flo.dev created');
    expect(applied).toContain('deployment.apps/flo-operator created');
    await kubectlOk(kc, ['-n', 'flo-system', 'wait', '--for=condition=Available', 'deployment/flo-operator', '--timeout=30s']);
    expect(await kubectlOk(kc, ['apply', '--dry-run=server', '-f', `${REPO}manifests/examples/production.yaml`])).toContain('created (server dry run)');
    await kubectlOk(kc, ['apply', '-f', `${REPO}manifests/examples/small.yaml`]);
    expect((await kubectl(kc, ['wait', '--for=condition=Ready', 'flocluster/small', '--timeout=40s'])).stdout).toContain('condition met');
    expect(await kubectlOk(kc, ['get', 'flo', 'small'])).toMatch(/small\s+1\s+1\s+Ready/);
  });
});
