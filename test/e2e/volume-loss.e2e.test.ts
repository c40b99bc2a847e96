// A founder's volume lost under load: its claim is deleted (it stays, terminating, while the
// pod uses it) and the pod with it, as when a node and its local disk are gone for good. The
// StatefulSet brings pod 0 back on a new, empty claim with the same command line as before;
// the broker must not come back as node 1 (it would vote without what it acknowledged), must
// not form a cluster of its own (a lone founder: nobody in its --peers could tell it), and must
// not crash-loop either: it joins as a new member retiring node 1, and holds every event a
// producer had acknowledged through the client Service, once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectlOk, waitFor } from '../k8s/helpers.js';
import { readAll, sequences, startProducer } from './load.js';
import { brokerBuilt, clusterHttp, CRD_PATH, readFloStatus, settledAt, startHarness, type FloStatus, type Harness } from './support.js';

const flo = (name: string, replicas: number): string => `apiVersion: flo.dev/v1alpha1
kind: FloCluster
metadata:
  name: ${name}
spec:
  replicas: ${replicas}
  partitions: 4
  storage: {size: 1Gi}
`;

type Status = FloStatus;

describe.skipIf(!brokerBuilt())('a founder whose volume was lost', () => {
  let harness: Harness;
  const ok = (args: string[], input?: string): Promise<string> => kubectlOk(harness.cluster.kubeconfigPath, args, input);
  const status = (name: string): Promise<Status> => readFloStatus(harness.cluster.kubeconfigPath, name);
  const settled = (s: Status): boolean => settledAt(s, 3);
  const waitSettled = (name: string, what: string): Promise<Status> => waitFor(what, async () => { const s = await status(name); return settled(s) ? s : undefined; }, 120_000, 250);

  beforeAll(async () => {
    harness = await startHarness();
    await ok(['apply', '-f', CRD_PATH]);
    await ok(['wait', '--for=condition=Established', 'crd/floclusters.flo.dev', '--timeout=10s']);
    await harness.operator.start();
  });
  afterAll(async () => { await harness?.close(); });

  /** Deletes pod 0's claim and pod under a producer; pod 0 must come back as node 4 with everything. */
  async function losePodZeroVolume(name: string, others: number[]): Promise<void> {
    const producer = startProducer(harness.cluster.lookup, name, name);
    await waitFor('the producer writing', () => producer.acknowledged.size >= 30, 30_000);
    const claimUid = await ok(['get', 'pvc', `data-${name}-0`, '-o', 'jsonpath={.metadata.uid}']);
    await ok(['delete', 'pvc', `data-${name}-0`, '--wait=false']);
    // In use: the claim stays, terminating, and the broker keeps running on it.
    expect(await ok(['get', 'pvc', `data-${name}-0`, '-o', 'jsonpath={.metadata.uid}'])).toBe(claimUid);
    await ok(['delete', 'pod', `${name}-0`, '--timeout=30s']);
    const healed = await waitFor(`${name}-0 back on a new claim as a new member, the cluster healthy`, async () => {
      const s = await status(name);
      const uid = await ok(['get', 'pvc', `data-${name}-0`, '-o', 'jsonpath={.metadata.uid}']).catch(() => claimUid);
      return settled(s) && uid !== claimUid && s.brokers?.[0]?.id !== 1 ? s : undefined;
    }, 150_000, 250);
    expect(healed.brokers?.map((b) => b.id)).toEqual([4, ...others]);
    expect(await ok(['logs', `${name}-0`])).toContain('joining as a new member');
    const view = (await clusterHttp(harness.cluster.lookup, `http://${name}-1.${name}-peers.default.svc.cluster.local:3000/v1/cluster`)).body as { brokers: { member: number; state: string }[] };
    expect(view.brokers.map((b) => `${b.member}:${b.state}`).sort()).toEqual(['1:removed', '2:active', '3:active', '4:active']);
    const before = producer.acknowledged.size;
    await waitFor('appends acknowledged after the rejoin', () => producer.acknowledged.size >= before + 30, 30_000);

    await producer.stop();
    const acknowledged = [...producer.acknowledged];
    console.log(`${name}: founder volume lost, ${acknowledged.length} events acknowledged in ${producer.attempts()} attempts; ${name}-0 rejoined as node 4`);
    for (const pod of [0, 1, 2].map((ordinal) => `${name}-${ordinal}`)) {
      const held = await waitFor(`${pod} holding every acknowledged event`, async () => {
        const events = await readAll(harness.cluster.lookup, name, pod);
        return events.length >= acknowledged.length ? events : undefined;
      }, 30_000, 250);
      const seqs = sequences(held, name);
      expect(new Set(seqs).size, `${pod}: no duplicates`).toBe(seqs.length);
      expect(acknowledged.filter((sequence) => !seqs.includes(sequence)), `${pod}: acknowledged events missing`).toEqual([]);
    }
  }

  it('comes back on an empty claim as a new member that retires the old id and holds every acknowledged event', async () => {
    await ok(['apply', '-f', '-'], flo('vol', 3));
    const formed = await waitSettled('vol', 'three brokers Ready and healthy');
    expect(formed.brokers?.map((b) => b.id)).toEqual([1, 2, 3]);
    await losePodZeroVolume('vol', [2, 3]);
  }, 360_000);

  it('the only founder of a cluster grown to three does the same, instead of forming a cluster of its own', async () => {
    await ok(['apply', '-f', '-'], flo('solo', 1));
    await waitFor('one broker Ready', async () => (await status('solo')).phase === 'Ready', 90_000, 250);
    await ok(['scale', 'flocluster/solo', '--replicas=3']);
    const grown = await waitSettled('solo', 'three brokers Ready and healthy');
    // The joiners ask in parallel: pods 1 and 2 hold ids 2 and 3 in either order.
    expect(grown.brokers?.map((b) => b.id).sort()).toEqual([1, 2, 3]);
    expect(grown.brokers?.[0]?.id).toBe(1);
    await losePodZeroVolume('solo', grown.brokers!.slice(1).map((b) => b.id!));
  }, 360_000);
});
