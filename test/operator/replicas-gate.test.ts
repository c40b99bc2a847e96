// Until brokers replicate, a FloCluster with more than one broker is never Ready: the CRD
// refuses it, and one that got past an older CRD (without that rule) is refused by the
// operator itself — Degraded with reason InvalidSpec, a Warning event, no StatefulSet.
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Operator } from '../../src/operator/operator.js';
import { startSimCluster, type SimCluster } from '../k8s/cluster.js';
import { kubectl, kubectlOk, waitFor } from '../k8s/helpers.js';
import { CRD_PATH, kubeConfigFor, TEST_BROKER_IMAGE } from '../e2e/support.js';

const REPLICAS_RULE = `                - rule: self.replicas <= 1
                  message: replicas above 1 are refused until brokers replicate partitions; today each broker would keep separate data behind one Service (see docs/kubernetes.md)
                  fieldPath: .replicas
`;

interface Condition { type: string; status: string; reason: string; message: string }

describe('one broker until brokers replicate', () => {
  let cluster: SimCluster;
  let operator: Operator;
  let kc: string;

  beforeAll(async () => {
    cluster = await startSimCluster({ runPods: false });
    kc = cluster.kubeconfigPath;
    const crd = readFileSync(CRD_PATH, 'utf8');
    expect(crd).toContain(REPLICAS_RULE);
    // An older CRD, as a cluster upgraded from a release without the rule would still have.
    await kubectlOk(kc, ['apply', '-f', '-'], crd.replace(REPLICAS_RULE, ''));
    operator = new Operator({
      kubeConfig: kubeConfigFor(kc), logger: pino({ level: 'silent' }), identity: 'gate', brokerImage: TEST_BROKER_IMAGE,
      resyncMs: 600_000, notReadyRequeueMs: 300, brokerLookup: cluster.lookup,
    });
    await operator.start();
  });
  afterAll(async () => {
    await operator?.stop();
    await cluster?.close();
  });

  it('reports a FloCluster with three brokers Degraded, never Ready, and creates nothing for it', async () => {
    await kubectlOk(kc, ['apply', '-f', '-'], 'apiVersion: flo.dev/v1alpha1\nkind: FloCluster\nmetadata: {name: three}\nspec: {replicas: 3}\n');
    const conditions = await waitFor('status written', async () => {
      const text = await kubectlOk(kc, ['get', 'flo', 'three', '-o', 'jsonpath={.status.conditions}']);
      return text === '' ? undefined : JSON.parse(text) as Condition[];
    });
    expect(conditions.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'InvalidSpec' });
    expect(conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(conditions.find((c) => c.type === 'Ready')?.message).toContain('replicas 3 refused: brokers do not replicate partitions yet');
    expect(await kubectlOk(kc, ['get', 'flo', 'three', '-o', 'jsonpath={.status.phase}'])).toBe('Degraded');
    expect(await kubectlOk(kc, ['get', 'events', '--field-selector', 'involvedObject.name=three', '-o', 'jsonpath={.items[*].reason}'])).toContain('InvalidSpec');
    expect((await kubectl(kc, ['get', 'sts', 'three'])).code).not.toBe(0);
  });

  it('is refused at the door by the current CRD', async () => {
    await kubectlOk(kc, ['apply', '-f', CRD_PATH]);
    const refused = await kubectl(kc, ['apply', '-f', '-'], 'apiVersion: flo.dev/v1alpha1\nkind: FloCluster\nmetadata: {name: four}\nspec: {replicas: 4}\n');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('replicas above 1 are refused until brokers replicate partitions');
  });
});
