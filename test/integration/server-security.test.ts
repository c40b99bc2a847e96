// `flo server` as users start it: tokens from --auth-tokens-file and FLO_AUTH_TOKENS,
// and the one-line failures of a busy port and a malformed token file.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLI_PATH, startServer, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/temp.js';

let dir: Awaited<ReturnType<typeof tempDir>>;
let server: ServerProcess | undefined;

beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  await server?.stop();
  server = undefined;
  delete process.env.FLO_AUTH_TOKENS;
  await dir.remove();
});

const WRITE = 'cli-write-token-0123456789';
const READ = 'cli-read-token-0123456789';

async function statusOf(url: string, token?: string, init: RequestInit = {}): Promise<number> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  return (await fetch(url, { ...init, headers })).status;
}

/** Runs `flo server` expected to fail at start-up; resolves with its exit code and output. */
function failedStart(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [CLI_PATH, 'server', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FLO_PRETTY: '' } });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  return new Promise((resolve) => child.once('exit', (code) => {
    clearTimeout(timer);
    resolve({ code, stderr });
  }));
}

describe('flo server authentication flags', () => {
  it('reads role:token lines from --auth-tokens-file', async () => {
    const file = join(dir.path, 'tokens');
    await writeFile(file, `# test tokens\nwrite:${WRITE}\nread:${READ}\n`);
    server = await startServer(join(dir.path, 'data'), ['--auth-tokens-file', file]);
    expect(await statusOf(`${server.url}/v1/events`)).toBe(401);
    expect(await statusOf(`${server.url}/v1/events`, READ)).toBe(200);
    const body = JSON.stringify({ namespace: '/cli/x', data: 'x' });
    expect(await statusOf(`${server.url}/v1/events`, READ, { method: 'POST', body })).toBe(403);
    expect(await statusOf(`${server.url}/v1/events`, WRITE, { method: 'POST', body })).toBe(201);
    expect(await statusOf(`${server.url}/v1/admin/retention`, WRITE)).toBe(403);
  });

  it('reads comma-separated tokens from FLO_AUTH_TOKENS', async () => {
    process.env.FLO_AUTH_TOKENS = `read:${READ},admin:cli-admin-token-0123456789`;
    server = await startServer(join(dir.path, 'data'));
    expect(await statusOf(`${server.url}/v1/admin/retention`)).toBe(401);
    expect(await statusOf(`${server.url}/v1/admin/retention`, READ)).toBe(403);
    expect(await statusOf(`${server.url}/v1/admin/retention`, 'cli-admin-token-0123456789')).toBe(200);
  });

  it('stops with one line naming the entry, not the token, when the file is malformed', async () => {
    const file = join(dir.path, 'tokens');
    await writeFile(file, 'read:short\n');
    const { code, stderr } = await failedStart(['-d', join(dir.path, 'data'), '-p', '0', '--auth-tokens-file', file]);
    expect(code).not.toBe(0);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/entry 1.*FLO_ERR_CONFIG_INVALID/);
  });
});

describe('flo server on a port that is taken', () => {
  it('exits with one line, FLO_ERR_ADDRESS_IN_USE, and leaves no data dir behind', async () => {
    const occupier = createServer();
    await new Promise<void>((resolve) => occupier.listen(0, '127.0.0.1', resolve));
    const port = (occupier.address() as { port: number }).port;
    try {
      const dataDir = join(dir.path, 'data');
      const { code, stderr } = await failedStart(['-d', dataDir, '-p', String(port)]);
      expect(code).toBe(1);
      expect(stderr).toBe(`flo: port ${port} on 127.0.0.1 is in use: is another flo server running? (FLO_ERR_ADDRESS_IN_USE)\n`);
      expect(existsSync(dataDir)).toBe(false);
    } finally {
      await new Promise((resolve) => occupier.close(resolve));
    }
  });
});
