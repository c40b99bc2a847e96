// The CLI when the broker goes away: a tail waits and resumes, produce streams
// its ids as they are acknowledged and says once which line failed. Real
// broker processes, stopped and restarted by PID under a running CLI process.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/index.js';
import { CLI_PATH, freePort, startServer, type ServerProcess } from '../support/server-process.js';
import { tempDir, waitFor } from '../support/temp.js';

interface RunningCli {
  child: ChildProcessWithoutNullStreams;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

function startCli(args: string[], url: string): RunningCli {
  const child = spawn(process.execPath, [CLI_PATH, ...args], { env: { ...process.env, FLO_URL: url } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  cleanup.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

async function broker(port?: number, dataDir?: string): Promise<{ server: ServerProcess; dataDir: string }> {
  let dir = dataDir;
  if (dir === undefined) {
    const temp = await tempDir();
    cleanup.push(() => temp.remove());
    dir = temp.path;
  }
  const server = await startServer(dir, [], port);
  cleanup.push(() => server.stop('SIGKILL'));
  return { server, dataDir: dir };
}

async function produceValues(url: string, values: string[]): Promise<void> {
  const client = await connect(url);
  await client.produceBatch(values.map((data) => ({ namespace: '/tail/a', data })));
  await client.close();
}

const jsonLines = (text: string): Array<{ id: string; data: string }> => text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { id: string; data: string });

describe('flo consume -t across a broker restart', () => {
  it('keeps running, says it is retrying, and prints the events produced after the restart with no gap and no duplicate', async () => {
    const first = await broker();
    await produceValues(first.server.url, ['0', '1', '2']);
    const tail = startCli(['consume', '-t', '--json', '-n', '/tail/**'], first.server.url);
    await waitFor(() => jsonLines(tail.stdout()).length === 3, 'the first three events', 30_000);

    expect(await first.server.stop('SIGTERM')).toBe(0);
    await waitFor(() => /broker unreachable.*, retrying in \d+(\.\d)?s…/.test(tail.stderr()), 'a retry message on stderr');
    expect(tail.child.exitCode).toBeNull();

    const second = await broker(first.server.port, first.dataDir);
    await produceValues(second.server.url, ['3', '4', '5']);
    await waitFor(() => jsonLines(tail.stdout()).length >= 6, 'the events produced after the restart', 30_000);
    await waitFor(() => tail.stderr().includes('reconnected'), 'a reconnected message');

    tail.child.kill('SIGINT');
    expect(await tail.exited).toBe(0);
    const events = jsonLines(tail.stdout());
    expect(events.map((event) => event.data)).toEqual(['0', '1', '2', '3', '4', '5']);
    expect(new Set(events.map((event) => event.id)).size).toBe(6);
  });
});

describe('flo consume -t started before its broker', () => {
  it('waits for the broker, saying so, and prints what is produced once it is up', async () => {
    const port = await freePort();
    const tail = startCli(['consume', '-t', '--json', '-n', '/early/**'], `http://127.0.0.1:${port}`);
    await waitFor(() => /broker unreachable \(ECONNREFUSED\), retrying in/.test(tail.stderr()), 'a retry message on stderr');
    const { server } = await broker(port);
    const client = await connect(server.url);
    await client.produce({ namespace: '/early/a', data: 'hello' });
    await client.close();
    // The CLI's backoff has grown to seconds by the time a slow broker is up: allow for one more round.
    await waitFor(() => jsonLines(tail.stdout()).length === 1, 'the event', 30_000);
    expect(jsonLines(tail.stdout())[0]!.data).toBe('hello');
    tail.child.kill('SIGINT');
    expect(await tail.exited).toBe(0);
  });
});

describe('flo produce from stdin', () => {
  it('prints each id as soon as it is acknowledged, and on Ctrl-C has printed every id it stored', async () => {
    const { server } = await broker();
    const producer = startCli(['produce', '-n', '/stream/a'], server.url);
    producer.child.stdin.write('one\ntwo\nthree\n');
    // stdin stays open: the ids must come out now, not when 2,000 lines have been read or stdin ends.
    await waitFor(() => producer.stdout().trim().split('\n').filter(Boolean).length === 3, 'three ids while stdin is still open');
    producer.child.kill('SIGINT');
    expect(await producer.exited).toBe(130);
    expect(producer.stderr()).toMatch(/^flo: interrupted; 3 events stored/);
    const reader = await connect(server.url);
    const page = await reader.read({ namespace: '/stream/**' });
    await reader.close();
    expect(producer.stdout().trim().split('\n')).toEqual(page.events.map((event) => event.id));
  });

  it('names the first failed line once when the broker dies under it, and exits non-zero', async () => {
    const { server } = await broker();
    const producer = startCli(['produce', '-n', '/dies/a'], server.url);
    producer.child.stdin.write('before\n');
    await waitFor(() => producer.stdout().trim().length > 0, 'the first id');
    await server.stop('SIGKILL');
    producer.child.stdin.end(Array.from({ length: 50 }, (_, i) => `after ${i}`).join('\n') + '\n');
    expect(await producer.exited).toBe(1);
    const lines = producer.stderr().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^flo: line 2: .*\(FLO_ERR_CONNECTION\)$/);
    expect(lines[0]).not.toMatch(/line \d+: line/);
  });
});
