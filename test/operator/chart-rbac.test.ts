// The operator under exactly the chart's RBAC, as its ServiceAccount, with the simulator
// enforcing OwnerReferencesPermissionEnforcement: owned objects set blockOwnerDeletion,
// which needs update on floclusters/finalizers — granted by the chart, and refused (with
// the API server's reason in the FloCluster's Degraded condition) when it is missing.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Operator } from '../../src/operator/operator.js';
import { startSimCluster, type SimCluster } from '../k8s/cluster.js';
import { renderedManifests } from '../k8s/helm.js';
import { kubectl, kubectlOk, waitFor } from '../k8s/helpers.js';
import { kubeconfigYaml } from '../k8s/sim/index.js';
import { CRD_PATH, kubeConfigFor, TEST_BROKER_IMAGE } from '../e2e/support.js';

const ACCOUNT = 'system:serviceaccount:flo-system:flo';

interface Condition { type: string; status: string; reason: string; message: string }

describe('operator under the chart RBAC with owner-reference permission enforcement', () => {
  let cluster: SimCluster;
  let operator: Operator;
  let kc: string;
  const rbac = renderedManifests()['02-rbac.yaml']!;

  const degraded = async (name: string): Promise<Condition | undefined> => {
    const status = await kubectlOk(kc, ['get', 'flo', name, '-o', 'jsonpath={.status.conditions}']);
    return (JSON.parse(status || '[]') as Condition[]).find((condition) => condition.type === 'Degraded');
  };
  const flo = (name: string): string => `apiVersion: flo.dev/v1alpha1\nkind: FloCluster\nmetadata: {name: ${name}}\nspec: {replicas: 1}\n`;

  beforeAll(async () => {
    cluster = await startSimCluster({ runPods: false });
    kc = cluster.kubeconfigPath;
    await kubectlOk(kc, ['apply', '-f', CRD_PATH]);
    await kubectlOk(kc, ['create', 'namespace', 'flo-system']);
    await kubectlOk(kc, ['apply', '-f', '-'], rbac);
    const accountConfig = join(cluster.dir, 'operator-kubeconfig');
    writeFileSync(accountConfig, kubeconfigYaml(cluster.apiServer.url).replace('token: flo-sim', `token: "${ACCOUNT}"`));
    operator = new Operator({
      kubeConfig: kubeConfigFor(accountConfig), logger: pino({ level: 'silent' }), identity: 'rbac-test', brokerImage: TEST_BROKER_IMAGE,
      resyncMs: 600_000, notReadyRequeueMs: 300, brokerLookup: cluster.lookup, queue: { baseBackoffMs: 100, maxBackoffMs: 500 },
    });
    await operator.start();
  });
  afterAll(async () => {
    await operator?.stop();
    await cluster?.close();
  });

  it('creates every owned object, blockOwnerDeletion set, as the chart ServiceAccount', async () => {
    expect(rbac).toContain('resources: [floclusters/finalizers]');
    await kubectlOk(kc, ['apply', '-f', '-'], flo('granted'));
    await waitFor('the PodDisruptionBudget, the last owned object', async () => (await kubectl(kc, ['get', 'pdb', 'granted'])).code === 0);
    expect(await kubectlOk(kc, ['get', 'sts', 'granted', '-o', 'jsonpath={.metadata.ownerReferences[0].blockOwnerDeletion}'])).toBe('true');
    await waitFor('Degraded=False', async () => (await degraded('granted'))?.status === 'False');
  });

  it('is refused by the admission plugin without update on floclusters/finalizers, and says why', async () => {
    const withoutFinalizers = rbac.replace('  - apiGroups: [flo.dev]\n    resources: [floclusters/finalizers]\n    verbs: [update]\n', '');
    expect(withoutFinalizers).not.toContain('resources: [floclusters/finalizers]');
    await kubectlOk(kc, ['apply', '-f', '-'], withoutFinalizers);
    await kubectlOk(kc, ['apply', '-f', '-'], flo('denied'));
    const condition = await waitFor('Degraded=True', async () => {
      const found = await degraded('denied');
      return found?.status === 'True' ? found : undefined;
    });
    expect(condition.message).toContain('cannot set blockOwnerDeletion if an ownerReference refers to a resource you can\'t set finalizers on');
    expect(condition.message).toContain(`User "${ACCOUNT}" cannot update resource "floclusters/finalizers" in API group "flo.dev"`);
    expect((await kubectl(kc, ['get', 'cm', 'denied-config'])).code).not.toBe(0);
  });
});
