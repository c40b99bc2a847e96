// What the operator repairs that a person or an earlier step left behind, with real brokers and
// the real kubectl (the planners are unit-tested in test/operator; this is their wiring):
// a broker drained for a scale-down that was cancelled comes back as a new member instead of
// staying `draining` for ever; a StatefulSet shrunk with `kubectl scale sts` is restored, and
// no broker is drained for it; a roll onto a bad image, once the spec is fixed back, restarts
// the broken pod instead of waiting for it to be healthy.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Operator } from '../../src/operator/operator.js';
import { kubectlOk, waitFor } from '../k8s/helpers.js';
import { brokerBuilt, clusterHttp, conditionOf, CRD_PATH, readFloStatus, settledAt, startHarness, TEST_BROKER_IMAGE, type FloStatus, type Harness } from './support.js';

const FLO = `apiVersion: flo.dev/v1alpha1
kind: FloCluster
metadata:
  name: fix
spec:
  replicas: 3
  partitions: 4
  storage: {size: 1Gi}
`;
const PEERS = 'fix-peers.default.svc.cluster.local';

type Status = FloStatus;

describe.skipIf(!brokerBuilt())('the operator repairs what it finds', () => {
  let harness: Harness;
  let kc: string;
  let operator: Operator;
  const ok = (args: string[], input?: string): Promise<string> => kubectlOk(kc, args, input);
  const status = (): Promise<Status> => readFloStatus(kc, 'fix');
  const condition = conditionOf;
  const settled = settledAt;
  const newOperator = (identity: string): Operator => new Operator({
    kubeConfig: harness.kubeConfig, logger: pino({ level: process.env['FLO_TEST_LOG'] ?? 'silent' }), identity, brokerImage: TEST_BROKER_IMAGE,
    resyncMs: 2000, notReadyRequeueMs: 300, brokerLookup: harness.cluster.lookup, queue: { baseBackoffMs: 100, maxBackoffMs: 2000 },
  });
  const events = (reason: string): Promise<string> => ok(['get', 'events', '--field-selector', `involvedObject.name=fix,reason=${reason}`, '-o', 'jsonpath={.items[*].message}']);

  beforeAll(async () => {
    harness = await startHarness();
    kc = harness.cluster.kubeconfigPath;
    operator = harness.operator;
    await ok(['apply', '-f', CRD_PATH]);
    await ok(['wait', '--for=condition=Established', 'crd/floclusters.flo.dev', '--timeout=10s']);
    await operator.start();
    await ok(['apply', '-f', '-'], FLO);
    await waitFor('three founders Ready', async () => settled(await status(), 3), 120_000, 250);
    // A fourth broker: a drain leaves the replication factor (3) and the StatefulSet can be shrunk below it.
    await ok(['scale', 'flocluster/fix', '--replicas=4']);
    await waitFor('four brokers Ready', async () => settled(await status(), 4), 120_000, 250);
  }, 250_000);
  afterAll(async () => {
    await operator?.stop();
    await harness?.cluster.close();
  });

  it('finishes a drain whose scale-down was cancelled: the broker is removed and its pod joins again as a new member', async () => {
    const before = await status();
    const drained = before.brokers![3]!.id!;
    // As if the operator had started the scale-down to 3 and replicas went back to 4 at once:
    // the drain is issued while no operator runs, so nothing races it.
    await operator.stop();
    try {
      const reply = await clusterHttp(harness.cluster.lookup, `http://fix-0.${PEERS}:3000/v1/admin/members/${drained}/drain`, 'POST');
      expect(reply.status, JSON.stringify(reply.body)).toBeLessThan(300);
    } finally {
      operator = newOperator('test-operator-2');
      await operator.start();
    }
    const back = await waitFor('pod 3 back as a new active member', async () => {
      const s = await status();
      return settled(s, 4) && (s.brokers![3]!.id ?? 0) > drained ? s : undefined;
    }, 120_000, 250);
    expect(back.brokers?.slice(0, 3).map((b) => b.id)).toEqual(before.brokers?.slice(0, 3).map((b) => b.id));
    expect(await events('BrokerRemoved')).toContain(`Removed broker ${drained}`);
    expect(await events('BrokerRecreated')).toContain('Deleted pod fix-3');
    const view = (await clusterHttp(harness.cluster.lookup, `http://fix-0.${PEERS}:3000/v1/cluster`)).body as { brokers: { member: number; state: string }[] };
    expect(view.brokers.find((b) => b.member === drained)?.state).toBe('removed');
  }, 180_000);

  it('restores a StatefulSet scaled below the replication factor with kubectl, draining nobody', async () => {
    const ids = (await status()).brokers?.map((b) => b.id);
    await ok(['scale', 'sts', 'fix', '--replicas=1']);
    const restored = await waitFor('four brokers Ready again, the same ones', async () => {
      const s = await status();
      return settled(s, 4) && (await ok(['get', 'sts', 'fix', '-o', 'jsonpath={.spec.replicas}'])) === '4' ? s : undefined;
    }, 120_000, 250);
    expect(restored.brokers?.map((b) => b.id)).toEqual(ids);
    expect(await events('DrainStarted')).toBe('');
    expect(await events('StatefulSetRestored')).toContain('restored to 4');
  }, 180_000);

  it('restarts the pod a bad image broke once the spec is fixed back, and reports the failing container meanwhile', async () => {
    await ok(['patch', 'flo', 'fix', '--type=merge', '-p', '{"spec":{"image":"nginx:1.27"}}']);
    const broken = await waitFor('Degraded by the bad image', async () => {
      const s = await status();
      return condition(s, 'Degraded')?.reason === 'PodsFailing' ? s : undefined;
    }, 60_000, 250);
    expect(condition(broken, 'Degraded')?.message).toContain('pod fix-3: ErrImagePull');
    await ok(['patch', 'flo', 'fix', '--type=json', '-p', '[{"op":"remove","path":"/spec/image"}]']);
    await waitFor('four brokers Ready on the old image', async () => settled(await status(), 4), 120_000, 250);
    expect(await ok(['get', 'pod', 'fix-3', '-o', 'jsonpath={.spec.containers[0].image}'])).toBe(TEST_BROKER_IMAGE);
    expect(condition(await status(), 'Degraded')?.status).toBe('False');
  }, 180_000);
});
