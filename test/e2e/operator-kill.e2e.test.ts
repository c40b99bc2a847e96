// kill -9 of the operator in the middle of a scale-down 4 → 3, twice: once while it drains a
// broker, once as soon as it has shrunk the StatefulSet (before, or just after, it removes
// the member). The operator runs as a real `flo operator` process with leader election, so a
// killed one leaves its Lease held until it expires, as in a real cluster; each replacement
// must take over from what it observes, finish the scale-down, and lose nothing a producer
// had acknowledged through the client Service.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimCluster, type SimCluster } from '../k8s/cluster.js';
import { kubectlOk, waitFor } from '../k8s/helpers.js';
import { readAll, sequences, startProducer } from './load.js';
import { brokerBuilt, clusterHttp, CRD_PATH, readFloStatus, settledAt, TEST_BROKER_IMAGE, type FloStatus } from './support.js';

const MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const OPERATOR_BUILT = existsSync(fileURLToPath(new URL('../../dist/cli/operator-command.js', import.meta.url)));

const FLO = `apiVersion: flo.dev/v1alpha1
kind: FloCluster
metadata:
  name: opkill
spec:
  replicas: 3
  partitions: 4
  storage: {size: 1Gi, deleteClaim: true}
`;

type Status = FloStatus;

describe.skipIf(!OPERATOR_BUILT || !brokerBuilt())('the operator killed in the middle of a scale-down', () => {
  let cluster: SimCluster;
  const operators: ChildProcess[] = [];
  const ok = (args: string[], input?: string): Promise<string> => kubectlOk(cluster.kubeconfigPath, args, input);
  const status = (): Promise<Status> => readFloStatus(cluster.kubeconfigPath, 'opkill');
  const settled = settledAt;

  function startOperator(identity: string): ChildProcess {
    const child = spawn(process.execPath, [MAIN, 'operator', '--kubeconfig', cluster.kubeconfigPath, '--leader-elect', '--lease-duration-seconds', '2',
      '--identity', identity, '--broker-image', TEST_BROKER_IMAGE, '--metrics-port', '0', '--dns-hosts-file', cluster.hostsFilePath, '--resync-seconds', '2', '--log-level', 'warn'],
    { stdio: ['ignore', 'ignore', 'inherit'] });
    operators.push(child);
    return child;
  }

  async function kill9(child: ChildProcess): Promise<void> {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  beforeAll(async () => {
    cluster = await startSimCluster();
    await ok(['apply', '-f', CRD_PATH]);
    await ok(['wait', '--for=condition=Established', 'crd/floclusters.flo.dev', '--timeout=10s']);
  });
  afterAll(async () => {
    for (const child of operators) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await cluster?.close();
  });

  it('resumes after each kill, removes the drained broker, deletes its claim last and loses no acknowledged event', async () => {
    startOperator('op-1');
    await ok(['apply', '-f', '-'], FLO);
    await waitFor('three brokers Ready and healthy', async () => { const s = await status(); return settled(s, 3) ? s : undefined; }, 120_000, 250);
    // A joiner to drain: the founders are the replication factor, below which a scale-down is blocked.
    await ok(['scale', 'flocluster/opkill', '--replicas=4']);
    const grown = await waitFor('four brokers Ready and healthy', async () => { const s = await status(); return settled(s, 4) ? s : undefined; }, 120_000, 250);
    const leaving = grown.brokers![3]!.id!;
    const producer = startProducer(cluster.lookup, 'opkill', 'kill');
    await waitFor('the producer writing', () => producer.acknowledged.size >= 20, 30_000);

    await ok(['scale', 'flocluster/opkill', '--replicas=3']);
    await waitFor('the drain of the broker on opkill-3', async () => {
      const s = await status();
      return s.operation?.type === 'ScaleDown' && s.operation.member === leaving ? s : undefined;
    }, 60_000, 100);
    await kill9(operators[0]!);
    const second = startOperator('op-2');
    // Its second kill comes once the StatefulSet was shrunk: the member may or may not be removed yet.
    await waitFor('the StatefulSet shrunk by the second operator', async () => (await ok(['get', 'sts', 'opkill', '-o', 'jsonpath={.spec.replicas}'])) === '3', 90_000, 100);
    const seenByThen = (await clusterHttp(cluster.lookup, 'http://opkill-0.opkill-peers.default.svc.cluster.local:3000/v1/cluster')).body as { brokers: { member: number; state: string }[] };
    await kill9(second);
    startOperator('op-3');

    const done = await waitFor('three brokers Ready and healthy, one pod gone', async () => {
      const s = await status();
      return settled(s, 3) && (await ok(['get', 'pods', '-o', 'name'])).split('\n').filter(Boolean).length === 3 ? s : undefined;
    }, 120_000, 250);
    expect(done.brokers?.map((b) => b.pod)).toEqual(['opkill-0', 'opkill-1', 'opkill-2']);
    expect(done.brokers?.map((b) => b.id)).not.toContain(leaving);
    await waitFor('the removed broker\'s claim deleted', async () =>
      (await ok(['get', 'pvc', '-o', 'name'])).split('\n').filter(Boolean).sort().join(',') === 'persistentvolumeclaim/data-opkill-0,persistentvolumeclaim/data-opkill-1,persistentvolumeclaim/data-opkill-2', 30_000, 250);
    const view = (await clusterHttp(cluster.lookup, 'http://opkill-0.opkill-peers.default.svc.cluster.local:3000/v1/cluster')).body as { brokers: { member: number; state: string }[] };
    expect(view.brokers.find((b) => b.member === leaving)?.state).toBe('removed');
    expect(view.brokers.filter((b) => b.state === 'active')).toHaveLength(3);

    await producer.stop();
    const acknowledged = [...producer.acknowledged];
    console.log(`operator kill -9 mid-scale-down: member ${leaving} was ${seenByThen.brokers.find((b) => b.member === leaving)?.state} at the second kill; ${acknowledged.length} events acknowledged in ${producer.attempts()} attempts`);
    for (const pod of ['opkill-0', 'opkill-1', 'opkill-2']) {
      const held = await waitFor(`${pod} holding every acknowledged event`, async () => {
        const events = await readAll(cluster.lookup, 'opkill', pod);
        return events.length >= acknowledged.length ? events : undefined;
      }, 20_000, 250);
      const seqs = sequences(held, 'kill');
      expect(new Set(seqs).size, `${pod}: no duplicates`).toBe(seqs.length);
      expect(acknowledged.filter((sequence) => !seqs.includes(sequence)), `${pod}: acknowledged events missing`).toEqual([]);
    }
  }, 420_000);
});
