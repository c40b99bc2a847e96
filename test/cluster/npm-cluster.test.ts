// `npm run cluster` (scripts/cluster.ts): starts three brokers, prints their
// URLs once formed, outlives a kill -9 of one (restarting it), and on SIGINT
// stops every broker it started.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir, waitFor } from '../support/temp.js';
import { postEvents, readAll } from './http.js';

const SCRIPT = fileURLToPath(new URL('../../scripts/cluster.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PEER_PORT_OFFSET = 1000;

let dir: Awaited<ReturnType<typeof tempDir>>;
let script: ChildProcess | undefined;
const brokerPids: number[] = [];

beforeAll(async () => {
  dir = await tempDir('flo-npm-cluster-');
});
afterAll(async () => {
  // Only if the test failed half-way: nothing it started may outlive it.
  if (script?.exitCode === null) script.kill('SIGKILL');
  for (const pid of brokerPids) if (isRunning(pid)) process.kill(pid, 'SIGKILL');
  await dir?.remove();
});

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** A base port whose three HTTP ports and three peer ports (base + 1000 …) are all free now. */
async function freeBasePort(brokers: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    const ports = Array.from({ length: brokers }, (_, i) => [base + i, base + PEER_PORT_OFFSET + i]).flat();
    if ((await Promise.all(ports.map(isPortFree))).every(Boolean)) return base;
  }
  throw new Error('no free run of ports found');
}

describe('npm run cluster', () => {
  it('starts three brokers, prints their URLs, restarts one killed with -9 while the others go on, and stops all of them on SIGINT', async () => {
    const basePort = await freeBasePort(3);
    const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, '--base-port', String(basePort), '--data-dir', dir.path], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    script = child;
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

    const listed = await waitFor(() => {
      if (child.exitCode !== null) throw new Error(`npm run cluster exited early (${child.exitCode}):\n${output}`);
      const brokers = [...output.matchAll(/^ {2}broker (\d) {2}(http:\/\/127\.0\.0\.1:\d+) .* pid (\d+) /gm)];
      return brokers.length === 3 && output.includes('cluster status --url') ? brokers : false;
    }, 'the cluster URLs', 45_000);
    const urls = listed.map((match) => match[2]!);
    brokerPids.push(...listed.map((match) => Number(match[3])));
    expect(urls).toEqual([0, 1, 2].map((i) => `http://127.0.0.1:${basePort + i}`));
    // Every broker's log lines carry its id.
    for (const id of [1, 2, 3]) expect(output).toMatch(new RegExp(`^\\[broker ${id}\\] `, 'm'));

    const produced = await postEvents(urls[0]!, { events: [{ namespace: '/demo/a', data: 'one' }, { namespace: '/demo/b', data: 'two' }] });
    expect(produced.status, JSON.stringify(produced.body)).toBe(201);
    const ids = (produced.body as { ids: string[] }).ids;
    const read = await waitFor(async () => {
      const page = await readAll(urls[1]!, { namespace: '/demo/**' });
      return page.events.length === 2 ? page.events : false;
    }, 'broker 2 to serve what broker 1 took');
    expect(read.map((e) => [e.id, e.data]).sort()).toEqual([[ids[0], 'one'], [ids[1], 'two']].sort());

    // kill -9 of one broker (the failover demo): the others go on, and it is started again and catches up.
    const victim = brokerPids[0]!;
    process.kill(victim, 'SIGKILL');
    await waitFor(() => /broker 1 \(pid \d+\) exited \(SIGKILL\): the others go on/.test(output), 'the script to report the kill', 10_000);
    const during = await postEvents(urls[1]!, { events: [{ namespace: '/demo/a', data: 'three' }] });
    expect(during.status, JSON.stringify(during.body)).toBe(201);
    for (const pid of brokerPids.slice(1)) expect(isRunning(pid), `broker pid ${pid} stopped with broker 1`).toBe(true);
    const restarted = await waitFor(() => /broker 1 started again \(pid (\d+)/.exec(output)?.[1], 'broker 1 to be started again', 20_000);
    brokerPids.push(Number(restarted));
    await waitFor(async () => {
      const page = await readAll(urls[0]!, { namespace: '/demo/**' }).catch(() => undefined);
      return page?.events.length === 3;
    }, 'the restarted broker 1 to serve the event taken while it was down', 45_000);

    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(output).toContain('every broker stopped');
    for (const pid of brokerPids) expect(isRunning(pid), `broker pid ${pid} still running`).toBe(false);
  });
});
