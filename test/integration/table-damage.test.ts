// A damaged LevelDB table under a real broker process. The bundled LevelDB
// does not verify block checksums on reads, and a zeroed page it parses trips
// a C++ assertion that aborts the process (SIGABRT, no message), e.g. a zeroed
// 4 KiB page at the start of a data block (other pages gave a clean refusal,
// or wrong data that our group checksum caught). The broker
// checks every table block's CRC-32C before LevelDB reads it, so it refuses
// with a message instead.
import { spawn } from 'node:child_process';
import { open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLI_PATH, freePort, startServer } from '../support/server-process.js';
import { tempDir } from '../support/temp.js';

let dir: Awaited<ReturnType<typeof tempDir>>;
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  await dir.remove();
});

/** Runs `flo server` until it exits by itself or answers /readyz; stops it in the second case. */
async function startOrRefuse(dataDir: string, extraArgs: string[] = []): Promise<{ started: boolean; code: number | null; signal: string | null; output: string }> {
  const port = await freePort();
  const child = spawn(process.execPath, [CLI_PATH, 'server', '-d', dataDir, '-p', String(port), '--log-level', 'warn', ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const deadline = Date.now() + 20_000;
  while (child.exitCode === null && child.signalCode === null && Date.now() < deadline) {
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then((response) => response.ok, () => false);
    if (ready) {
      child.kill('SIGTERM');
      return { started: true, ...(await exited), output };
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  return { started: false, ...(await exited), output };
}

async function readEverything(url: string): Promise<Map<string, string>> {
  const response = await fetch(`${url}/v1/events?from=earliest&limit=10000`);
  const body = (await response.json()) as { events: Array<{ id: string; data: string }> };
  return new Map(body.events.map((event) => [event.id, event.data]));
}

describe('a table file with a zeroed page', () => {
  it('is refused with a message instead of aborting the process, opens intact once the page is back, and --recover-store serves only what verifies', async () => {
    const dataDir = join(dir.path, 'data');
    const server = await startServer(dataDir, ['--partitions', '1']);
    const acknowledged = new Map<string, string>();
    for (let commit = 0; commit < 4; commit++) {
      const events = Array.from({ length: 500 }, (_, i) => ({ namespace: `/table/${i % 5}`, data: `event-${commit}-${i}-${'p'.repeat(200)}` }));
      const response = await fetch(`${server.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events) });
      expect(response.status).toBe(201);
      ((await response.json()) as { ids: string[] }).ids.forEach((id, i) => acknowledged.set(id, events[i]!.data));
    }
    await server.stop('SIGTERM');
    // The restart turns LevelDB's log into a table.
    expect((await startOrRefuse(dataDir)).started).toBe(true);
    const [table] = (await readdir(dataDir)).filter((name) => name.endsWith('.ldb'));
    const path = join(dataDir, table!);
    // The table's first page: the start of its first data block, whose zeroed entries LevelDB parses as keys of 0 bytes.
    const at = 0;
    const original = (await readFile(path)).subarray(at, at + 4096);
    const file = await open(path, 'r+');
    await file.write(Buffer.alloc(4096), 0, 4096, at);
    await file.close();

    const refused = await startOrRefuse(dataDir);
    expect(refused.signal, refused.output).toBeNull();
    expect(refused).toMatchObject({ started: false, code: 1 });
    expect(refused.output).toMatch(new RegExp(`LevelDB table ${table}: a block at \\d+ fails its checksum.*FLO_ERR_STORAGE_CORRUPT`));

    const restored = await open(path, 'r+');
    await restored.write(original, 0, original.length, at);
    await restored.close();
    const intact = await startServer(dataDir);
    try {
      expect(await readEverything(intact.url)).toEqual(acknowledged);
    } finally {
      await intact.stop('SIGTERM');
    }
  });
});
