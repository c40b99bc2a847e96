import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventLog } from '../../src/broker/event-log.js';
import { resolvePosition, findEvent } from '../../src/broker/positions.js';
import { FloError } from '../../src/common/errors.js';
import { formatCursor, formatEventId } from '../../src/common/ids.js';
import { input, openLog, readAll } from '../support/log.js';
import { tempDir } from '../support/temp.js';

let dir: Awaited<ReturnType<typeof tempDir>>;
let log: EventLog | undefined;

beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  await log?.close();
  log = undefined;
  await dir.remove();
});

describe('the event log', () => {
  it('assigns contiguous offsets per partition and keeps each namespace in append order', async () => {
    log = await openLog(dir.path, { partitions: 4 });
    const appends = [];
    for (let i = 0; i < 500; i++) appends.push(log.append([input(`/orders/eu/${i % 7}`, `e${i}`)]));
    await Promise.all(appends);
    const events = await readAll(log);
    expect(events).toHaveLength(500);
    const byPartition = new Map<number, number[]>();
    for (const event of events) byPartition.set(event.partition, [...(byPartition.get(event.partition) ?? []), event.offset]);
    for (const offsets of byPartition.values()) expect([...offsets].sort((a, b) => a - b)).toEqual(offsets.map((_, i) => i));
    for (let ns = 0; ns < 7; ns++) {
      const texts = events.filter((event) => event.namespace === `/orders/eu/${ns}`).sort((a, b) => a.offset - b.offset).map((event) => Number(event.text().slice(1)));
      expect(texts).toEqual([...texts].sort((a, b) => a - b));
      expect(texts.length).toBe(Array.from({ length: 500 }, (_, i) => i).filter((i) => i % 7 === ns).length);
    }
  });

  it('keeps acknowledged events, ids and namespaces across a restart', async () => {
    log = await openLog(dir.path);
    const result = await log.append([input('/a/b', 'one'), input('/c', 'two', formatEventId(0, 0))]);
    const head = log.head();
    await log.close();
    log = await openLog(dir.path);
    expect(log.head()).toEqual(head);
    const events = await readAll(log);
    expect(events.map((event) => [event.namespace, event.text(), event.parentId])).toEqual(
      expect.arrayContaining([['/a/b', 'one', undefined], ['/c', 'two', '0000-0000000000000']]),
    );
    expect(events.map((event) => event.id).sort()).toEqual(Array.from(result.offsets, (offset, i) => formatEventId(result.partitions[i]!, offset)).sort());
    await log.append([input('/a/b', 'three')]);
    expect((await readAll(log, '/a/b')).map((event) => event.text())).toEqual(['one', 'three']);
  });

  it('refuses to reopen a data dir with another partition count, and keeps the stored one when none is given', async () => {
    log = await openLog(dir.path, { partitions: 4 });
    await log.close();
    log = undefined;
    await expect(openLog(dir.path, { partitions: 8 })).rejects.toThrow(/created with 4 partitions/);
    log = await openLog(dir.path);
    expect(log.partitions).toBe(4);
  });

  it('validates a whole request before accepting any of it', async () => {
    log = await openLog(dir.path, { maxEventBytes: 10 });
    await expect(log.append([input('/ok', 'fine'), input('nope', 'x')])).rejects.toThrow(FloError);
    await expect(log.append([input('/ok', 'this payload is too long')])).rejects.toMatchObject({ code: 'FLO_ERR_EVENT_TOO_LARGE' });
    await expect(log.append([input('/ok', 'x', 'not-an-id')])).rejects.toMatchObject({ code: 'FLO_ERR_EVENT_ID_INVALID' });
    expect(await readAll(log)).toHaveLength(0);
  });

  it('reads a selective glob through the namespace index, touching only its own groups', async () => {
    log = await openLog(dir.path, { cacheBytes: 0 });
    for (let round = 0; round < 20; round++) {
      await log.append(Array.from({ length: 100 }, (_, i) => input(`/orders/eu/${i % 16}`, 'x'.repeat(200))));
    }
    const storageBytes = async (): Promise<number> => (await log!.metrics.readBytes.get()).values.find((v) => v.labels.source === 'storage')?.value ?? 0;
    const before = await storageBytes();
    const all = await readAll(log);
    const fullBytes = (await storageBytes()) - before;
    const one = await readAll(log, '/orders/eu/3');
    const selectiveBytes = (await storageBytes()) - before - fullBytes;
    expect(all).toHaveLength(2000);
    expect(one.length).toBe(all.filter((event) => event.namespace === '/orders/eu/3').length);
    expect(one.every((event) => event.namespace === '/orders/eu/3')).toBe(true);
    expect(selectiveBytes / fullBytes).toBeLessThan(0.1);
  });

  it('pages through the index when a namespace has more groups than one index read returns', async () => {
    log = await openLog(dir.path, { cacheBytes: 0 });
    for (let round = 0; round < 150; round++) await log.append([input('/many/a', `a${round}`), input('/many/b', `b${round}`), input('/other/c', `c${round}`)]);
    const selective = (await readAll(log, '/many/*', undefined, 2_000)).map((event) => event.text());
    expect(selective.filter((text) => text.startsWith('a'))).toEqual(Array.from({ length: 150 }, (_, i) => `a${i}`));
    expect(selective.filter((text) => text.startsWith('b'))).toEqual(Array.from({ length: 150 }, (_, i) => `b${i}`));
    expect(selective).toHaveLength(300);
  });

  it('reads the same events from the cache as from storage', async () => {
    const cached = await openLog(dir.path, { cacheBytes: 64 * 1024 * 1024 });
    for (let round = 0; round < 5; round++) await cached.append(Array.from({ length: 50 }, (_, i) => input(`/n/${i % 5}`, `r${round}-${i}`)));
    const fromCache = (await readAll(cached, '/n/{1,3}')).map((event) => `${event.id}:${event.text()}`);
    await cached.close();
    log = await openLog(dir.path, { cacheBytes: 0 });
    const fromStorage = (await readAll(log, '/n/{1,3}')).map((event) => `${event.id}:${event.text()}`);
    expect(fromCache.sort()).toEqual(fromStorage.sort());
    expect(fromStorage).toHaveLength(100);
  });

  it('resumes a paged read exactly where the cursor says, with no gap or duplicate', async () => {
    log = await openLog(dir.path, { cacheBytes: 0 });
    for (let round = 0; round < 10; round++) await log.append(Array.from({ length: 37 }, (_, i) => input(`/p/${i % 9}`, `${round}-${i}`)));
    const paged = await readAll(log, '/p/**', undefined, 300);
    expect(new Set(paged.map((event) => event.id)).size).toBe(370);
  });

  it('resolves positions: earliest, latest, a time, an event id', async () => {
    log = await openLog(dir.path, { partitions: 2 });
    await log.append([input('/t/a', 'early')]);
    const middle = Date.now() + 5;
    while (Date.now() <= middle) await new Promise((resolve) => setTimeout(resolve, 2));
    const late = await log.append([input('/t/a', 'late'), input('/t/b', 'late-b')]);
    expect(await resolvePosition(log, 'earliest')).toEqual([0, 0]);
    expect(await resolvePosition(log, 'latest')).toEqual(log.head());
    const fromTime = await resolvePosition(log, new Date(middle).toISOString());
    expect((await readAll(log, undefined, fromTime)).map((event) => event.text()).sort()).toEqual(['late', 'late-b']);
    const lateId = formatEventId(late.partitions[0]!, late.offsets[0]!);
    expect((await readAll(log, '/t/a', await resolvePosition(log, lateId))).map((event) => event.text())).toEqual(['late']);
    expect((await findEvent(log, lateId))?.text()).toBe('late');
    expect(await findEvent(log, formatEventId(0, 999))).toBeUndefined();
    await expect(resolvePosition(log, 'yesterday-ish')).rejects.toMatchObject({ code: 'FLO_ERR_POSITION_INVALID' });
    await expect(resolvePosition(log, formatCursor([0, 999]))).rejects.toThrow(/ahead of this broker's log/);
    await expect(resolvePosition(log, formatEventId(1, 999))).rejects.toThrow(/ahead of this broker's log/);
  });
});
