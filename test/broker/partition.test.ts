// Partitions as Raft groups on one broker (one voter each): an append is
// acknowledged only after its Raft entry is fsynced and applied to the event
// store (written unsynced); what the store lacks after a crash is replayed from
// the Raft log; a store ahead of its Raft log is refused.
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { EventLog } from '../../src/broker/event-log.js';
import { MAX_GROUP_BYTES, appliedKey } from '../../src/broker/partitions/partition.js';
import * as keys from '../../src/broker/storage/keys.js';
import { writeOffsetMarks } from '../../src/broker/storage/offset-marks.js';
import { rm } from 'node:fs/promises';
import { ACK_MARK_FILE } from '../../src/broker/storage/ack-mark.js';
import { formatEventId } from '../../src/common/ids.js';
import { MAX_PENDING_APPEND_BYTES } from '../../src/common/bounds.js';
import type { PartitionSet } from '../../src/broker/partitions/partition-set.js';
import { input, openLog, readAll } from '../support/log.js';
import { tempDir } from '../support/temp.js';

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

const RAFT_ENTRY = 0x65; // raft-storage.ts: 'e'

type Batch = Array<{ type: string; key: Buffer }>;

describe('a partition', () => {
  it('acknowledges only after its Raft entry is written with fsync and its apply is stored, and concurrent appends share one entry', async () => {
    log = await openLog(join(dir.path, 'data'), { partitions: 1 });
    const writes: Array<{ raft: boolean; events: boolean; sync: boolean; at: number }> = [];
    let acknowledgedAt = -1;
    const write = log.store.write.bind(log.store);
    vi.spyOn(log.store, 'write').mockImplementation(async (operations: Batch, sync: boolean) => {
      await write(operations as never, sync);
      writes.push({ raft: operations.some((op) => op.key[0] === RAFT_ENTRY), events: operations.some((op) => op.key[0] === keys.Keyspace.GROUP), sync, at: writes.length });
    });
    const appends = Array.from({ length: 20 }, (_, i) => log!.append([input(`/share/${i % 3}`, `event ${i}`)]));
    const results = await Promise.all(appends.map((append) => append.then((result) => ((acknowledgedAt = writes.length), result))));
    const raftWrites = writes.filter((w) => w.raft);
    const eventWrites = writes.filter((w) => w.events);
    expect(raftWrites.length).toBe(1);
    expect(raftWrites[0]!.sync).toBe(true);
    expect(eventWrites.length).toBe(1);
    expect(eventWrites[0]!.sync).toBe(false);
    expect(eventWrites[0]!.at).toBeGreaterThan(raftWrites[0]!.at);
    expect(acknowledgedAt).toBeGreaterThan(eventWrites[0]!.at);
    expect(results.map((result) => result.offsets[0]).sort((a, b) => a! - b!)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('writes its Raft entries without fsync with durability "os"', async () => {
    log = await openLog(join(dir.path, 'data'), { partitions: 1, durability: 'os' });
    const syncs: boolean[] = [];
    const write = log.store.write.bind(log.store);
    vi.spyOn(log.store, 'write').mockImplementation(async (operations: Batch, sync: boolean) => {
      if (operations.some((op) => op.key[0] === RAFT_ENTRY)) syncs.push(sync);
      await write(operations as never, sync);
    });
    await log.append([input('/os', 'one')]);
    await log.append([input('/os', 'two')]);
    expect(syncs.length).toBeGreaterThanOrEqual(2);
    expect(syncs.every((sync) => !sync)).toBe(true);
  });

  it('replays committed entries the event store lacks at start, with the same ids', async () => {
    const dataDir = join(dir.path, 'data');
    log = await openLog(dataDir, { partitions: 1 });
    const acknowledged = new Map<string, string>();
    for (let i = 0; i < 5; i++) {
      const batch = [input(`/replay/${i}`, `first ${i}`), input(`/replay/${i}`, `second ${i}`)];
      const result = await log.append(batch);
      result.offsets.forEach((offset, k) => acknowledged.set(formatEventId(0, offset), batch[k]!.data.toString()));
    }
    await log.close();
    log = undefined;
    // What a lost unsynced apply leaves: the Raft log holds every entry, the event store none of them.
    const db = new ClassicLevel<Buffer, Buffer>(dataDir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open();
    const batch = db.batch();
    for (const keyspace of [keys.Keyspace.GROUP, keys.Keyspace.NAMESPACE, keys.Keyspace.TIME]) {
      for await (const key of db.keys({ gte: Buffer.of(keyspace), lt: Buffer.of(keyspace + 1) })) batch.del(key);
    }
    batch.put(keys.partitionKey(0), keys.encodePartitionState(0, 0));
    batch.put(appliedKey(0), Buffer.from('0'));
    await batch.write({ sync: true });
    await db.close();
    await writeOffsetMarks(dataDir, { clean: false, reserved: [10], acknowledged: [0] });
    await rm(join(dataDir, ACK_MARK_FILE), { force: true });

    log = await openLog(dataDir);
    const stored = await readAll(log);
    expect(new Map(stored.map((event) => [event.id, event.text()]))).toEqual(acknowledged);
    expect(log.head()).toEqual([10]);
  });

  it('refuses to start when the event store holds applies its Raft log does not', async () => {
    const dataDir = join(dir.path, 'data');
    log = await openLog(dataDir, { partitions: 1 });
    await log.append([input('/ahead', 'one')]);
    await log.close();
    log = undefined;
    const db = new ClassicLevel<Buffer, Buffer>(dataDir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open();
    await db.put(appliedKey(0), Buffer.from('1000'), { sync: true });
    await db.close();
    await expect(openLog(dataDir)).rejects.toMatchObject({ code: 'FLO_ERR_STORAGE_CORRUPT', message: expect.stringMatching(/raft log ends at/) as unknown });
  });

  it('splits a large command of one namespace into bounded groups with contiguous offsets', async () => {
    log = await openLog(join(dir.path, 'data'), { partitions: 1, maxEventBytes: 512 * 1024 });
    const events = Array.from({ length: 12 }, (_, i) => input('/big', `${i}:${'b'.repeat(400 * 1024)}`));
    const result = await log.append(events);
    expect([...result.offsets]).toEqual(Array.from({ length: 12 }, (_, i) => i));
    const groups = await log.store.readGroups(0, 0, Number.MAX_SAFE_INTEGER, 12);
    expect(groups.length).toBeGreaterThan(1);
    let next = 0;
    for (const group of groups) {
      expect(group.start).toBe(next);
      expect(group.value.length <= MAX_GROUP_BYTES || group.count === 1).toBe(true);
      next += group.count;
    }
    expect(next).toBe(12);
  });
});

describe('the bound on bytes waiting to be committed', () => {
  it('counts what waits in every partition and returns to nothing once the appends are acknowledged', async () => {
    log = await openLog(join(dir.path, 'data'), { partitions: 4 });
    const partitionSet = (log as unknown as { partitionSet: PartitionSet }).partitionSet;
    expect(() => partitionSet.checkCapacity(MAX_PENDING_APPEND_BYTES)).not.toThrow();
    const appends = Array.from({ length: 40 }, (_, i) => log!.append([input(`/bound/${i}`, 'x'.repeat(100))]));
    // Queued in several partitions, none proposed yet: their bytes count against the bound.
    expect(() => partitionSet.checkCapacity(MAX_PENDING_APPEND_BYTES)).toThrow(expect.objectContaining({ code: 'FLO_ERR_OVERLOADED' }));
    expect(() => partitionSet.checkCapacity(MAX_PENDING_APPEND_BYTES - 40 * 105)).not.toThrow();
    await Promise.all(appends);
    expect(() => partitionSet.checkCapacity(MAX_PENDING_APPEND_BYTES)).not.toThrow();
  });
});

describe('a failed Raft log write', () => {
  it('stops acknowledgement with FLO_ERR_STORAGE_FAILED and refuses every later append, with the event store untouched by it', async () => {
    log = await openLog(join(dir.path, 'data'), { partitions: 1 });
    await log.append([input('/before', 'kept')]);
    const db = (log.store as unknown as { db: { batch: () => { put: (k: Buffer, v: Buffer) => void; del: (k: Buffer) => void; write: (o: unknown) => Promise<void> } } }).db;
    const batch = db.batch.bind(db);
    let raftWrites = 0;
    vi.spyOn(db, 'batch').mockImplementation(() => {
      const real = batch();
      let raft = false;
      return {
        put: (key: Buffer, value: Buffer) => ((raft ||= key[0] === RAFT_ENTRY), real.put(key, value)),
        del: (key: Buffer) => real.del(key),
        write: (options: unknown) => (raft ? ((raftWrites++, Promise.reject(new Error('IO error: No space left on device')))) : real.write(options)),
      };
    });
    await expect(log.append([input('/after', 'lost')])).rejects.toMatchObject({ code: 'FLO_ERR_STORAGE_FAILED' });
    expect(raftWrites).toBe(1);
    expect(log.storageFailure?.code).toBe('FLO_ERR_STORAGE_FAILED');
    await expect(log.append([input('/after', 'again')])).rejects.toMatchObject({ code: 'FLO_ERR_STORAGE_FAILED' });
    expect(raftWrites).toBe(1);
    expect((await readAll(log)).map((event) => event.text())).toEqual(['kept']);
  });
});
