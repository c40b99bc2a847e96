// `flo server` refuses a wrong cluster setup with one line on stderr and a
// non-zero exit, before it changes the data dir: a one-broker data dir started
// with --peers, a cluster member's data dir started without, --peers without
// --node-id, a bad --peers entry, a cluster-only flag without --peers.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster, distinctFreePorts } from '../support/cluster.js';
import { CLI_PATH, freePort, startServer } from '../support/server-process.js';
import { tempDir } from '../support/temp.js';
import { postEvents } from './http.js';

let dir: Awaited<ReturnType<typeof tempDir>>;

beforeAll(async () => {
  dir = await tempDir('flo-flags-');
});
afterAll(async () => {
  await dir?.remove();
});

/** A refused start exits at once; this only bounds a start that wrongly goes on running. */
const REFUSAL_TIMEOUT_MS = 15_000;

async function runServer(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string; timedOut: boolean }> {
  // A pod name without an ordinal, whatever this machine's HOSTNAME is (--ordinal-node-id reads it).
  const child = spawn(process.execPath, [CLI_PATH, 'server', '--log-level', 'warn', ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, FLO_PRETTY: '', FLO_POD_NAME: 'flo', ...env } });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, REFUSAL_TIMEOUT_MS);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
  clearTimeout(timer);
  return { code, stderr, timedOut };
}

/** Exactly one line naming what is wrong (`flo: …`, or commander's `error: …` for a value its parser refused), and a failing exit code. */
function expectOneLineRefusal(result: Awaited<ReturnType<typeof runServer>>, pattern: RegExp): void {
  expect(result.timedOut, 'the broker kept running instead of refusing').toBe(false);
  expect(result.code).not.toBe(0);
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^(flo|error): /);
  expect(lines[0]).toMatch(pattern);
}

describe('flo server cluster flags', () => {
  it('refuses a one-broker data dir started with --peers, and leaves it as it was', async () => {
    const dataDir = join(dir.path, 'single');
    const single = await startServer(dataDir);
    expect((await postEvents(single.url, { namespace: '/kept', data: 'x' })).status).toBe(201);
    expect(await single.stop()).toBe(0);
    const [peer1, peer2, http] = await distinctFreePorts(3);
    const result = await runServer(['--node-id', '1', '-d', dataDir, '-p', String(http), '--peer-port', String(peer1), '--peers', `127.0.0.1:${peer1},127.0.0.1:${peer2}`]);
    expectOneLineRefusal(result, /not a cluster member.*FLO_ERR_DATA_DIR_MISMATCH/);
    expect(existsSync(join(dataDir, 'cluster.json'))).toBe(false);
    // Still the one-broker store it was.
    const again = await startServer(dataDir);
    const read = (await (await fetch(`${again.url}/v1/events`)).json()) as { events: Array<{ data: string }> };
    expect(read.events.map((e) => e.data)).toEqual(['x']);
    expect(await again.stop()).toBe(0);
  });

  it('refuses a cluster member\'s data dir started without --peers', async () => {
    const cluster = await TestCluster.start({ brokers: 3 });
    try {
      const member = cluster.broker(1);
      await cluster.stop(1);
      const membership = readFileSync(join(member.dataDir, 'cluster.json'), 'utf8');
      const [http] = await distinctFreePorts(1);
      const result = await runServer(['-d', member.dataDir, '-p', String(http)]);
      expectOneLineRefusal(result, /belongs to cluster .*--node-id and --peers.*FLO_ERR_DATA_DIR_MISMATCH/);
      expect(readFileSync(join(member.dataDir, 'cluster.json'), 'utf8')).toBe(membership);
      // The member itself comes back with its flags.
      cluster.restart(1);
      await cluster.waitFormed();
    } finally {
      await cluster.close();
    }
  });

  it.each([
    { name: '--peers without --node-id', args: ['--peers', '127.0.0.1:4001,127.0.0.1:4002'], pattern: /--peers needs --node-id/ },
    { name: 'a --peers entry without a port', args: ['--node-id', '1', '--peers', '127.0.0.1,127.0.0.1:4002'], pattern: /--peers: "127\.0\.0\.1" is not host:port/ },
    { name: 'a --peers entry with a port out of range', args: ['--node-id', '1', '--peers', '127.0.0.1:4001,127.0.0.1:99999'], pattern: /"127\.0\.0\.1:99999" is not host:port/ },
    { name: 'a --node-id that is not a positive integer', args: ['--node-id', '0', '--peers', '127.0.0.1:4001'], pattern: /--node-id.*positive whole number/ },
    { name: '--replication-factor without --peers', args: ['--replication-factor', '3'], pattern: /--replication-factor needs --peers/ },
    { name: '--cluster-id without --peers', args: ['--cluster-id', 'prod'], pattern: /--cluster-id needs --peers/ },
    { name: '--catch-up-rate without --peers', args: ['--catch-up-rate', '10Mi'], pattern: /--catch-up-rate needs --peers/ },
    { name: 'a --catch-up-rate too slow for one reply', args: ['--node-id', '1', '--peers', '127.0.0.1:4001', '--catch-up-rate', '1Ki'], pattern: /--catch-up-rate 1024 is below 16384 bytes per second/ },
    { name: 'a --catch-up-rate that is not a size', args: ['--node-id', '1', '--peers', '127.0.0.1:4001', '--catch-up-rate', 'fast'], pattern: /--catch-up-rate.*positive size/ },
    { name: '--rebuild-when-damaged without --join', args: ['--node-id', '1', '--peers', '127.0.0.1:4001', '--rebuild-when-damaged'], pattern: /--rebuild-when-damaged needs --join/ },
    { name: '--ordinal-node-id on a pod name without an ordinal', args: ['--ordinal-node-id', '--peers', '127.0.0.1:4001'], pattern: /--ordinal-node-id: the pod name .* does not end in -<ordinal>/ },
  ])('refuses $name with one line', async ({ args, pattern }) => {
    const dataDir = join(dir.path, `flags-${Math.random().toString(36).slice(2)}`);
    const result = await runServer(['-d', dataDir, ...args]);
    expectOneLineRefusal(result, pattern);
    expect(existsSync(dataDir), 'a refused start created the data dir').toBe(false);
  });

  it('reads a boolean flag\'s variable by its value: false, 0, no and off turn it off', async () => {
    const args = (name: string): string[] => ['-d', join(dir.path, `env-${name}`), '--peers', '127.0.0.1:4001'];
    // Off: the start needs --node-id; on, it would take the id from the pod name (which has no ordinal).
    for (const value of ['false', '0', 'off']) {
      expectOneLineRefusal(await runServer(args(value), { FLO_ORDINAL_NODE_ID: value }), /--peers needs --node-id/);
    }
    expectOneLineRefusal(await runServer(args('true'), { FLO_ORDINAL_NODE_ID: 'true' }), /--ordinal-node-id: the pod name/);
    expectOneLineRefusal(await runServer([...args('rebuild'), '--node-id', '1'], { FLO_REBUILD_WHEN_DAMAGED: '1' }), /--rebuild-when-damaged needs --join/);
  });

  it('names the peer port when it is taken, and the peer host when it is not a local address', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as AddressInfo).port;
    try {
      const taken = await runServer(['-d', join(dir.path, 'peer-busy'), '-p', String(await freePort()), '--node-id', '1', '--peer-port', String(port), '--peers', `127.0.0.1:${port}`]);
      expectOneLineRefusal(taken, new RegExp(`port ${port} on 127\\.0\\.0\\.1 is in use \\(--peer-port\\).*FLO_ERR_ADDRESS_IN_USE`));
    } finally {
      busy.close();
    }
    // Binding to an address this machine does not have sends nothing anywhere: it fails at bind.
    const foreign = await runServer(['-d', join(dir.path, 'peer-foreign'), '-p', String(await freePort()), '--node-id', '1', '--peer-host', '192.0.2.1', '--peer-port', String(await freePort()), '--peers', '127.0.0.1:4999']);
    expectOneLineRefusal(foreign, /cannot listen on 192\.0\.2\.1 \(--peer-host\): no such local address.*FLO_ERR_CONFIG_INVALID/);
  });
});
