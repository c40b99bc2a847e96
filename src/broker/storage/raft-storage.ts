// Durable Raft state on LevelDB: per group, the hard state, the log and the latest
// snapshot. Keys are binary, [kind][groupId u32][index u64], so one database serves
// many groups (multi-Raft). Log entries are packed in chunks (one key per run of up
// to MAX_CHUNK_ENTRIES consecutive entries, keyed by its first index) because the
// cost of a LevelDB write is mostly per key. Every Ready is one batch written with
// sync:true: after a crash (even kill -9) all of it or none of it is there.
// Each chunk carries a CRC-32 of its key and bytes (checksum.ts), checked on load.
// It fails stop: after one failed write it refuses every later one, since LevelDB
// goes on accepting writes whose log it may no longer replay. A broker keeps its
// Raft log in the event store's LevelDB (`shared`): one WAL, one fsync per cycle.

import { ClassicLevel } from 'classic-level';
import { FloError } from '../../common/errors.js';
import {
  Reader, Writer, readEntry, readHardState, readSnapshot, writeEntry, writeHardState, writeSnapshot,
} from '../raft/codec.js';
import type { Entry, HardState, NodeId, Ready, Snapshot } from '../raft/messages.js';
import { EMPTY_HARD_STATE, EMPTY_SNAPSHOT, MemoryStorage, bootstrapState } from '../raft/storage.js';
import { CHECKSUM_BYTES, crc32, unsealGroup } from './checksum.js';

type Db = ClassicLevel<Buffer, Buffer>;

/**
 * A large memtable: the log is written sequentially and mostly deleted after a
 * snapshot, so fewer flushes and compactions compete with the fsync on the hot path.
 */
const LEVEL_TUNING = { writeBufferSize: 64 * 1024 * 1024, maxFileSize: 32 * 1024 * 1024, blockSize: 64 * 1024 } as const;
type BatchOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

const KIND_HARD_STATE = 0x68; // 'h'
const KIND_ENTRY = 0x65; // 'e'
const KIND_SNAPSHOT = 0x73; // 's'

function groupKey(kind: number, groupId: number): Buffer {
  const key = Buffer.allocUnsafe(5);
  key.writeUInt8(kind, 0);
  key.writeUInt32BE(groupId, 1);
  return key;
}

function entryKey(groupId: number, index: number): Buffer {
  const key = Buffer.allocUnsafe(13);
  key.writeUInt8(KIND_ENTRY, 0);
  key.writeUInt32BE(groupId, 1);
  key.writeUInt32BE(Math.floor(index / 0x1_0000_0000), 5);
  key.writeUInt32BE(index >>> 0, 9);
  return key;
}

function indexOfKey(key: Buffer): number {
  return key.readUInt32BE(5) * 0x1_0000_0000 + key.readUInt32BE(9);
}

function encode(write: (w: Writer) => void, sizeHint = 64): Buffer {
  const w = new Writer(sizeHint);
  write(w);
  const bytes = w.finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Most queued writes (one per group Ready) merged into one LevelDB batch. */
export const MAX_WRITES_PER_BATCH = 256;
/** Most entries packed under one key. */
export const MAX_CHUNK_ENTRIES = 4096;

/** One stored run of consecutive entries. */
interface Chunk {
  readonly first: number;
  last: number;
}

function encodeChunk(key: Buffer, entries: readonly Entry[]): Buffer {
  let bytes = 4 + CHECKSUM_BYTES;
  for (const entry of entries) bytes += entry.data.byteLength + 21;
  return encode((w) => {
    w.u32(entries.length);
    for (const entry of entries) writeEntry(w, entry);
    // sealGroup's trailer (CRC-32 of key and bytes, big-endian), written in place: sealing after would copy every entry's data once more per Raft write.
    w.u32(crc32(w.finish(), crc32(key)));
  }, bytes);
}

function decodeChunk(groupId: number, key: Buffer, stored: Buffer): Entry[] {
  const value = unsealGroup(key, stored);
  if (value === undefined) throw new FloError('FLO_ERR_STORAGE_CORRUPT', `the raft log chunk of group ${groupId} at index ${indexOfKey(key)} fails its checksum`);
  const r = new Reader(value);
  const n = r.count(MAX_CHUNK_ENTRIES, 21);
  const entries: Entry[] = [];
  for (let i = 0; i < n; i++) entries.push(readEntry(r));
  r.end();
  return entries;
}

export interface RaftStorageOptions {
  readonly dataDir: string;
  /** fsync every write batch (default true). Only benchmarks of the non-durable mode turn it off. */
  readonly sync?: boolean;
}

/** Writes one batch (synced or not); a shared store passes its own fail-stop write. */
export type BatchWriter = (ops: BatchOp[], sync: boolean) => Promise<void>;

export class RaftStorage {
  private readonly queue: { ops: BatchOp[]; sync: boolean; resolve: () => void; reject: (error: Error) => void }[] = [];
  private flushing = false;
  /** LevelDB batches written and how many of them were fsynced. */
  readonly stats = { batches: 0, syncs: 0 };
  /** Each group's chunks in index order, so truncation and compaction know which keys to touch. */
  private readonly chunks = new Map<number, Chunk[]>();

  private failure: FloError | undefined;

  private constructor(
    private readonly db: Db,
    private readonly sync: boolean,
    private readonly writer: BatchWriter | undefined = undefined,
    private readonly owned = true,
  ) {}

  /** Raft storage inside a LevelDB someone else opened and closes; every batch goes through `writer`. */
  static shared(db: Db, writer: BatchWriter, sync = true, recovery?: (problem: string) => void): RaftStorage {
    const storage = new RaftStorage(db, sync, writer, false);
    storage.recovery = recovery;
    return storage;
  }

  /** Set when recovering (--recover-store): a damaged or non-contiguous log is cut at the first problem, reported here. */
  private recovery: ((problem: string) => void) | undefined;

  /** Why writes are refused, or undefined while healthy. */
  get failed(): FloError | undefined {
    return this.failure;
  }

  static async open(options: RaftStorageOptions): Promise<RaftStorage> {
    const db: Db = new ClassicLevel<Buffer, Buffer>(options.dataDir, { keyEncoding: 'buffer', valueEncoding: 'buffer', ...LEVEL_TUNING });
    try {
      await db.open();
    } catch (cause) {
      throw new FloError('FLO_ERR_STORAGE', `cannot open raft storage at ${options.dataDir}`, { cause });
    }
    return new RaftStorage(db, options.sync ?? true);
  }

  /** Rebuilds a group's state from disk. An unknown group comes back empty. */
  async load(groupId: number): Promise<MemoryStorage> {
    const hsBytes = await this.db.get(groupKey(KIND_HARD_STATE, groupId));
    const snapBytes = await this.db.get(groupKey(KIND_SNAPSHOT, groupId));
    const hardState: HardState = hsBytes === undefined ? EMPTY_HARD_STATE : readHardState(new Reader(hsBytes));
    const snapshot: Snapshot = snapBytes === undefined ? EMPTY_SNAPSHOT : readSnapshot(new Reader(snapBytes));
    const entries: Entry[] = [];
    const chunks: Chunk[] = [];
    const dropped: Buffer[] = [];
    for await (const [key, value] of this.db.iterator({ gte: entryKey(groupId, 0), lte: entryKey(groupId, Number.MAX_SAFE_INTEGER) })) {
      if (dropped.length > 0) {
        dropped.push(key);
        continue;
      }
      try {
        const chunk = decodeChunk(groupId, key, value);
        const first = chunk[0]?.index ?? 0;
        const previous = chunks.at(-1);
        if (first !== indexOfKey(key) || (previous !== undefined && first !== previous.last + 1)) {
          throw new FloError('FLO_ERR_STORAGE_CORRUPT', `raft log of group ${groupId} is not contiguous at index ${indexOfKey(key)}`);
        }
        chunks.push({ first, last: first + chunk.length - 1 });
        for (const entry of chunk) if (entry.index > snapshot.metadata.index) entries.push(entry);
      } catch (error) {
        if (this.recovery === undefined) throw error;
        this.recovery(`${(error as Error).message} (the log is cut there)`);
        dropped.push(key);
      }
    }
    if (dropped.length > 0) await this.enqueue(dropped.map((key) => ({ type: 'del', key })), true);
    this.chunks.set(groupId, chunks);
    const last = entries.at(-1)?.index ?? snapshot.metadata.index;
    const storage = new MemoryStorage();
    // A cut log cannot have committed past its end.
    storage.restore(snapshot, entries, hardState.commit > last ? { ...hardState, commit: last } : hardState);
    return storage;
  }

  /**
   * Forgets a group entirely (hard state, snapshot, log), in one synced batch with `alsoOps` (recovery
   * starts a partition's group afresh from what the event store kept).
   */
  async dropGroup(groupId: number, alsoOps: readonly BatchOp[] = []): Promise<void> {
    const ops: BatchOp[] = [{ type: 'del', key: groupKey(KIND_HARD_STATE, groupId) }, { type: 'del', key: groupKey(KIND_SNAPSHOT, groupId) }, ...alsoOps];
    for await (const key of this.db.keys({ gte: entryKey(groupId, 0), lte: entryKey(groupId, Number.MAX_SAFE_INTEGER) })) ops.push({ type: 'del', key });
    this.chunks.delete(groupId);
    await this.enqueue(ops, true);
  }

  /** Writes the founders' initial state if the group has never been written. Returns whether it did. */
  async bootstrap(groupId: number, founders: readonly NodeId[]): Promise<boolean> {
    const existing = await this.db.get(groupKey(KIND_HARD_STATE, groupId));
    if (existing !== undefined) return false;
    const { entries, hardState } = bootstrapState(founders);
    await this.persistMany([{ groupId, ready: { hardState, entries, snapshot: null } }]);
    return true;
  }

  /** `sync: false` only when the Ready says it need not be (only the commit index moved). */
  async persist(groupId: number, ready: Pick<Ready, 'hardState' | 'entries' | 'snapshot'>, sync = true): Promise<void> {
    await this.persistMany([{ groupId, ready }], sync);
  }

  /** One batch, one fsync, for the Readies of any number of groups (group commit across groups). */
  async persistMany(items: readonly { groupId: number; ready: Pick<Ready, 'hardState' | 'entries' | 'snapshot'> }[], sync = true): Promise<void> {
    const ops: BatchOp[] = [];
    for (const { groupId, ready } of items) await this.collect(ops, groupId, ready);
    if (ops.length === 0) return;
    await this.enqueue(ops, sync);
  }

  private async collect(ops: BatchOp[], groupId: number, ready: Pick<Ready, 'hardState' | 'entries' | 'snapshot'>): Promise<void> {
    const chunks = this.chunksOf(groupId);
    if (ready.snapshot !== null) {
      // An installed snapshot replaces the whole log.
      for (const chunk of chunks) ops.push({ type: 'del', key: entryKey(groupId, chunk.first) });
      chunks.length = 0;
      const snapshot = ready.snapshot;
      ops.push({ type: 'put', key: groupKey(KIND_SNAPSHOT, groupId), value: encode((w) => writeSnapshot(w, snapshot)) });
    }
    const first = ready.entries[0];
    if (first !== undefined) {
      await this.truncateFrom(ops, groupId, chunks, first.index);
      for (let i = 0; i < ready.entries.length; i += MAX_CHUNK_ENTRIES) {
        const run = ready.entries.slice(i, i + MAX_CHUNK_ENTRIES);
        const runFirst = run[0]?.index ?? 0;
        const key = entryKey(groupId, runFirst);
        ops.push({ type: 'put', key, value: encodeChunk(key, run) });
        chunks.push({ first: runFirst, last: runFirst + run.length - 1 });
      }
    }
    const hardState = ready.hardState;
    if (hardState !== null) ops.push({ type: 'put', key: groupKey(KIND_HARD_STATE, groupId), value: encode((w) => writeHardState(w, hardState)) });
  }

  /** Removes stored entries at and after `index` (a conflicting leader replaced them). */
  private async truncateFrom(ops: BatchOp[], groupId: number, chunks: Chunk[], index: number): Promise<void> {
    for (let last = chunks.at(-1); last !== undefined && last.first >= index; last = chunks.at(-1)) {
      ops.push({ type: 'del', key: entryKey(groupId, last.first) });
      chunks.pop();
    }
    const partial = chunks.at(-1);
    if (partial === undefined || partial.last < index) return;
    // Rare (only after a conflict): rewrite the chunk that straddles the cut.
    const value = await this.db.get(entryKey(groupId, partial.first));
    if (value === undefined) throw new FloError('FLO_ERR_STORAGE', `raft log chunk at ${partial.first} of group ${groupId} is missing`);
    const key = entryKey(groupId, partial.first);
    const kept = decodeChunk(groupId, key, value).filter((entry) => entry.index < index);
    ops.push({ type: 'put', key, value: encodeChunk(key, kept) });
    partial.last = index - 1;
  }

  /** Records a snapshot the application took and drops whole chunks of entries up to compactTo. */
  async saveSnapshot(groupId: number, snapshot: Snapshot, compactTo: number): Promise<void> {
    const chunks = this.chunksOf(groupId);
    const ops: BatchOp[] = [{ type: 'put', key: groupKey(KIND_SNAPSHOT, groupId), value: encode((w) => writeSnapshot(w, snapshot)) }];
    const upTo = Math.min(compactTo, snapshot.metadata.index);
    while (chunks.length > 0 && (chunks[0]?.last ?? 0) <= upTo) {
      const chunk = chunks.shift();
      if (chunk !== undefined) ops.push({ type: 'del', key: entryKey(groupId, chunk.first) });
    }
    await this.enqueue(ops, true);
  }

  private chunksOf(groupId: number): Chunk[] {
    let chunks = this.chunks.get(groupId);
    if (chunks === undefined) {
      chunks = [];
      this.chunks.set(groupId, chunks);
    }
    return chunks;
  }

  /**
   * Group commit across Raft groups: writes requested while another is in flight
   * (or in the same event-loop turn) go out together as one batch and one fsync.
   * Order is kept: a queued write never overtakes an earlier one.
   */
  private enqueue(ops: BatchOp[], sync: boolean): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ ops, sync, resolve, reject });
      if (this.flushing) return;
      this.flushing = true;
      // A microtask, not a timer: no added latency, yet Readies of other groups handled
      // in the same turn still join this batch.
      queueMicrotask(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const group = this.queue.splice(0, MAX_WRITES_PER_BATCH);
      const ops = group.length === 1 ? (group[0]?.ops ?? []) : group.flatMap((w) => w.ops);
      const sync = group.some((w) => w.sync);
      try {
        await this.write(ops, sync);
        for (const w of group) w.resolve();
      } catch (error) {
        for (const w of group) w.reject(error instanceof Error ? error : new Error(String(error)));
      }
    }
    this.flushing = false;
  }

  private async write(ops: BatchOp[], sync: boolean): Promise<void> {
    if (this.failure) throw new FloError('FLO_ERR_STORAGE_FAILED', this.failure.message, { cause: this.failure });
    this.stats.batches++;
    if (sync && this.sync) this.stats.syncs++;
    try {
      if (this.writer) await this.writer(ops, this.sync && sync);
      else await this.db.batch(ops, { sync: this.sync && sync });
    } catch (cause) {
      this.failure ??= cause instanceof FloError && cause.code === 'FLO_ERR_STORAGE_FAILED' ? cause
        : new FloError('FLO_ERR_STORAGE_FAILED', `raft storage write failed (${cause instanceof Error ? cause.message : String(cause)}): no later write is accepted until a restart`, { cause });
      throw this.failure;
    }
  }

  /** Closes the database when this storage opened it (a shared one belongs to its opener). */
  async close(): Promise<void> {
    if (this.owned) await this.db.close();
  }
}
