// Fail stop: after one failed write (a full disk, on a real tmpfs) the broker
// acknowledges nothing more, even once space is back, and /readyz says why,
// until a restart; after it every acknowledged event is there under its id and
// no id is handed out twice.
import { open, rm } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { Broker } from '../../src/broker/broker.js';
import { parseRetentionRules } from '../../src/broker/partitions/retention.js';
import { silentLogger } from '../support/temp.js';
import { mountSmallDisk } from '../support/tmpfs.js';
import { readAll } from '../support/log.js';

const EVENT_TEXT_BYTES = 16 * 1024;

async function produce(broker: Broker, namespace: string, data: string): Promise<{ statusCode: number; body: Record<string, unknown> }> {
  const response = await broker.app.inject({ method: 'POST', url: '/v1/events', payload: JSON.stringify({ namespace, data }), headers: { 'content-type': 'application/json' } });
  return { statusCode: response.statusCode, body: response.json() as Record<string, unknown> };
}

/** Writes a file until the disk is full (bounded); returns its path. */
async function fillDisk(path: string): Promise<void> {
  const file = await open(path, 'w');
  try {
    for (let i = 0; i < 10_000; i++) await file.write(Buffer.alloc(64 * 1024));
    throw new Error('the disk never filled up');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    await file.close();
  }
}

describe('storage fail stop', () => {
  it('refuses every append after a failed write, even once space is freed, until a restart that keeps every acknowledged event and reuses no id', async (context) => {
    const disk = await mountSmallDisk(4 * 1024 * 1024);
    if ('skipped' in disk) return context.skip(disk.skipped);
    const { dataDir, filler } = disk;
    let broker: Broker | undefined;
    try {
      broker = await Broker.start({ dataDir, partitions: 2, logger: silentLogger, maxEventBytes: 64 * 1024 });
      const acknowledged = new Map<string, string>();
      let refused: { statusCode: number; body: Record<string, unknown> } | undefined;
      for (let i = 0; i < 1000 && !refused; i++) {
        const text = `${i}:${'x'.repeat(EVENT_TEXT_BYTES)}`;
        const answer = await produce(broker, `/fill/${i % 3}`, text);
        if (answer.statusCode === 201) acknowledged.set(String(answer.body.id), text);
        else refused = answer;
      }
      expect(acknowledged.size).toBeGreaterThan(10);
      expect(refused).toMatchObject({ statusCode: 503, body: { code: 'FLO_ERR_STORAGE_FAILED', retryable: false } });
      expect(String(refused!.body.detail)).toMatch(/restart the broker to verify the store/);

      // Recovery at the restart turns LevelDB's log into a table: it needs about the log's size free.
      await rm(filler);
      for (let i = 0; i < 5; i++) expect(await produce(broker, '/after/space/freed', 'small')).toMatchObject({ statusCode: 503, body: { code: 'FLO_ERR_STORAGE_FAILED' } });
      const ready = await broker.app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json()).toMatchObject({ code: 'FLO_ERR_STORAGE_FAILED' });

      await broker.close();
      broker = await Broker.start({ dataDir, logger: silentLogger, maxEventBytes: 64 * 1024 });
      expect((await broker.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
      const stored = new Map((await readAll(broker.log)).map((event) => [event.id, event.text()]));
      for (const [id, text] of acknowledged) expect(stored.get(id), `acknowledged ${id}`).toBe(text);
      for (let i = 0; i < 3; i++) {
        const answer = await produce(broker, `/fill/${i}`, 'after the restart');
        expect(answer.statusCode).toBe(201);
        expect(stored.has(String(answer.body.id)), `new id ${String(answer.body.id)} was handed out before`).toBe(false);
      }
    } finally {
      await broker?.close().catch(() => undefined);
      await disk.unmount();
    }
  });

  it('is not ready once a retention write fails, and refuses appends from then on', async (context) => {
    const disk = await mountSmallDisk();
    if ('skipped' in disk) return context.skip(disk.skipped);
    const { dataDir, filler } = disk;
    let broker: Broker | undefined;
    try {
      broker = await Broker.start({ dataDir, partitions: 1, logger: silentLogger });
      // Many small commits, so the pass deletes far more than the slack left in the log's last page.
      for (let i = 0; i < 600; i++) expect((await produce(broker, `/retained/${i % 2}`, `event ${i}`)).statusCode).toBe(201);
      expect((await broker.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
      await fillDisk(filler);
      await expect(broker.log.setRetentionRules(parseRetentionRules([{ namespace: '/**', maxEvents: 1 }]))).rejects.toMatchObject({ code: 'FLO_ERR_STORAGE_FAILED' });
      await rm(filler);
      const ready = await broker.app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json()).toMatchObject({ code: 'FLO_ERR_STORAGE_FAILED' });
      expect((await produce(broker, '/retained/0', 'after')).statusCode).toBe(503);
    } finally {
      await broker?.close().catch(() => undefined);
      await disk.unmount();
    }
  });
});
