// An operator told to watch one namespace reconciles FloClusters there and nowhere else.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Operator } from '../../src/operator/operator.js';
import { startSimCluster, type SimCluster } from '../k8s/cluster.js';
import { kubectl, kubectlOk, waitFor } from '../k8s/helpers.js';
import { CRD_PATH, kubeConfigFor, TEST_BROKER_IMAGE } from '../e2e/support.js';

describe('operator watching one namespace', () => {
  let cluster: SimCluster;
  let operator: Operator;

  beforeAll(async () => {
    cluster = await startSimCluster({ runPods: false });
    const kc = cluster.kubeconfigPath;
    await kubectlOk(kc, ['apply', '-f', CRD_PATH]);
    await kubectlOk(kc, ['apply', '-f', '-'], 'apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}\n');
    operator = new Operator({
      kubeConfig: kubeConfigFor(kc), logger: pino({ level: 'silent' }), identity: 'namespaced', namespace: 'team-a',
      resyncMs: 600_000, notReadyRequeueMs: 600_000, brokerLookup: cluster.lookup, brokerImage: TEST_BROKER_IMAGE,
    });
    await operator.start();
  });
  afterAll(async () => {
    await operator.stop();
    await cluster.close();
  });

  it('leaves FloClusters in other namespaces alone', async () => {
    const kc = cluster.kubeconfigPath;
    const flo = (name: string): string => `apiVersion: flo.dev/v1alpha1\nkind: FloCluster\nmetadata: {name: ${name}}\nspec: {replicas: 1}\n`;
    // The other namespace's cluster is created first: had it been watched, it would be reconciled first.
    await kubectlOk(kc, ['apply', '-n', 'default', '-f', '-'], flo('outside'));
    await kubectlOk(kc, ['apply', '-n', 'team-a', '-f', '-'], flo('inside'));
    await waitFor('inside reconciled', async () => (await kubectl(kc, ['-n', 'team-a', 'get', 'flo', 'inside', '-o', 'jsonpath={.status.phase}'])).stdout === 'Pending');
    expect((await kubectl(kc, ['-n', 'default', 'get', 'sts', 'outside'])).code).not.toBe(0);
    expect(await kubectlOk(kc, ['-n', 'default', 'get', 'flo', 'outside', '-o', 'jsonpath={.status}'])).toBe('');
  });
});
