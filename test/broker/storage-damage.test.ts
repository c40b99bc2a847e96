// Damage to the files of a stopped (or crashed) broker: a truncated or damaged
// LevelDB log, a zeroed page, a flipped bit in a table. The broker refuses to
// start and says what is missing, or serves only verified data; it never
// serves a damaged payload with 200 and never hands out an acknowledged id again.
import { cp, mkdir, open, readdir, readFile, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Broker } from '../../src/broker/broker.js';
import type { EventLog } from '../../src/broker/event-log.js';
import * as keys from '../../src/broker/storage/keys.js';
import { ACK_MARK_FILE, readAckMark } from '../../src/broker/storage/ack-mark.js';
import { readOffsetMarks } from '../../src/broker/storage/offset-marks.js';
import { formatEventId } from '../../src/common/ids.js';
import { input, openLog, readAll } from '../support/log.js';
import { silentLogger, tempDir, waitFor } from '../support/temp.js';

let dir: Awaited<ReturnType<typeof tempDir>>;
let log: EventLog | undefined;

beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  await log?.close().catch(() => undefined);
  log = undefined;
  await dir.remove();
});

const payload = (i: number): string => `event-${String(i).padStart(5, '0')}-${'p'.repeat(200)}`;

/** Appends `count` events in commits of 10; returns id -> payload. */
async function fill(target: EventLog, count: number, from = 0): Promise<Map<string, string>> {
  const acknowledged = new Map<string, string>();
  for (let i = from; i < from + count; i += 10) {
    const batch = Array.from({ length: 10 }, (_, k) => input(`/damage/${(i + k) % 5}`, payload(i + k)));
    const result = await target.append(batch);
    result.offsets.forEach((offset, k) => acknowledged.set(formatEventId(result.partitions[k]!, offset), batch[k]!.data.toString()));
  }
  return acknowledged;
}

async function files(dataDir: string, extension: string): Promise<string[]> {
  return (await readdir(dataDir)).filter((name) => name.endsWith(extension)).sort().map((name) => join(dataDir, name));
}

async function patch(path: string, at: number, bytes: Buffer): Promise<void> {
  const file = await open(path, 'r+');
  try {
    await file.write(bytes, 0, bytes.length, at);
  } finally {
    await file.close();
  }
}

/** What a crash leaves: a copy of the files of a running broker (everything it fsynced is in them). */
async function crashImage(source: string): Promise<string> {
  const image = join(dir.path, `crashed-${Date.now()}`);
  await cp(source, image, { recursive: true });
  return image;
}

async function expectRefused(dataDir: string, detail: RegExp): Promise<void> {
  await expect(openLog(dataDir)).rejects.toMatchObject({ code: 'FLO_ERR_STORAGE_CORRUPT', message: expect.stringMatching(detail) as unknown });
}

describe('a damaged LevelDB log', () => {
  it('is refused at start-up when its tail was cut after a clean stop, naming the missing offsets', async () => {
    const dataDir = join(dir.path, 'data');
    log = await openLog(dataDir, { partitions: 1 });
    await fill(log, 1000);
    await log.close();
    log = undefined;
    const [newest] = (await files(dataDir, '.log')).reverse();
    await truncate(newest!, Math.floor((await stat(newest!)).size / 2));
    await expectRefused(dataDir, /partition 0: offsets \d+-999 were acknowledged but are missing from the store/);
  });

  it('never hands out an acknowledged id again, and a consumer resuming from its cursor sees the new events, when the tail was cut after a crash', async () => {
    const dataDir = join(dir.path, 'data');
    // With durability "os" the offsets file records no acknowledgements, so the cut goes unseen and
    // only the reservation stands between it and reused ids.
    log = await openLog(dataDir, { partitions: 1, durability: 'os' });
    const acknowledged = await fill(log, 1000);
    const cursor = log.head();
    const image = await crashImage(dataDir);
    const [newest] = (await files(image, '.log')).reverse();
    await truncate(newest!, Math.floor((await stat(newest!)).size / 2));
    const restarted = await openLog(image);
    try {
      expect(restarted.head()[0]).toBeGreaterThanOrEqual(cursor[0]!);
      const added = await fill(restarted, 20, 5000);
      for (const id of added.keys()) expect(acknowledged.has(id), `${id} was acknowledged before the crash`).toBe(false);
      const seen = await readAll(restarted, undefined, cursor);
      expect(seen.map((event) => event.id).sort()).toEqual([...added.keys()].sort());
      for (const event of await readAll(restarted)) expect(event.text()).toBe(acknowledged.get(event.id) ?? added.get(event.id));
    } finally {
      await restarted.close();
    }
  });

  it('is refused at start-up when its tail was cut after a crash, once the offsets file has recorded those events as acknowledged', async () => {
    const dataDir = join(dir.path, 'data');
    log = await openLog(dataDir, { partitions: 1 });
    await fill(log, 1000);
    await waitFor(async () => (await readOffsetMarks(dataDir))!.acknowledged[0] === 1000, 'the offsets file to record the acknowledged events');
    const image = await crashImage(dataDir);
    const [newest] = (await files(image, '.log')).reverse();
    await truncate(newest!, Math.floor((await stat(newest!)).size / 2));
    await expectRefused(image, /partition 0: offsets \d+-999 were acknowledged but are missing from the store/);
  });

  it('is refused at start-up when its tail was cut right after a crash, before the offsets file recorded the last acknowledgements', async () => {
    const dataDir = join(dir.path, 'data');
    // The once-a-second record never runs here: only the per-commit mark knows what was acknowledged.
    log = await openLog(dataDir, { partitions: 1, acknowledgedMarkIntervalMs: 3_600_000 });
    await fill(log, 1000);
    await waitFor(async () => (await readAckMark(dataDir, 1))?.[0] === 1000, 'the acknowledgement mark to record the acknowledged events');
    const image = await crashImage(dataDir);
    expect((await readOffsetMarks(image))!.acknowledged[0]).toBe(0);
    const [newest] = (await files(image, '.log')).reverse();
    await truncate(newest!, Math.floor((await stat(newest!)).size / 2));
    await expectRefused(image, /partition 0: offsets \d+-999 were acknowledged but are missing from the store/);
  });

  it('ignores a torn or damaged acknowledgement mark instead of refusing a healthy store', async () => {
    const dataDir = join(dir.path, 'data');
    log = await openLog(dataDir, { partitions: 1, acknowledgedMarkIntervalMs: 3_600_000 });
    await fill(log, 100);
    const image = await crashImage(dataDir);
    await writeFile(join(image, ACK_MARK_FILE), Buffer.alloc(7, 0xff));
    const restarted = await openLog(image);
    try {
      expect((await readAll(restarted)).length).toBe(100);
    } finally {
      await restarted.close();
    }
  });

  it.each([
    ['a flipped byte in the middle', (size: number) => ({ at: Math.floor(size / 2), bytes: Buffer.of(0x5a) })],
    ['a zeroed 4 KiB page in the middle', (size: number) => ({ at: Math.floor(size / 2 / 4096) * 4096, bytes: Buffer.alloc(4096) })],
  ])('is refused at start-up with %s, after a crash, naming the lost commits', async (_name, damage) => {
    const dataDir = join(dir.path, 'data');
    log = await openLog(dataDir, { partitions: 1 });
    await fill(log, 2000);
    const image = await crashImage(dataDir);
    const [newest] = (await files(image, '.log')).reverse();
    const { at, bytes } = damage((await stat(newest!)).size);
    await patch(newest!, at, bytes);
    await expectRefused(image, /partition 0: commits holding offsets \d+-\d+ are missing/);
  });
});

describe('a damaged table file', () => {
  /** Writes 1000 events, then reopens so LevelDB moves them from its log into an .ldb table. */
  async function storeInTable(dataDir: string): Promise<Map<string, string>> {
    log = await openLog(dataDir, { partitions: 1 });
    const acknowledged = await fill(log, 1000);
    await log.close();
    log = await openLog(dataDir);
    await log.close();
    log = undefined;
    return acknowledged;
  }

  async function flipInPayload(dataDir: string, text: string): Promise<{ table: string; at: number; original: number }> {
    for (const table of await files(dataDir, '.ldb')) {
      const content = await readFile(table);
      const found = content.indexOf(text);
      if (found >= 0) {
        const at = found + text.length - 3;
        await patch(table, at, Buffer.of(content[at]! ^ 0x01));
        return { table, at, original: content[at]! };
      }
    }
    throw new Error(`no table holds ${text}`);
  }

  it('serves the damaged event as a 500 FLO_ERR_STORAGE_CORRUPT problem, never as 200 with the wrong payload, and is not ready afterwards', async () => {
    const dataDir = join(dir.path, 'data');
    const acknowledged = await storeInTable(dataDir);
    const id = [...acknowledged].find(([, text]) => text === payload(500))![0];
    const broker = await Broker.start({ dataDir, logger: silentLogger });
    try {
      await flipInPayload(dataDir, 'event-00500-');
      const response = await broker.app.inject({ method: 'GET', url: `/v1/events/${id}` });
      expect(response.statusCode).toBe(500);
      expect(response.json()).toMatchObject({ code: 'FLO_ERR_STORAGE_CORRUPT', retryable: false });
      expect((await broker.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
      const produced = await broker.app.inject({ method: 'POST', url: '/v1/events', payload: { namespace: '/after', data: 'x' } });
      expect(produced.statusCode).toBe(503);
    } finally {
      await broker.close();
    }
  });

  it('is refused at start-up, and opens with every event once the bit is restored', async () => {
    const dataDir = join(dir.path, 'data');
    const acknowledged = await storeInTable(dataDir);
    const { table, at, original } = await flipInPayload(dataDir, 'event-00500-');
    await expectRefused(dataDir, /LevelDB table \d+\.ldb: a block at \d+ fails its checksum/);
    await patch(table, at, Buffer.of(original));
    log = await openLog(dataDir);
    const events = await readAll(log);
    expect(new Map(events.map((event) => [event.id, event.text()]))).toEqual(acknowledged);
  });
});

describe('a data dir that is not a complete store', () => {
  async function listing(dataDir: string): Promise<Array<[string, number]>> {
    return Promise.all((await readdir(dataDir)).sort().map(async (name) => [name, (await stat(join(dataDir, name))).size] as [string, number]));
  }

  it('is refused when LevelDB\'s CURRENT file is missing, leaving every file as it was, and opens with every event once CURRENT is back', async () => {
    const dataDir = join(dir.path, 'data');
    log = await openLog(dataDir, { partitions: 2 });
    const acknowledged = await fill(log, 1000);
    const nodeId = log.nodeId;
    await log.close();
    log = undefined;
    const current = await readFile(join(dataDir, 'CURRENT'));
    await unlink(join(dataDir, 'CURRENT'));
    const before = await listing(dataDir);
    await expectRefused(dataDir, /holds no LevelDB store \(no CURRENT file.*refusing to create a new store/);
    expect(await listing(dataDir)).toEqual(before);
    await writeFile(join(dataDir, 'CURRENT'), current);
    log = await openLog(dataDir);
    expect(log.nodeId).toBe(nodeId);
    expect(new Map((await readAll(log)).map((event) => [event.id, event.text()]))).toEqual(acknowledged);
  });

  it('is refused when it holds other files, and when its LevelDB has data but no Flo metadata', async () => {
    const foreign = join(dir.path, 'foreign');
    await mkdir(foreign);
    await writeFile(join(foreign, 'notes.txt'), 'not a store');
    await expectRefused(foreign, /not empty but holds no LevelDB store/);
    const dataDir = join(dir.path, 'data');
    log = await openLog(dataDir);
    await log.close();
    log = undefined;
    const { ClassicLevel } = await import('classic-level');
    const db = new ClassicLevel(dataDir);
    await db.del('Mstore');
    await db.put('other', 'data');
    await db.close();
    await expectRefused(dataDir, /without Flo's metadata record: refusing to re-initialise/);
  });

  it('creates a new store in an empty dir, a missing one, or one holding only lost+found', async () => {
    const empty = join(dir.path, 'empty');
    await mkdir(empty);
    const withLostFound = join(dir.path, 'fresh-fs');
    await mkdir(join(withLostFound, 'lost+found'), { recursive: true });
    for (const dataDir of [empty, join(dir.path, 'missing'), withLostFound]) {
      log = await openLog(dataDir);
      await fill(log, 10);
      await log.close();
      log = undefined;
    }
  });
});

describe('recovery (--recover-store)', () => {
  /** Opens with recovery; checks that only acknowledged payloads are served, that no id is reused, and that the repaired store then opens normally. */
  async function recover(dataDir: string, acknowledged: Map<string, string>, cursor: number[]): Promise<{ kept: number; problems: string[] }> {
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    log = await openLog(dataDir, { recoverStore: true, logger });
    const kept = await readAll(log);
    for (const event of kept) expect(event.text(), event.id).toBe(acknowledged.get(event.id));
    for (const ns of ['/damage/0', '/damage/1', '/damage/2', '/damage/3', '/damage/4']) expect((await readAll(log, ns)).map((event) => event.id)).toEqual(kept.filter((event) => event.namespace === ns).map((event) => event.id));
    const added = await fill(log, 20, 9000);
    for (const id of added.keys()) expect(acknowledged.has(id), `${id} was acknowledged before`).toBe(false);
    expect((await readAll(log, undefined, cursor)).map((event) => event.id).sort()).toEqual([...added.keys()].sort());
    await log.close();
    log = await openLog(dataDir);
    expect((await readAll(log)).length).toBe(kept.length + added.size);
    const recovered = lines.map((line) => JSON.parse(line) as { msg: string; problems?: string[] }).find((entry) => entry.msg.startsWith('store recovered'));
    return { kept: kept.length, problems: recovered?.problems ?? [] };
  }

  it('keeps what verifies after a cut log tail, a flipped log byte or a zeroed log page, and reports what was lost', async () => {
    const damages: Array<[string, (dataDir: string) => Promise<void>, RegExp]> = [
      ['cut tail', async (dataDir) => {
        const [newest] = (await files(dataDir, '.log')).reverse();
        await truncate(newest!, Math.floor((await stat(newest!)).size / 2));
      }, /offsets \d+-\d+ were acknowledged but are missing/],
      ['flipped log byte', async (dataDir) => {
        const [newest] = (await files(dataDir, '.log')).reverse();
        await patch(newest!, Math.floor((await stat(newest!)).size / 2), Buffer.of(0x5a));
      }, /commits holding offsets \d+-\d+ are missing/],
      ['zeroed log page', async (dataDir) => {
        const [newest] = (await files(dataDir, '.log')).reverse();
        await patch(newest!, Math.floor((await stat(newest!)).size / 2 / 4096) * 4096, Buffer.alloc(4096));
      }, /commits holding offsets \d+-\d+ are missing/],
    ];
    for (const [name, damage, expected] of damages) {
      const dataDir = join(dir.path, name.replaceAll(' ', '-'));
      log = await openLog(dataDir, { partitions: 2 });
      const acknowledged = await fill(log, 2000);
      const cursor = log.head();
      await log.close();
      log = undefined;
      await damage(dataDir);
      const { kept, problems } = await recover(dataDir, acknowledged, cursor);
      expect(kept, name).toBeLessThan(acknowledged.size);
      expect(problems.join('\n'), name).toMatch(expected);
      await (log as EventLog | undefined)?.close();
      log = undefined;
    }
  });

  it('keeps the groups of a namespace whose dictionary entry was lost with a damaged commit, under a placeholder name', async () => {
    const dataDir = join(dir.path, 'data');
    log = await openLog(dataDir, { partitions: 1 });
    const acknowledged = await fill(log, 500);
    const cursor = log.head();
    await log.close();
    log = undefined;
    // The first commit is the one that brought the namespaces (and their dictionary entries) in.
    const [newest] = (await files(dataDir, '.log')).reverse();
    const content = await readFile(newest!);
    await patch(newest!, content.indexOf('/damage/2') + 3, Buffer.of(0x21));
    await expectRefused(dataDir, /belongs to namespace id \d+, which the namespace dictionary lacks/);
    const { kept, problems } = await recover(dataDir, acknowledged, cursor);
    expect(kept).toBeLessThan(acknowledged.size);
    expect(problems.join('\n')).toMatch(/which the namespace dictionary lacks \(kept as \/flo-recovered\/namespace-\d+/);
    expect((await readAll(log!, '/flo-recovered/**')).length).toBeGreaterThan(0);
  });

  it('refuses a namespace index that disagrees with the groups, and recovery rebuilds it', async () => {
    const dataDir = join(dir.path, 'data');
    log = await openLog(dataDir, { partitions: 1 });
    const acknowledged = await fill(log, 200);
    const cursor = log.head();
    const nsId = log.store.dictionary.lookup('/damage/2')!;
    await log.close();
    log = undefined;
    const { ClassicLevel } = await import('classic-level');
    const db = new ClassicLevel<Buffer, Buffer>(dataDir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    const [[key, value]] = await db.iterator({ gte: keys.namespaceIndexKey(nsId, 0), lt: keys.namespaceIndexKey(nsId + 1, 0), limit: 1 }).all();
    const entry = keys.decodeIndexValue(value);
    await db.put(key, keys.encodeIndexValue(entry.count + 5, entry.sizeBytes, entry.timestamp));
    await db.close();
    await expectRefused(dataDir, /the namespace index of \/damage\/2 disagrees with its groups/);
    const { kept } = await recover(dataDir, acknowledged, cursor);
    expect(kept).toBe(acknowledged.size);
  });

  it('drops a group that fails its checksum in a table, and keeps the rest', async () => {
    const dataDir = join(dir.path, 'data');
    log = await openLog(dataDir, { partitions: 1 });
    const acknowledged = await fill(log, 1000);
    const cursor = log.head();
    await log.close();
    log = await openLog(dataDir);
    await log.close();
    log = undefined;
    const [table] = await files(dataDir, '.ldb');
    const content = await readFile(table!);
    const at = content.indexOf('event-00500-') + 9;
    await patch(table!, at, Buffer.of(content[at]! ^ 0x01));
    const { kept, problems } = await recover(dataDir, acknowledged, cursor);
    expect(kept).toBeLessThan(acknowledged.size);
    expect(problems.join('\n')).toMatch(/partition 0: the group at offset \d+ fails its checksum/);
  });

  it('skips ahead when the offsets file is missing, so no id is reused', async () => {
    const dataDir = join(dir.path, 'data');
    log = await openLog(dataDir, { partitions: 1 });
    const acknowledged = await fill(log, 100);
    const cursor = log.head();
    await log.close();
    log = undefined;
    await unlink(join(dataDir, 'FLO-OFFSETS'));
    await expectRefused(dataDir, /FLO-OFFSETS is missing/);
    const { kept, problems } = await recover(dataDir, acknowledged, cursor);
    expect(kept).toBe(acknowledged.size);
    expect(problems.join('\n')).toMatch(/FLO-OFFSETS is missing/);
  });
});
