// Scaling a FloCluster of real brokers under load, with the real kubectl: 3 → 5 → 3 while a
// producer and a tailing consumer run through the client Service (the operator replaced in the
// middle of the scale-down), a scale-down whose draining pod is deleted, then a scale-down below
// the replication factor that is blocked. Every acknowledged event must be held, once, by every
// remaining broker, and the consumer must see each namespace exactly as the log holds it.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type FloClient } from '../../src/client/index.js';
import { Operator } from '../../src/operator/operator.js';
import { kubectl, kubectlOk, waitFor } from '../k8s/helpers.js';
import { readAll, sequences, startProducer, type ReadEvent } from './load.js';
import { brokerBuilt, clusterHttp, conditionOf, CRD_PATH, readFloStatus, settledAt, startHarness, TEST_BROKER_IMAGE, type FloStatus, type Harness } from './support.js';

const FLO = `apiVersion: flo.dev/v1alpha1
kind: FloCluster
metadata:
  name: grow
spec:
  replicas: 3
  partitions: 4
  storage: {size: 1Gi, deleteClaim: true}
`;
const PEERS = 'grow-peers.default.svc.cluster.local';

type Status = FloStatus;

/** A tailing consumer through the client Service (its cluster IP: a loopback address here), resuming by cursor after each cut. */
async function startConsumer(url: string): Promise<{ seen: { id: string; namespace: string; data: string }[]; stop: () => Promise<void> }> {
  const client: FloClient = await connect(url, { topologyRefreshMs: 60_000 });
  const subscription = client.subscribe({ namespace: '/orders/**', from: 'earliest', reconnectTimeoutMs: Infinity });
  const seen: { id: string; namespace: string; data: string }[] = [];
  const loop = (async () => {
    for await (const event of subscription) seen.push({ id: event.id, namespace: event.namespace, data: Buffer.from(event.data).toString('utf8') });
  })();
  return { seen, stop: async () => { subscription.close(); await loop.catch(() => undefined); await client.close(); } };
}

describe.skipIf(!brokerBuilt())('scaling a FloCluster of real brokers under load', () => {
  let harness: Harness;
  let kc: string;
  let operator: Operator;
  const ok = (args: string[], input?: string): Promise<string> => kubectlOk(kc, args, input);
  const status = (): Promise<Status> => readFloStatus(kc, 'grow');
  const condition = conditionOf;
  const settled = settledAt;

  beforeAll(async () => {
    harness = await startHarness();
    kc = harness.cluster.kubeconfigPath;
    operator = harness.operator;
    await ok(['apply', '-f', CRD_PATH]);
    await ok(['wait', '--for=condition=Established', 'crd/floclusters.flo.dev', '--timeout=10s']);
    await operator.start();
  });
  afterAll(async () => {
    await operator?.stop();
    await harness?.cluster.close();
  });

  it('scales 3 → 5 → 3 while a producer and a consumer run through the client Service, the operator replaced during the first drain: nothing acknowledged lost or doubled, every remaining broker holds every event, the consumer sees the log', async () => {
    await ok(['apply', '-f', '-'], FLO);
    const formed = await waitFor('three brokers Ready and healthy', async () => { const s = await status(); return settled(s, 3) ? s : undefined; }, 90_000, 250);
    expect(formed).toMatchObject({ founders: 3, replicationFactor: 3, partitions: { total: 4, leaderless: 0, underReplicated: 0 } });
    expect(formed.brokers?.map((b) => [b.pod, b.id])).toEqual([['grow-0', 1], ['grow-1', 2], ['grow-2', 3]]);
    expect(await ok(['get', 'flo', 'grow', '-o', 'jsonpath={.metadata.annotations.flo\\.dev/founders}'])).toBe('3');

    const serviceIp = await ok(['get', 'svc', 'grow', '-o', 'jsonpath={.spec.clusterIP}']);
    const consumer = await startConsumer(`http://${serviceIp}:3000`);
    const revision = await ok(['get', 'sts', 'grow', '-o', 'jsonpath={.status.updateRevision}']);
    const founderUid = await ok(['get', 'pod', 'grow-0', '-o', 'jsonpath={.metadata.uid}']);
    const producer = startProducer(harness.cluster.lookup, 'grow', 'grow');
    await waitFor('the producer writing', () => producer.acknowledged.size >= 20, 30_000);

    await ok(['scale', 'flocluster/grow', '--replicas=5']);
    const seenUp = new Set<string>();
    const grown = await waitFor('five brokers Ready and healthy', async () => {
      const s = await status();
      if (s.operation !== undefined) seenUp.add(s.operation.type);
      return settled(s, 5) ? s : undefined;
    }, 150_000, 250);
    // The scale-up may be over between two looks at the status; the event stays.
    expect(seenUp.has('ScaleUp') || (await ok(['get', 'events', '--field-selector', 'involvedObject.name=grow', '-o', 'jsonpath={.items[*].reason}'])).includes('ScalingUp')).toBe(true);
    expect(await ok(['get', 'events', '--field-selector', 'involvedObject.name=grow,reason=ScalingUp', '-o', 'jsonpath={.items[*].message}'])).toContain('Scaling up from 3 to 5 brokers');
    // The founders keep ids 1-3; the joiners were given new ids by the cluster, in the order they
    // asked (pods start in parallel): an ordinal is never an identity.
    expect(grown.brokers?.slice(0, 3).map((b) => b.id)).toEqual([1, 2, 3]);
    expect(grown.brokers?.slice(3).map((b) => b.id).sort()).toEqual([4, 5]);
    const highest = grown.brokers![4]!.id!;
    expect(grown.brokers?.every((b) => b.partitions === 4)).toBe(true);
    expect(await ok(['get', 'sts', 'grow', '-o', 'jsonpath={.spec.replicas}'])).toBe('5');
    // The founders' list did not change with the scale: no rolling restart of the first three.
    expect(await ok(['get', 'sts', 'grow', '-o', 'jsonpath={.status.updateRevision}'])).toBe(revision);
    expect(await ok(['get', 'pod', 'grow-0', '-o', 'jsonpath={.metadata.uid}'])).toBe(founderUid);
    const restarts = await ok(['get', 'pod', 'grow-0', '-o', 'jsonpath={.status.containerStatuses[0].restartCount}']);
    if (restarts !== '0') console.log(`grow-0 restarted ${restarts} time(s): ${await ok(['get', 'pod', 'grow-0', '-o', 'jsonpath={.status.containerStatuses[0].lastState}'])}\n${(await ok(['logs', 'grow-0'])).split('\n').filter((line) => /"level":(40|50|60)/.test(line)).slice(0, 10).join('\n')}`);
    const afterGrow = producer.acknowledged.size;

    await ok(['scale', 'flocluster/grow', '--replicas=3']);
    // Kill the operator once the first drain is under way; a new one picks up from what it observes.
    const draining = await waitFor('the scale-down draining the broker of grow-4', async () => {
      const s = await status();
      return s.operation?.type === 'ScaleDown' && s.operation.member === highest ? s : undefined;
    }, 60_000, 100);
    expect(draining.operation?.message).toContain(`broker ${highest}`);
    await operator.stop();
    operator = new Operator({
      kubeConfig: harness.kubeConfig, logger: pino({ level: process.env['FLO_TEST_LOG'] ?? 'silent' }), identity: 'test-operator-2', brokerImage: TEST_BROKER_IMAGE,
      resyncMs: 2000, notReadyRequeueMs: 300, brokerLookup: harness.cluster.lookup, queue: { baseBackoffMs: 100, maxBackoffMs: 2000 },
    });
    await operator.start();
    const seenDown: string[] = [];
    const shrunk = await waitFor('three brokers Ready and healthy again', async () => {
      const s = await status();
      if (s.operation?.message !== undefined && seenDown.at(-1) !== s.operation.message) seenDown.push(s.operation.message);
      return settled(s, 3) && (await ok(['get', 'pods', '-o', 'name'])).split('\n').filter(Boolean).length === 3 ? s : undefined;
    }, 180_000, 250);
    expect(shrunk.brokers?.map((b) => [b.pod, b.id])).toEqual([['grow-0', 1], ['grow-1', 2], ['grow-2', 3]]);
    expect(await ok(['get', 'sts', 'grow', '-o', 'jsonpath={.spec.replicas}'])).toBe('3');
    // deleteClaim: the removed brokers' claims went last; the remaining ones stay.
    await waitFor('claims of removed brokers deleted', async () => {
      const claims = (await ok(['get', 'pvc', '-o', 'name'])).split('\n').filter(Boolean).sort();
      return claims.join(',') === 'persistentvolumeclaim/data-grow-0,persistentvolumeclaim/data-grow-1,persistentvolumeclaim/data-grow-2';
    }, 30_000, 250);
    const view = (await clusterHttp(harness.cluster.lookup, `http://grow-0.${PEERS}:3000/v1/cluster`)).body as { brokers: { member: number; state: string }[] };
    expect(view.brokers.map((b) => [b.member, b.state])).toEqual([[1, 'active'], [2, 'active'], [3, 'active'], [4, 'removed'], [5, 'removed']]);
    const reasons = await ok(['get', 'events', '--field-selector', 'involvedObject.name=grow', '-o', 'jsonpath={.items[*].reason}']);
    expect(reasons).toContain('DrainStarted');
    expect(reasons).toContain('BrokerRemoved');
    expect(reasons).toContain('ClaimDeleted');

    await producer.stop();
    const acknowledged = [...producer.acknowledged].sort((a, b) => a - b);
    expect(acknowledged.length).toBeGreaterThan(afterGrow);
    console.log(`scale 3→5→3: ${acknowledged.length} events acknowledged in ${producer.attempts()} attempts; scale-down steps: ${seenDown.join(' | ')}`);
    let log: ReadEvent[] = [];
    for (const pod of ['grow-0', 'grow-1', 'grow-2']) {
      const held = await waitFor(`${pod} holding every acknowledged event`, async () => {
        const events = await readAll(harness.cluster.lookup, 'grow', pod);
        return events.length >= acknowledged.length ? events : undefined;
      }, 20_000, 250);
      const seqs = sequences(held, 'grow');
      expect(new Set(seqs).size, `${pod}: no duplicates`).toBe(seqs.length);
      const missing = acknowledged.filter((sequence) => !seqs.includes(sequence));
      expect(missing, `${pod}: acknowledged events missing`).toEqual([]);
      if (pod === 'grow-0') log = held;
      // Every replica holds the same events under the same ids.
      else expect(held.map((event) => event.id).sort()).toEqual(log.map((event) => event.id).sort());
    }
    // The consumer through the Service saw the log: every event once, each namespace in log order.
    await waitFor('the consumer caught up', () => consumer.seen.length >= log.length, 30_000, 100);
    await consumer.stop();
    expect(new Set(consumer.seen.map((event) => event.id)).size).toBe(consumer.seen.length);
    for (let namespace = 0; namespace < 8; namespace++) {
      const name = `/orders/${namespace}`;
      expect(consumer.seen.filter((event) => event.namespace === name).map((event) => event.id), name).toEqual(log.filter((event) => event.namespace === name).map((event) => event.id));
    }
  }, 480_000);

  it('finishes a scale-down whose draining broker\'s pod is deleted in the middle, losing nothing', async () => {
    await ok(['scale', 'flocluster/grow', '--replicas=4']);
    const four = await waitFor('four brokers Ready', async () => { const s = await status(); return settled(s, 4) ? s : undefined; }, 90_000, 250);
    const joiner = four.brokers![3]!.id!;
    expect(joiner).toBe(6);
    const producer = startProducer(harness.cluster.lookup, 'grow', 'podloss');
    await waitFor('the producer writing', () => producer.acknowledged.size >= 10, 30_000);
    const uid = await ok(['get', 'pod', 'grow-3', '-o', 'jsonpath={.metadata.uid}']);
    // The drain of 4 partitions takes well under a second here: delete the pod as the scale-down starts.
    await ok(['scale', 'flocluster/grow', '--replicas=3']);
    await ok(['delete', 'pod', 'grow-3', '--wait=false']);
    const done = await waitFor('three brokers Ready again', async () => {
      const s = await status();
      return settled(s, 3) && (await ok(['get', 'pods', '-o', 'name'])).split('\n').filter(Boolean).length === 3 ? s : undefined;
    }, 120_000, 250);
    expect(done.brokers?.map((b) => b.id)).toEqual([1, 2, 3]);
    expect(uid).not.toBe('');
    await producer.stop();
    const reasons = await ok(['get', 'events', '--field-selector', 'involvedObject.name=grow', '-o', 'jsonpath={.items[*].message}']);
    expect(reasons).toContain(`Removed broker ${joiner} from the cluster`);
    const acknowledged = [...producer.acknowledged];
    for (const pod of ['grow-0', 'grow-1', 'grow-2']) {
      const seqs = sequences(await readAll(harness.cluster.lookup, 'grow', pod), 'podloss');
      expect(new Set(seqs).size, `${pod}: no duplicates`).toBe(seqs.length);
      expect(acknowledged.filter((sequence) => !seqs.includes(sequence)), `${pod}: acknowledged events missing`).toEqual([]);
    }
    const view = (await clusterHttp(harness.cluster.lookup, `http://grow-0.${PEERS}:3000/v1/cluster`)).body as { brokers: { member: number; state: string }[] };
    expect(view.brokers.find((b) => b.member === joiner)?.state).toBe('removed');
  }, 240_000);

  it('blocks a scale-down below the replication factor with the brokers\' reason, and keeps every broker and event', async () => {
    const before = await readAll(harness.cluster.lookup, 'grow', 'grow-0');
    await ok(['scale', 'flocluster/grow', '--replicas=2']);
    const blocked = await waitFor('ScaleDownBlocked', async () => {
      const s = await status();
      return condition(s, 'ScaleDownBlocked')?.status === 'True' ? s : undefined;
    }, 60_000, 250);
    const reason = condition(blocked, 'ScaleDownBlocked')!;
    expect(reason.reason).toBe('BelowReplicationFactor');
    expect(reason.message).toMatch(/replication factor/);
    expect(condition(blocked, 'Ready')?.status).toBe('False');
    expect(blocked.operation?.message).toMatch(/^blocked: the cluster refused to drain broker 3: .*replication factor/);
    // Nothing was drained or stopped.
    expect(await ok(['get', 'sts', 'grow', '-o', 'jsonpath={.spec.replicas}'])).toBe('3');
    expect(blocked.brokers?.map((b) => [b.id, b.state])).toEqual([[1, 'active'], [2, 'active'], [3, 'active']]);
    expect(await ok(['get', 'events', '--field-selector', 'involvedObject.name=grow', '-o', 'jsonpath={.items[*].reason}'])).toContain('ScaleDownBlocked');
    for (const pod of ['grow-0', 'grow-1', 'grow-2']) expect((await readAll(harness.cluster.lookup, 'grow', pod)).map((event) => event.id).sort()).toEqual(before.map((event) => event.id).sort());

    await ok(['scale', 'flocluster/grow', '--replicas=3']);
    const back = await waitFor('unblocked and Ready on three', async () => {
      const s = await status();
      return condition(s, 'ScaleDownBlocked')?.status === 'False' && settled(s, 3) ? s : undefined;
    }, 60_000, 250);
    expect(back.brokers?.map((b) => b.id)).toEqual([1, 2, 3]);
  }, 180_000);

  it('restarts the brokers onto a changed template one at a time, each only once the last one caught up and the cluster keeps a quorum, losing nothing', async () => {
    const uids = async (): Promise<string[]> => Promise.all(['grow-0', 'grow-1', 'grow-2'].map(async (pod) => (await kubectl(kc, ['get', 'pod', pod, '-o', 'jsonpath={.metadata.uid}'])).stdout));
    const before = await uids();
    const producer = startProducer(harness.cluster.lookup, 'grow', 'roll');
    await waitFor('the producer writing', () => producer.acknowledged.size >= 10, 30_000);
    await ok(['patch', 'flo', 'grow', '--type=merge', '-p', '{"spec":{"logLevel":"debug"}}']);
    let mostDown = 0;
    let sawRoll = false;
    const restartedOrder: number[] = [];
    await waitFor('every broker restarted and the cluster Ready', async () => {
      const s = await status();
      if (s.operation?.type === 'RollingRestart') sawRoll = true;
      mostDown = Math.max(mostDown, (s.brokers ?? []).filter((broker) => !broker.ready).length + Math.max(0, 3 - (s.brokers?.length ?? 0)));
      const now = await uids();
      now.forEach((uid, ordinal) => { if (uid !== '' && uid !== before[ordinal] && !restartedOrder.includes(ordinal)) restartedOrder.push(ordinal); });
      return restartedOrder.length === 3 && settled(s, 3) ? s : undefined;
    }, 150_000, 100);
    await producer.stop();
    expect(sawRoll).toBe(true);
    expect(restartedOrder).toEqual([2, 1, 0]);
    // Never more than one broker away at once.
    expect(mostDown).toBeLessThanOrEqual(1);
    const messages = await ok(['get', 'events', '--field-selector', 'involvedObject.name=grow,reason=RestartingBroker', '-o', 'jsonpath={.items[*].message}']);
    for (const pod of ['grow-2', 'grow-1', 'grow-0']) expect(messages).toContain(`Restarting pod ${pod}`);
    expect(await ok(['get', 'sts', 'grow', '-o', 'jsonpath={.spec.updateStrategy.rollingUpdate.partition}'])).toBe('0');
    const acknowledged = [...producer.acknowledged];
    for (const pod of ['grow-0', 'grow-1', 'grow-2']) {
      const seqs = sequences(await readAll(harness.cluster.lookup, 'grow', pod), 'roll');
      expect(new Set(seqs).size, `${pod}: no duplicates`).toBe(seqs.length);
      expect(acknowledged.filter((sequence) => !seqs.includes(sequence)), `${pod}: acknowledged events missing`).toEqual([]);
    }
  }, 240_000);
});
