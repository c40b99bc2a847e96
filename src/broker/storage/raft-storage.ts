// Durable Raft state on LevelDB: per group, the hard state, the log entries by
// index, the latest snapshot and the compaction point. Keys are binary:
// [kind][groupId u32][index u64], so one database serves many groups (multi-Raft).
// Every Ready is one write batch with sync:true, so a crash (even kill -9) leaves
// either all of it or none of it; recovery rebuilds a MemoryStorage from disk.

import { ClassicLevel } from 'classic-level';
import { FloError } from '../../common/errors.js';
import {
  Reader, Writer, readEntry, readHardState, readSnapshot, writeEntry, writeHardState, writeSnapshot,
} from '../raft/codec.js';
import type { Entry, HardState, NodeId, Ready, Snapshot } from '../raft/messages.js';
import { EMPTY_HARD_STATE, EMPTY_SNAPSHOT, MemoryStorage, bootstrapState } from '../raft/storage.js';

type Db = ClassicLevel<Buffer, Buffer>;
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

function encode(write: (w: Writer) => void): Buffer {
  const w = new Writer(64);
  write(w);
  const bytes = w.finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Where each group's entries are on disk, so truncation and compaction know which keys to delete. */
interface GroupExtent {
  first: number;
  last: number;
}

export interface RaftStorageOptions {
  readonly dataDir: string;
  /** fsync every write batch (default true). Only benchmarks of the non-durable mode turn it off. */
  readonly sync?: boolean;
}

export class RaftStorage {
  private readonly extents = new Map<number, GroupExtent>();

  private constructor(
    private readonly db: Db,
    private readonly sync: boolean,
  ) {}

  static async open(options: RaftStorageOptions): Promise<RaftStorage> {
    const db: Db = new ClassicLevel<Buffer, Buffer>(options.dataDir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
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
    const extent: GroupExtent = { first: 0, last: 0 };
    for await (const [key, value] of this.db.iterator({ gte: entryKey(groupId, 0), lte: entryKey(groupId, Number.MAX_SAFE_INTEGER) })) {
      const index = indexOfKey(key);
      if (extent.first === 0) extent.first = index;
      if (extent.last !== 0 && index !== extent.last + 1) {
        throw new FloError('FLO_ERR_STORAGE', `raft log of group ${groupId} has a hole after index ${extent.last}`);
      }
      extent.last = index;
      if (index > snapshot.metadata.index) entries.push(readEntry(new Reader(value)));
    }
    this.extents.set(groupId, extent);
    const storage = new MemoryStorage();
    storage.restore(snapshot, entries, hardState);
    return storage;
  }

  /** Writes the founders' initial state if the group has never been written. Returns whether it did. */
  async bootstrap(groupId: number, founders: readonly NodeId[]): Promise<boolean> {
    const existing = await this.db.get(groupKey(KIND_HARD_STATE, groupId));
    if (existing !== undefined) return false;
    const { entries, hardState } = bootstrapState(founders);
    await this.persistMany([{ groupId, ready: { hardState, entries, snapshot: null } }]);
    return true;
  }

  async persist(groupId: number, ready: Pick<Ready, 'hardState' | 'entries' | 'snapshot'>): Promise<void> {
    await this.persistMany([{ groupId, ready }]);
  }

  /** One batch, one fsync, for the Readies of any number of groups (group commit across groups). */
  async persistMany(items: readonly { groupId: number; ready: Pick<Ready, 'hardState' | 'entries' | 'snapshot'> }[]): Promise<void> {
    const ops: BatchOp[] = [];
    for (const { groupId, ready } of items) this.collect(ops, groupId, ready);
    if (ops.length === 0) return;
    await this.write(ops);
  }

  private collect(ops: BatchOp[], groupId: number, ready: Pick<Ready, 'hardState' | 'entries' | 'snapshot'>): void {
    const extent = this.extent(groupId);
    if (ready.snapshot !== null) {
      // An installed snapshot replaces the whole log.
      for (let i = extent.first; i !== 0 && i <= extent.last; i++) ops.push({ type: 'del', key: entryKey(groupId, i) });
      extent.first = 0;
      extent.last = 0;
      const snapshot = ready.snapshot;
      ops.push({ type: 'put', key: groupKey(KIND_SNAPSHOT, groupId), value: encode((w) => writeSnapshot(w, snapshot)) });
    }
    const first = ready.entries[0];
    const last = ready.entries.at(-1);
    if (first !== undefined && last !== undefined) {
      // Entries after the new last one were overwritten by a conflicting leader: drop them.
      for (let i = last.index + 1; i <= extent.last; i++) ops.push({ type: 'del', key: entryKey(groupId, i) });
      for (const entry of ready.entries) ops.push({ type: 'put', key: entryKey(groupId, entry.index), value: encode((w) => writeEntry(w, entry)) });
      if (extent.first === 0 || first.index < extent.first) extent.first = first.index;
      extent.last = last.index;
    }
    const hardState = ready.hardState;
    if (hardState !== null) ops.push({ type: 'put', key: groupKey(KIND_HARD_STATE, groupId), value: encode((w) => writeHardState(w, hardState)) });
  }

  /** Records a snapshot the application took and drops log entries up to compactTo (<= its index). */
  async saveSnapshot(groupId: number, snapshot: Snapshot, compactTo: number): Promise<void> {
    const extent = this.extent(groupId);
    const ops: BatchOp[] = [{ type: 'put', key: groupKey(KIND_SNAPSHOT, groupId), value: encode((w) => writeSnapshot(w, snapshot)) }];
    const upTo = Math.min(compactTo, snapshot.metadata.index, extent.last);
    for (let i = extent.first; i !== 0 && i <= upTo; i++) ops.push({ type: 'del', key: entryKey(groupId, i) });
    if (extent.first !== 0 && upTo >= extent.first) extent.first = upTo + 1 > extent.last ? 0 : upTo + 1;
    if (extent.first === 0) extent.last = 0;
    await this.write(ops);
  }

  private extent(groupId: number): GroupExtent {
    let extent = this.extents.get(groupId);
    if (extent === undefined) {
      extent = { first: 0, last: 0 };
      this.extents.set(groupId, extent);
    }
    return extent;
  }

  private async write(ops: BatchOp[]): Promise<void> {
    try {
      await this.db.batch(ops, { sync: this.sync });
    } catch (cause) {
      throw new FloError('FLO_ERR_STORAGE', 'raft storage write failed', { cause });
    }
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
