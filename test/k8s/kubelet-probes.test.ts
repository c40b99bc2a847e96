// The simulated kubelet honours startup probes as a node does: liveness and readiness
// wait until the startup probe has passed, so a slow starter is not killed by liveness.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimCluster, type SimCluster } from './cluster.js';
import { kubectlOk, waitFor } from './helpers.js';

/** Listens on the address in argv[1] after argv[2] ms: a process that is slow to start. */
const SLOW_SERVER = "setTimeout(() => require('node:http').createServer((_, res) => res.end('ok')).listen(8080, process.argv[1]), Number(process.argv[2]))";

function pod(name: string, startup: boolean): string {
  const liveness = '{httpGet: {path: /, port: 8080}, periodSeconds: 1, failureThreshold: 1}';
  return `apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  containers:
  - name: c
    image: example/slow:1
    args: ["0.0.0.0", "1500"]
    ports: [{containerPort: 8080}]
    livenessProbe: ${liveness}
    readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
${startup ? '    startupProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1, failureThreshold: 100}\n' : ''}`;
}

describe('simulated kubelet probes', () => {
  let cluster: SimCluster;
  let kc: string;
  const restarts = async (name: string): Promise<number> => Number(await kubectlOk(kc, ['get', 'pod', name, '-o', 'jsonpath={.status.containerStatuses[0].restartCount}']) || 0);

  beforeAll(async () => {
    cluster = await startSimCluster({ entrypoint: (image) => (image === 'example/slow:1' ? [process.execPath, '-e', SLOW_SERVER] : undefined) });
    kc = cluster.kubeconfigPath;
  });
  afterAll(async () => { await cluster.close(); });

  it('kills a slow starter through liveness without a startup probe', async () => {
    await kubectlOk(kc, ['apply', '-f', '-'], pod('impatient', false));
    await waitFor('a liveness restart', async () => await restarts('impatient') >= 1);
  });

  it('lets a slow starter start when a startup probe holds liveness back', async () => {
    await kubectlOk(kc, ['apply', '-f', '-'], pod('patient', true));
    await kubectlOk(kc, ['wait', '--for=condition=Ready', 'pod/patient', '--timeout=20s']);
    expect(await restarts('patient')).toBe(0);
  });
});
