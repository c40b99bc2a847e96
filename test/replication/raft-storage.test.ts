import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Entry } from '../../src/broker/raft/messages.js';
import { ClassicLevel } from 'classic-level';
import { sealGroup, CHECKSUM_BYTES } from '../../src/broker/storage/checksum.js';
import { RaftStorage } from '../../src/broker/storage/raft-storage.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function open(): Promise<{ storage: RaftStorage; dir: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'flo-raft-store-'));
  dirs.push(dir);
  return { storage: await RaftStorage.open({ dataDir: dir }), dir };
}

function entries(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push({ index: i, term, type: 0, data: new TextEncoder().encode(`${i}@${term}`) });
  return out;
}

const summary = (es: readonly Entry[]): string[] => es.map((e) => `${e.index}@${e.term}`);

describe('Raft storage on LevelDB', () => {
  it('reloads hard state and entries written over several Readies', async () => {
    const { storage, dir } = await open();
    await storage.persist(1, { hardState: { term: 2, vote: 3, commit: 4 }, entries: entries(1, 5, 1), snapshot: null });
    await storage.persist(1, { hardState: null, entries: entries(6, 9000, 2), snapshot: null });
    await storage.close();
    const again = await RaftStorage.open({ dataDir: dir });
    const mem = await again.load(1);
    expect(mem.hardState()).toEqual({ term: 2, vote: 3, commit: 4 });
    expect(mem.lastIndex()).toBe(9000);
    expect(summary(mem.entries(4, 8, 1e9))).toEqual(['4@1', '5@1', '6@2', '7@2']);
    await again.close();
  });

  it('stores each chunk sealed with the CRC of its key and bytes, and refuses a chunk whose bytes changed', async () => {
    const { storage, dir } = await open();
    await storage.persist(1, { hardState: null, entries: entries(1, 3, 1), snapshot: null });
    await storage.close();
    const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    const chunks = (await db.iterator({ gt: Buffer.of(0x65), lt: Buffer.of(0x66) }).all()); // raft-storage.ts: 'e'
    expect(chunks).toHaveLength(1);
    const [key, value] = chunks[0]!;
    expect(value).toEqual(sealGroup(key, value.subarray(0, value.length - CHECKSUM_BYTES)));
    value[8] = value[8]! ^ 0x01;
    await db.put(key, value);
    await db.close();
    const again = await RaftStorage.open({ dataDir: dir });
    await expect(again.load(1)).rejects.toMatchObject({ code: 'FLO_ERR_STORAGE_CORRUPT' });
    await again.close();
  });

  it('drops entries replaced by a conflicting leader, even inside a stored chunk', async () => {
    const { storage, dir } = await open();
    await storage.persist(1, { hardState: null, entries: entries(1, 10, 1), snapshot: null });
    await storage.persist(1, { hardState: null, entries: entries(6, 7, 3), snapshot: null });
    await storage.close();
    const again = await RaftStorage.open({ dataDir: dir });
    const mem = await again.load(1);
    expect(summary(mem.allEntries())).toEqual(['1@1', '2@1', '3@1', '4@1', '5@1', '6@3', '7@3']);
    await again.close();
  });

  it('an installed snapshot replaces the log; compaction drops whole chunks behind the app\'s snapshot', async () => {
    const { storage, dir } = await open();
    await storage.persist(1, { hardState: null, entries: entries(1, 10, 1), snapshot: null });
    const snapshot = { metadata: { index: 20, term: 2, conf: { voters: [1, 2, 3], learners: [] } }, data: new Uint8Array([7]) };
    await storage.persist(1, { hardState: { term: 2, vote: 0, commit: 20 }, entries: entries(21, 22, 2), snapshot });
    await storage.persist(1, { hardState: null, entries: entries(23, 40, 2), snapshot: null });
    await storage.saveSnapshot(1, { ...snapshot, metadata: { ...snapshot.metadata, index: 30 } }, 22);
    await storage.close();
    const again = await RaftStorage.open({ dataDir: dir });
    const mem = await again.load(1);
    expect(mem.snapshot().metadata.index).toBe(30);
    expect(mem.firstIndex()).toBe(31);
    expect(mem.lastIndex()).toBe(40);
    expect(Array.from(mem.snapshot().data)).toEqual([7]);
    await again.close();
  });

  it('keeps groups apart and writes several groups in one batch', async () => {
    const { storage } = await open();
    await storage.persistMany([
      { groupId: 1, ready: { hardState: { term: 1, vote: 1, commit: 0 }, entries: entries(1, 3, 1), snapshot: null } },
      { groupId: 2, ready: { hardState: { term: 5, vote: 2, commit: 0 }, entries: entries(1, 1, 5), snapshot: null } },
    ]);
    expect((await storage.load(1)).lastIndex()).toBe(3);
    expect((await storage.load(2)).hardState().term).toBe(5);
    expect((await storage.load(3)).lastIndex()).toBe(0);
    await storage.close();
  });

  it('merges concurrent Readies of different groups into one synced batch (group commit across groups)', async () => {
    const { storage } = await open();
    const before = { ...storage.stats };
    await Promise.all([1, 2, 3].map((groupId) => storage.persist(groupId, { hardState: { term: 1, vote: 0, commit: 0 }, entries: entries(1, 50, 1), snapshot: null })));
    expect(storage.stats.batches - before.batches).toBe(1);
    expect(storage.stats.syncs - before.syncs).toBe(1);
    for (const groupId of [1, 2, 3]) expect((await storage.load(groupId)).lastIndex()).toBe(50);
    await storage.close();
  });
});
