// `npm run k8s:sim`: the playground prints a KUBECONFIG that works, and Ctrl-C stops it
// together with every broker process it started.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { BROKER_MAIN } from './cluster.js';
import { REPO } from './helm.js';
import { kubectl, kubectlOk, waitFor } from './helpers.js';

function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, host);
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

describe.skipIf(!existsSync(BROKER_MAIN))('k8s:sim playground', () => {
  it('serves kubectl with the operator running, and Ctrl-C stops every broker it started', async () => {
    const child = spawn(`${REPO}node_modules/.bin/tsx`, [`${REPO}test/k8s/playground.ts`], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    try {
      const kc = await waitFor('the KUBECONFIG line', () => /export KUBECONFIG=(\S+)/.exec(output)?.[1], 30_000);
      await kubectlOk(kc, ['apply', '-f', `${REPO}manifests/examples/small.yaml`]);
      expect((await kubectl(kc, ['wait', '--for=condition=Ready', 'flocluster/small', '--timeout=40s'])).stdout).toContain('condition met');
      const ip = await kubectlOk(kc, ['get', 'pod', 'small-0', '-o', 'jsonpath={.status.podIP}']);
      expect(await reachable(ip, 3000)).toBe(true);
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(await reachable(ip, 3000)).toBe(false);
      expect(existsSync(kc)).toBe(false);
    } finally {
      // On failure, end the playground's whole process group (tsx, its node child, their brokers).
      if (child.exitCode === null && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    }
  });
});
