// A real broker process on a tmpfs of a few MiB: fill the disk until a write
// fails, free space, and check that it still refuses (fail stop, not 201) and
// is not ready; restart it (after SIGTERM or SIGKILL) and check that every event
// that got a 201 is readable under its id and that no id is handed out twice.
import { rm, statfs, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { connect } from '../../src/client/index.js';
import { startServer, type ServerProcess } from '../support/server-process.js';
import { mountSmallDisk } from '../support/tmpfs.js';

async function produce(url: string, namespace: string, data: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ namespace, data }) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('a full disk', () => {
  it.for(['SIGTERM', 'SIGKILL'] as const)('stops acknowledging at the first failed write, stays stopped once space is freed, and keeps every acknowledged event across a %s restart', async (signal, context) => {
    const disk = await mountSmallDisk(4 * 1024 * 1024);
    if ('skipped' in disk) return context.skip(disk.skipped);
    const { dataDir, filler } = disk;
    const servers: ServerProcess[] = [];
    try {
      const server = await startServer(dataDir, ['--partitions', '2']);
      servers.push(server);
      const acknowledged = new Map<string, string>();
      let refused: { status: number; body: Record<string, unknown> } | undefined;
      for (let i = 0; i < 2000 && !refused; i++) {
        const data = `${i}:${'d'.repeat(8 * 1024)}`;
        const answer = await produce(server.url, `/disk/${i % 5}`, data);
        if (answer.status === 201) acknowledged.set(String(answer.body.id), data);
        else refused = answer;
      }
      expect(acknowledged.size).toBeGreaterThan(10);
      expect(refused).toMatchObject({ status: 503, body: { code: 'FLO_ERR_STORAGE_FAILED', retryable: false } });
      await rm(filler);
      for (let i = 0; i < 5; i++) expect((await produce(server.url, '/disk/later', 'x')).status).toBe(503);
      const ready = await fetch(`${server.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ code: 'FLO_ERR_STORAGE_FAILED' });
      await server.stop(signal);

      const restarted = await startServer(dataDir);
      servers.push(restarted);
      const reader = await connect(restarted.url);
      const stored = new Map<string, string>();
      try {
        for await (const event of reader.subscribe({ from: 'earliest', follow: false })) stored.set(event.id, event.text());
      } finally {
        await reader.close();
      }
      for (const [id, data] of acknowledged) expect(stored.get(id), `acknowledged ${id}`).toBe(data);
      for (let i = 0; i < 5; i++) {
        const answer = await produce(restarted.url, `/disk/${i}`, 'after the restart');
        expect(answer.status).toBe(201);
        expect(stored.has(String(answer.body.id)), `${String(answer.body.id)} was handed out before`).toBe(false);
      }
    } finally {
      for (const server of servers) await server.stop('SIGKILL');
      await disk.unmount();
    }
  });

  it('refuses a restart that has no room to turn its log into a table with a message naming the full disk, and starts with every event once space is freed', async (context) => {
    const disk = await mountSmallDisk();
    if ('skipped' in disk) return context.skip(disk.skipped);
    const { dataDir, filler } = disk;
    const servers: ServerProcess[] = [];
    try {
      const server = await startServer(dataDir, ['--partitions', '1']);
      servers.push(server);
      const acknowledged = new Set<string>();
      // 2 MB of events: each is written twice (the Raft log, then the event store on apply), and the
      // restart needs about the LevelDB log's size again to turn it into a table.
      for (let i = 0; i < 20; i++) {
        const events = Array.from({ length: 100 }, (_, k) => ({ namespace: '/disk/log', data: `${i}-${k}-${'d'.repeat(1000)}` }));
        const response = await fetch(`${server.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events) });
        expect(response.status).toBe(201);
        for (const id of ((await response.json()) as { ids: string[] }).ids) acknowledged.add(id);
      }
      await server.stop('SIGKILL');
      const free = await statfs(disk.path);
      await writeFile(filler, Buffer.alloc(Math.max(0, free.bavail * free.bsize - 1024 * 1024)));
      // classic-level's own message is only "Database failed to open"; LevelDB's cause says why.
      await expect(startServer(dataDir)).rejects.toThrow(/No space left on device/);
      await rm(filler);
      const restarted = await startServer(dataDir);
      servers.push(restarted);
      const page = (await (await fetch(`${restarted.url}/v1/events?from=earliest&limit=10000`)).json()) as { events: Array<{ id: string }> };
      expect(new Set(page.events.map((event) => event.id))).toEqual(acknowledged);
    } finally {
      for (const server of servers) await server.stop('SIGKILL');
      await disk.unmount();
    }
  });
});
