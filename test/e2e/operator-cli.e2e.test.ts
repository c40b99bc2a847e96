// `flo operator` as real processes: two replicas with leader election against the
// simulator, reaching brokers through the hosts-file DNS seam.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimCluster, type SimCluster } from '../k8s/cluster.js';
import { kubectl, kubectlOk, waitFor } from '../k8s/helpers.js';
import { CRD_PATH, kubeConfigFor, TEST_BROKER_IMAGE } from './support.js';

const MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const OPERATOR_BUILT = existsSync(fileURLToPath(new URL('../../dist/cli/operator-command.js', import.meta.url)));

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface Replica { identity: string; port: number; child: ChildProcess; exit: Promise<number | null> }

describe.skipIf(!OPERATOR_BUILT)('flo operator processes with leader election', () => {
  let cluster: SimCluster;
  let coordination: k8s.CoordinationV1Api;
  const replicas: Replica[] = [];

  async function startReplica(identity: string): Promise<Replica> {
    const port = await freePort();
    const child = spawn(process.execPath, [MAIN, 'operator', '--kubeconfig', cluster.kubeconfigPath, '--leader-elect', '--lease-duration-seconds', '2',
      '--identity', identity, '--broker-image', TEST_BROKER_IMAGE, '--metrics-port', String(port), '--dns-hosts-file', cluster.hostsFilePath, '--resync-seconds', '2', '--log-level', 'warn'],
    { stdio: ['ignore', 'ignore', 'inherit'] });
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const replica = { identity, port, child, exit };
    replicas.push(replica);
    return replica;
  }

  async function metrics(replica: Replica): Promise<string> {
    const response = await fetch(`http://127.0.0.1:${replica.port}/metrics`);
    return response.text();
  }

  beforeAll(async () => {
    cluster = await startSimCluster();
    coordination = kubeConfigFor(cluster.kubeconfigPath).makeApiClient(k8s.CoordinationV1Api);
    await kubectlOk(cluster.kubeconfigPath, ['apply', '-f', CRD_PATH]);
  });
  afterAll(async () => {
    for (const replica of replicas) if (replica.child.exitCode === null) replica.child.kill('SIGKILL');
    await cluster?.close();
  });

  it('refuses a cluster domain that is not a DNS domain', () => {
    const result = spawnSync(process.execPath, [MAIN, 'operator', '--kubeconfig', cluster.kubeconfigPath, '--cluster-domain', 'Corp_Example.'], { encoding: 'utf8', timeout: 30_000 });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('"Corp_Example." is not a DNS domain such as cluster.local');
  });

  it('lets one replica lead, reconcile a FloCluster to Ready, and hands over on SIGTERM', async () => {
    const kc = cluster.kubeconfigPath;
    const [a, b] = [await startReplica('op-a'), await startReplica('op-b')];
    const holder = await waitFor('a Lease holder', async () => {
      try {
        return (await coordination.readNamespacedLease({ name: 'flo-operator', namespace: 'default' })).spec?.holderIdentity || undefined;
      } catch {
        return undefined;
      }
    });
    const leader = holder === 'op-a' ? a : b;
    const standby = leader === a ? b : a;
    await waitFor('metrics served', async () => (await metrics(standby)).includes('flo_operator_leader'));
    await kubectlOk(kc, ['apply', '-f', '-'], 'apiVersion: flo.dev/v1alpha1\nkind: FloCluster\nmetadata: {name: cli}\nspec: {replicas: 1}\n');
    expect((await kubectl(kc, ['wait', '--for=condition=Ready', 'flocluster/cli', '--timeout=40s'])).stdout).toContain('condition met');
    expect(await metrics(leader)).toMatch(/flo_operator_leader 1/);
    expect(await metrics(leader)).toMatch(/flo_operator_reconcile_total\{result="success"\} [1-9]/);
    expect(await metrics(standby)).toMatch(/flo_operator_leader 0/);
    leader.child.kill('SIGTERM');
    expect(await leader.exit).toBe(0);
    await waitFor('the standby to lead', async () => (await metrics(standby)).includes('flo_operator_leader 1'), 10_000);
    await kubectlOk(kc, ['delete', 'configmap', 'cli-config']);
    await waitFor('the new leader repairs', async () => (await kubectl(kc, ['get', 'configmap', 'cli-config'])).code === 0, 20_000);
    standby.child.kill('SIGTERM');
    expect(await standby.exit).toBe(0);
  });
});
