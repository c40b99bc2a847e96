// --url and FLO_URL take a comma-separated list of brokers: the commands use the
// first that answers, so a list whose first broker is down still works. One real
// broker and a port nobody listens on stand for a cluster with a broker down.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_PATH, freePort, startServer, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/temp.js';

let dir: Awaited<ReturnType<typeof tempDir>>;
let server: ServerProcess;
let dead: string;

beforeAll(async () => {
  dir = await tempDir();
  server = await startServer(dir.path);
  dead = `127.0.0.1:${await freePort()}`;
});
afterAll(async () => {
  await server?.stop();
  await dir.remove();
});

function flo(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], { env: { ...process.env, FLO_URL: '', FLO_TOKEN: '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end();
  });
}

describe('a list of broker URLs', () => {
  it('produces and consumes through the first broker that answers, from --url', async () => {
    const urls = `${dead},${server.url}`;
    const produced = await flo(['produce', '--url', urls, '-n', '/list/a', '-d', 'via the second broker']);
    expect(produced.stderr).toBe('');
    expect(produced.code).toBe(0);
    const consumed = await flo(['consume', '--url', urls, '-n', '/list/**', '--json']);
    expect(consumed.code).toBe(0);
    expect(JSON.parse(consumed.stdout.trim())).toMatchObject({ id: produced.stdout.trim(), namespace: '/list/a', data: 'via the second broker' });
  });

  it('is read from FLO_URL too', async () => {
    const result = await flo(['cluster', 'status'], { FLO_URL: ` ${dead} , ${server.url.replace('http://', '')} ` });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^mode: single-node/);
  });

  it('names every broker it tried when none answers', async () => {
    const other = `127.0.0.1:${await freePort()}`;
    const result = await flo(['cluster', 'status', '--url', `${dead},${other}`]);
    expect(result.code).not.toBe(0);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(`http://${dead}`);
    expect(result.stderr).toContain(`http://${other}`);
  });

  it('refuses a list with a URL of another scheme in one clear line', async () => {
    const result = await flo(['produce', '--url', `${server.url},ftp://flo.example`, '-n', '/a', '-d', 'x']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/ftp:\/\/flo\.example.*must start with http:\/\/ or https:\/\//);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
