// The `flo` CLI as users run it: real processes, real broker.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_PATH, freePort, startServer, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/temp.js';

let dir: Awaited<ReturnType<typeof tempDir>>;
let server: ServerProcess;

beforeAll(async () => {
  dir = await tempDir();
  server = await startServer(dir.path);
});
afterAll(async () => {
  await server?.stop();
  await dir.remove();
});

function flo(args: string[], stdin?: string, env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], { env: { ...process.env, FLO_URL: server.url, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

describe('flo CLI', () => {
  it('produces one event and prints its id', async () => {
    const result = await flo(['produce', '-n', '/food/breakfast/eggs', '-d', 'I made some eggs']);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toMatch(/^[0-9a-f]{4}-[0-9a-f]{13}$/);
  });

  it('produces one event per stdin line, printing ids in order', async () => {
    const result = await flo(['produce', '-n', '/food/lunch'], 'soup\nbread\ncheese\n');
    expect(result.code).toBe(0);
    const ids = result.stdout.trim().split('\n');
    expect(ids).toHaveLength(3);
    const consumed = await flo(['consume', '-n', '/food/lunch', '--json']);
    const events = consumed.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, string>);
    expect(events.map((event) => [event.id, event.data])).toEqual([[ids[0], 'soup'], [ids[1], 'bread'], [ids[2], 'cheese']]);
    expect(Object.keys(events[0]!).sort()).toEqual(['data', 'id', 'namespace', 'timestamp']);
  });

  it('reports a bad stdin line, prints every id that was stored, and exits non-zero', async () => {
    const input = ['one', 'two', 'x'.repeat(2 * 1024 * 1024), 'four'].join('\n') + '\n';
    const result = await flo(['produce', '-n', '/cli/partial'], input);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^flo: line 3: .*FLO_ERR_EVENT_TOO_LARGE/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    const printed = result.stdout.trim().split('\n').filter(Boolean);
    const stored = await flo(['consume', '-n', '/cli/partial', '--json']);
    const storedIds = stored.stdout.trim().split('\n').filter(Boolean).map((line) => (JSON.parse(line) as { id: string }).id);
    expect(printed).toEqual(storedIds);
    expect(printed.length).toBeGreaterThanOrEqual(2);
  });

  it('prints events in the classic format and stops at the end of the stream', async () => {
    const result = await flo(['consume', '-n', '/food/breakfast/**']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^EventId: [0-9a-f-]+\nNamespace: \/food\/breakfast\/eggs\nTimestamp: .+Z\nI made some eggs\n/);
  });

  it('rewinds by time and by --limit', async () => {
    const result = await flo(['consume', '--from', '2000-01-01T00:00:00Z', '--limit', '1', '--json']);
    expect(result.code).toBe(0);
    expect(result.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('sets parentId with --parent', async () => {
    const request = (await flo(['produce', '-n', '/rpc/q', '-d', 'ping'])).stdout.trim();
    await flo(['produce', '-n', '/rpc/a', '-d', 'pong', '--parent', request]);
    const answer = JSON.parse((await flo(['consume', '-n', '/rpc/a', '--json'])).stdout) as Record<string, string>;
    expect(answer.parentId).toBe(request);
  });

  it.each([
    [['consume', '-n', 'food'], /glob "food" must start with "\/".*FLO_ERR_GLOB_INVALID/],
    [['produce', '-n', 'food', '-d', 'x'], /FLO_ERR_NAMESPACE_INVALID/],
    [['consume', '--from', 'whenever'], /FLO_ERR_POSITION_INVALID/],
    [['consume', '--limit', 'ten'], /expected a positive whole number/],
    [['produce', '-d', 'x'], /required option '-n, --namespace/],
  ])('fails %j with one line and a non-zero exit', async (args, message) => {
    const result = await flo(args);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('says clearly when no broker is reachable', async () => {
    const result = await flo(['produce', '-n', '/a', '-d', 'x'], undefined, { FLO_URL: `http://127.0.0.1:${await freePort()}` });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/cannot reach the broker at .*FLO_ERR_CONNECTION/);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });

  it.each([['server'], ['produce'], ['consume'], ['cluster', 'status'], []])('has --help for %j', async (...command) => {
    const result = await flo([...command.flat(), '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Usage: flo/);
  });

  it('prints cluster status', async () => {
    const result = await flo(['cluster', 'status']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/mode: single-node/);
    const partitionLines = result.stdout.split('\n').filter((line) => /^\s+\d+\s+flo-/.test(line));
    expect(partitionLines).toHaveLength(8);
    // Each partition's Raft group: a one-voter group is its own leader, in some term, with a commit index,
    // and its one replica (member 1) with no lag.
    for (const line of partitionLines) expect(line).toMatch(/\s{2}leader\s+\d+\s+\d+\s+1\(0\)$/);
  });

  it('refuses a server start that changes the partition count of a data dir', async () => {
    const serverFlags = ['server', '-p', '0', '--partitions', '3', '--log-level', 'silent'];
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [CLI_PATH, ...serverFlags, '-d', dir.path]);
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('close', (code) => resolve({ code, stderr }));
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/is another flo server using it/);
    const other = await tempDir();
    try {
      const first = await startServer(other.path);
      await first.stop();
      const refused = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [CLI_PATH, ...serverFlags, '-d', other.path]);
        let stderr = '';
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.on('close', (code) => resolve({ code, stderr }));
      });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/created with 8 partitions; --partitions 3 cannot change that/);
    } finally {
      await other.remove();
    }
  });
});
