// The operator survives an API server outage: informers that stop on a connection error
// are restarted with backoff, and new FloClusters are reconciled from events afterwards.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Operator } from '../../src/operator/operator.js';
import { startSimCluster, type SimCluster } from '../k8s/cluster.js';
import { kubectl, kubectlOk, waitFor } from '../k8s/helpers.js';
import { CRD_PATH, kubeConfigFor, TEST_BROKER_IMAGE } from '../e2e/support.js';

describe('operator informers', () => {
  let cluster: SimCluster;
  let operator: Operator;

  beforeAll(async () => {
    cluster = await startSimCluster({ runPods: false });
    await kubectlOk(cluster.kubeconfigPath, ['apply', '-f', CRD_PATH]);
    operator = new Operator({
      kubeConfig: kubeConfigFor(cluster.kubeconfigPath), logger: pino({ level: 'silent' }), identity: 'informer-test',
      // No periodic resync within the test: only restarted informers can notice the new FloCluster.
      resyncMs: 600_000, notReadyRequeueMs: 600_000, brokerLookup: cluster.lookup, brokerImage: TEST_BROKER_IMAGE,
    });
    await operator.start();
  });
  afterAll(async () => {
    await operator.stop();
    await cluster.close();
  });

  const flo = (name: string): string => `apiVersion: flo.dev/v1alpha1\nkind: FloCluster\nmetadata: {name: ${name}}\nspec: {replicas: 1}\n`;

  it('restarts informers after an API server outage and keeps reconciling from events', async () => {
    const kc = cluster.kubeconfigPath;
    await kubectlOk(kc, ['apply', '-f', '-'], flo('before'));
    await waitFor('StatefulSet before', async () => (await kubectl(kc, ['get', 'sts', 'before'])).code === 0);
    await cluster.apiServer.suspend();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await cluster.apiServer.resume();
    await waitFor('an informer restart', async () => /flo_operator_informer_restarts_total\{kind="FloCluster"\} [1-9]/.test(await operator.metrics.render()));
    await kubectlOk(kc, ['apply', '-f', '-'], flo('after'));
    await waitFor('StatefulSet after', async () => (await kubectl(kc, ['get', 'sts', 'after'])).code === 0, 30_000);
    expect(await kubectlOk(kc, ['get', 'flo', 'after', '-o', 'jsonpath={.status.phase}'])).toBe('Pending');
  });
});
