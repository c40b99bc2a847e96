// The simulator speaks the watch protocol @kubernetes/client-node relies on.
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from './helpers.js';
import { startApiServer, type ApiServer } from './sim/index.js';

describe('API simulator driven by @kubernetes/client-node', () => {
  let sim: ApiServer;
  let kc: k8s.KubeConfig;
  let core: k8s.CoreV1Api;

  beforeAll(async () => {
    sim = await startApiServer({ historyEvents: 20 });
    kc = new k8s.KubeConfig();
    kc.loadFromFile(sim.kubeconfigPath);
    core = kc.makeApiClient(k8s.CoreV1Api);
  });
  afterAll(async () => { await sim.close(); });

  const cm = (name: string, value = '1'): k8s.V1ConfigMap => ({ metadata: { name, labels: { app: 'w' } }, data: { value } });

  it('issues monotonic resourceVersions and refuses a stale update with 409', async () => {
    const created = await core.createNamespacedConfigMap({ namespace: 'default', body: cm('rv') });
    const updated = await core.replaceNamespacedConfigMap({ name: 'rv', namespace: 'default', body: { ...created, data: { value: '2' } } });
    expect(Number(updated.metadata?.resourceVersion)).toBeGreaterThan(Number(created.metadata?.resourceVersion));
    const stale = core.replaceNamespacedConfigMap({ name: 'rv', namespace: 'default', body: { ...created, data: { value: '3' } } });
    await expect(stale).rejects.toMatchObject({ code: 409 });
    const unchanged = await core.replaceNamespacedConfigMap({ name: 'rv', namespace: 'default', body: updated });
    expect(unchanged.metadata?.resourceVersion).toBe(updated.metadata?.resourceVersion);
  });

  it('resumes a watch from a resourceVersion and replays what happened since', async () => {
    const list = await core.listNamespacedConfigMap({ namespace: 'default' });
    const from = list.metadata!.resourceVersion!;
    await core.createNamespacedConfigMap({ namespace: 'default', body: cm('w1') });
    await core.patchNamespacedConfigMap({ name: 'w1', namespace: 'default', body: [{ op: 'replace', path: '/data/value', value: '9' }] });
    await core.deleteNamespacedConfigMap({ name: 'w1', namespace: 'default' });
    const seen: string[] = [];
    const watch = new k8s.Watch(kc);
    const request = await watch.watch('/api/v1/namespaces/default/configmaps', { resourceVersion: from, labelSelector: 'app=w' },
      (type: string, object: k8s.V1ConfigMap) => { seen.push(`${type}:${object.metadata?.name}`); }, () => undefined);
    await waitFor('replayed events', () => seen.length >= 3);
    request.abort();
    expect(seen).toEqual(['ADDED:w1', 'MODIFIED:w1', 'DELETED:w1']);
  });

  it('answers a watch from a compacted resourceVersion with 410 Expired and ends the stream', async () => {
    const from = (await core.listNamespacedConfigMap({ namespace: 'default' })).metadata!.resourceVersion!;
    for (let i = 0; i < 25; i += 1) await core.createNamespacedConfigMap({ namespace: 'default', body: cm(`burst-${i}`) });
    const events: { type: string; code?: number }[] = [];
    let ended = false;
    await new k8s.Watch(kc).watch('/api/v1/namespaces/default/configmaps', { resourceVersion: from },
      (type: string, object: { code?: number }) => { events.push({ type, code: object.code }); }, () => { ended = true; });
    await waitFor('the stream to end', () => ended);
    expect(events).toEqual([{ type: 'ERROR', code: 410 }]);
  });

  it('feeds an informer that relists after 410 and sees adds, updates and deletes', async () => {
    const listFn = (): Promise<k8s.V1ConfigMapList> => core.listNamespacedConfigMap({ namespace: 'default', labelSelector: 'app=inf' });
    const informer = k8s.makeInformer(kc, '/api/v1/namespaces/default/configmaps', listFn, 'app=inf');
    const log: string[] = [];
    informer.on('add', (object) => log.push(`add:${object.metadata?.name}`));
    informer.on('update', (object) => log.push(`update:${object.metadata?.name}:${object.data?.['value']}`));
    informer.on('delete', (object) => log.push(`delete:${object.metadata?.name}`));
    await informer.start();
    await core.createNamespacedConfigMap({ namespace: 'default', body: { ...cm('i1'), metadata: { name: 'i1', labels: { app: 'inf' } } } });
    await waitFor('add', () => log.includes('add:i1'));
    sim.store.compact();
    await core.patchNamespacedConfigMap({ name: 'i1', namespace: 'default', body: [{ op: 'replace', path: '/data/value', value: '5' }] });
    await waitFor('update', () => log.includes('update:i1:5'));
    await core.deleteNamespacedConfigMap({ name: 'i1', namespace: 'default' });
    await waitFor('delete', () => log.includes('delete:i1'));
    await informer.stop();
  });

  it('serves a label selector on watches: objects leaving the selection are reported deleted', async () => {
    const seen: string[] = [];
    const request = await new k8s.Watch(kc).watch('/api/v1/namespaces/default/configmaps', { labelSelector: 'tier=gold' },
      (type: string, object: k8s.V1ConfigMap) => { seen.push(`${type}:${object.metadata?.name}`); }, () => undefined);
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'gold', labels: { tier: 'gold' } } } });
    await core.patchNamespacedConfigMap({ name: 'gold', namespace: 'default', body: [{ op: 'replace', path: '/metadata/labels/tier', value: 'tin' }] });
    await waitFor('leave event', () => seen.length >= 2);
    request.abort();
    expect(seen).toEqual(['ADDED:gold', 'DELETED:gold']);
  });
});
