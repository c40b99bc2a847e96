// The simulated StatefulSet controller (no pods run here: the pods stay Pending).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimCluster, type SimCluster } from './cluster.js';
import { kubectl, kubectlOk, waitFor } from './helpers.js';

function sts(name: string, replicas: number, policy: 'Retain' | 'Delete'): string {
  return `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: ${name}}
spec:
  replicas: ${replicas}
  serviceName: ${name}-peers
  podManagementPolicy: Parallel
  persistentVolumeClaimRetentionPolicy: {whenDeleted: ${policy}, whenScaled: ${policy}}
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      containers: [{name: c, image: example/unknown:1}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
`;
}

describe('simulated StatefulSet controller', () => {
  let cluster: SimCluster;
  let kc: string;
  const names = async (kind: string, selector: string): Promise<string[]> =>
    (await kubectlOk(kc, ['get', kind, '-l', selector, '-o', 'jsonpath={.items[*].metadata.name}'])).split(' ').filter(Boolean).sort();
  const pvcs = async (): Promise<string[]> => (await kubectlOk(kc, ['get', 'pvc', '-o', 'jsonpath={.items[*].metadata.name}'])).split(' ').filter(Boolean).sort();

  beforeAll(async () => {
    cluster = await startSimCluster({ runPods: false });
    kc = cluster.kubeconfigPath;
  });
  afterAll(async () => { await cluster.close(); });

  it('creates ordinal pods with stable DNS identity and one claim per ordinal', async () => {
    await kubectlOk(kc, ['apply', '-f', '-'], sts('web', 3, 'Retain'));
    await waitFor('three pods', async () => (await names('pods', 'app=web')).length === 3);
    expect(await names('pods', 'app=web')).toEqual(['web-0', 'web-1', 'web-2']);
    expect(await kubectlOk(kc, ['get', 'pod', 'web-1', '-o', 'jsonpath={.spec.hostname}.{.spec.subdomain} {.spec.volumes[0].persistentVolumeClaim.claimName}'])).toBe('web-1.web-peers data-web-1');
    expect(await pvcs()).toEqual(['data-web-0', 'data-web-1', 'data-web-2']);
    expect(await kubectlOk(kc, ['get', 'sts', 'web', '-o', 'jsonpath={.status.replicas} {.status.readyReplicas}'])).toBe('3 0');
  });

  it('recreates a deleted pod under the same name with the same claim', async () => {
    const uid = await kubectlOk(kc, ['get', 'pod', 'web-1', '-o', 'jsonpath={.metadata.uid}']);
    await kubectlOk(kc, ['delete', 'pod', 'web-1']);
    await waitFor('web-1 recreated', async () => {
      const now = await kubectl(kc, ['get', 'pod', 'web-1', '-o', 'jsonpath={.metadata.uid}']);
      return now.code === 0 && now.stdout !== uid;
    });
    expect(await kubectlOk(kc, ['get', 'pod', 'web-1', '-o', 'jsonpath={.spec.volumes[0].persistentVolumeClaim.claimName}'])).toBe('data-web-1');
  });

  it('scales down from the highest ordinal and keeps claims under the Retain policy', async () => {
    await kubectlOk(kc, ['scale', 'sts', 'web', '--replicas=1']);
    await waitFor('one pod left', async () => (await names('pods', 'app=web')).join() === 'web-0');
    expect(await pvcs()).toEqual(['data-web-0', 'data-web-1', 'data-web-2']);
  });

  it('keeps a deleted claim while its pod exists, and recreates the pod onto a new claim once both are gone (pvc-protection)', async () => {
    const claimUid = await kubectlOk(kc, ['get', 'pvc', 'data-web-0', '-o', 'jsonpath={.metadata.uid}']);
    expect(await kubectlOk(kc, ['get', 'pvc', 'data-web-0', '-o', 'jsonpath={.metadata.finalizers}'])).toContain('kubernetes.io/pvc-protection');
    await kubectlOk(kc, ['delete', 'pvc', 'data-web-0', '--wait=false']);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await kubectlOk(kc, ['get', 'pvc', 'data-web-0', '-o', 'jsonpath={.metadata.uid} {.metadata.deletionTimestamp}'])).toMatch(new RegExp(`^${claimUid} \\d{4}-`));
    await kubectlOk(kc, ['delete', 'pod', 'web-0']);
    await waitFor('web-0 back on a new claim', async () => {
      const claim = await kubectl(kc, ['get', 'pvc', 'data-web-0', '-o', 'jsonpath={.metadata.uid} {.metadata.deletionTimestamp}']);
      return claim.code === 0 && !claim.stdout.startsWith(claimUid) && claim.stdout.trim().split(' ').length === 1 && (await names('pods', 'app=web')).join() === 'web-0';
    });
  });

  it('deletes claims on scale-down and with the StatefulSet under the Delete policy', async () => {
    await kubectlOk(kc, ['apply', '-f', '-'], sts('db', 2, 'Delete'));
    await waitFor('two db claims', async () => (await pvcs()).filter((name) => name.startsWith('data-db')).length === 2);
    await kubectlOk(kc, ['scale', 'sts', 'db', '--replicas=1']);
    await waitFor('claim of db-1 deleted', async () => !(await pvcs()).includes('data-db-1'));
    await kubectlOk(kc, ['delete', 'sts', 'db']);
    await waitFor('claims and pods of db collected', async () => !(await pvcs()).includes('data-db-0') && (await names('pods', 'app=db')).length === 0);
    expect(await pvcs()).toContain('data-web-0');
  });
});
