// The event store: one LevelDB holding every partition's groups and indexes
// (layout in keys.ts). It only reads and writes; offsets, group commit and
// retention policy are decided above it. Every commit is one write batch,
// synced when durability is "fsync", so a commit is all-or-nothing on a crash.
// It fails stop: after any failed write, or a read that finds damage, it
// refuses every later write until a restart has verified it (verify.ts), since
// LevelDB itself goes on accepting writes whose log it may no longer replay.
import { syncLedgerFromEnv, type SyncLedger } from './sync-ledger.js';
import { ClassicLevel } from 'classic-level';
import { MAX_PARTITIONS } from '../../common/bounds.js';
import { FloError } from '../../common/errors.js';
import { readGroupHeader } from '../../common/wire.js';
import { sealGroup, unsealGroup } from './checksum.js';
import * as keys from './keys.js';
import { NamespaceDictionary } from './namespace-dictionary.js';
import { AckMark } from './ack-mark.js';
import { isCorruption, isLocked, isTableUnreadable } from './level-errors.js';
import { OffsetLedger, writeOffsetMarks } from './offset-marks.js';
import { RaftStorage } from './raft-storage.js';
import { checkedStates, RECOVERY_HELP, type StartUpOptions } from './start-up.js';
import { checkTables } from './table-check.js';
import { inspectDataDir, type NamespaceSize, type PartitionState } from './verify.js';

type Db = ClassicLevel<Buffer, Buffer>;
type Operation = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

/**
 * 2: every group carries a CRC-32 trailer, commit records carry their end offset, offsets file beside.
 * 3: each partition is a Raft group whose log lives in this LevelDB (raft-storage.ts, lowercase
 * keyspaces); the event store is written on apply, unsynced, and replayed from that log.
 */
const STORE_FORMAT = 3;
/**
 * Values are whole groups (often 10-100 KiB), so a larger memtable and files
 * mean fewer flushes and compactions per byte written. Snappy is off: on this
 * kind of machine it halved the throughput of synced 100 KiB batches (5.0 vs
 * 2.7 ms each), and event payloads are often already compact or encrypted.
 * classic-level exposes neither LevelDB's paranoid_checks nor verify_checksums,
 * hence our own checksum per group and the start-up checks.
 */
const LEVEL_TUNING = {
  writeBufferSize: 32 * 1024 * 1024,
  maxFileSize: 16 * 1024 * 1024,
  blockSize: 64 * 1024,
  cacheSize: 16 * 1024 * 1024,
  compression: false,
} as const;
const ITERATOR_BATCH = 64;

export interface StoreMeta {
  readonly format: number;
  readonly partitions: number;
  readonly nodeId: string;
  readonly createdAt: string;
}

export interface StoredGroup {
  readonly partition: number;
  readonly start: number;
  readonly count: number;
  readonly timestamp: number;
  readonly nsId: number;
  readonly value: Buffer;
}

export interface IndexEntry {
  readonly start: number;
  readonly count: number;
  readonly sizeBytes: number;
  readonly timestamp: number;
}

export interface OpenOptions extends StartUpOptions {
  readonly dataDir: string;
  /** Partitions of a new store; undefined keeps the stored count (or the default for a new one). */
  readonly partitions: number | undefined;
  readonly defaultPartitions: number;
  /** Pinned node id, or undefined to keep (or create) the stored one. */
  readonly nodeId: string | undefined;
  readonly createNodeId: () => string;
  /** Told once, when the store fails (a write failed or damage was found). */
  readonly onFailure?: ((error: FloError) => void) | undefined;
}

export class EventStore {
  private failure: FloError | undefined;
  private appliedSource: (() => readonly number[]) | undefined;
  private marked: readonly number[] | undefined;

  private constructor(
    private readonly db: Db,
    readonly meta: StoreMeta,
    readonly dictionary: NamespaceDictionary,
    private readonly ledger: OffsetLedger,
    private readonly states: PartitionState[],
    private readonly onFailure: ((error: FloError) => void) | undefined,
    private readonly ackMark: AckMark,
    /** Per namespace id, its stored events and bytes at open (summed while verifying, not read again). */
    readonly namespaceSizes: ReadonlyMap<number, NamespaceSize>,
    private readonly syncLedger: SyncLedger | undefined,
  ) {}

  static async open(options: OpenOptions): Promise<EventStore> {
    const dataDir = options.dataDir;
    const found = await inspectDataDir(dataDir);
    if (found.kind === 'foreign') {
      throw new FloError('FLO_ERR_STORAGE_CORRUPT',
        `${dataDir} is not empty but holds no LevelDB store (no CURRENT file; found ${found.entries.join(', ')}): ` +
        `refusing to create a new store over it. If it is a Flo data dir that lost its CURRENT file, restore it; otherwise point --data-dir at an empty dir (${RECOVERY_HELP})`);
    }
    let damagedTables: string[] = [];
    if (found.kind === 'leveldb') {
      // Before LevelDB reads a table: a damaged block it parses can abort the process instead of raising an error.
      damagedTables = await checkTables(dataDir);
      if (damagedTables.length > 0 && !options.recover) {
        throw new FloError('FLO_ERR_STORAGE_CORRUPT',
          `the store in ${dataDir} failed verification; refusing to start: ${damagedTables.join('; ')}. Restore the data dir from a backup, or start once with --recover-store to keep what can still be read (${RECOVERY_HELP})`);
      }
    }
    try {
      return await EventStore.openVerified(dataDir, found.kind === 'new', damagedTables, options);
    } catch (error) {
      // A table LevelDB cannot read (cut short, or a block it trips over): --recover-store has LevelDB
      // rebuild its manifest from what the tables and logs still hold, then verification runs again.
      if (!options.recover || !(error instanceof FloError) || error.code !== 'FLO_ERR_STORAGE_CORRUPT' || !(isCorruption(error) || isTableUnreadable(error))) throw error;
      await ClassicLevel.repair(dataDir);
      try {
        return await EventStore.openVerified(dataDir, false, [...damagedTables, `LevelDB repaired the store after: ${describe(error.cause ?? error)}`], options);
      } catch (again) {
        throw new FloError('FLO_ERR_STORAGE_CORRUPT',
          `--recover-store had LevelDB repair the store in ${dataDir} (it had found: ${describe(error.cause ?? error)}), and what is left cannot be used either: ${(again as Error).message}. ` +
          `Restore the data dir from a backup; a cluster member's events are on the other members: move this dir away and start it with an empty one and --join <a member's peer address> (docs/cluster.md, "Membership")`, { cause: again });
      }
    }
  }

  private static async openVerified(dataDir: string, create: boolean, damagedTables: string[], options: OpenOptions): Promise<EventStore> {
    const db: Db = new ClassicLevel<Buffer, Buffer>(dataDir, { keyEncoding: 'buffer', valueEncoding: 'buffer', createIfMissing: create, ...LEVEL_TUNING });
    try {
      await db.open();
    } catch (error) {
      const locked = isLocked(error);
      if (!locked && (isCorruption(error) || isTableUnreadable(error))) throw damageRefusal(dataDir, 'opened', error);
      const hint = locked ? ' (it is locked: is another flo server using it?)' : ` (${RECOVERY_HELP})`;
      throw new FloError('FLO_ERR_STORAGE', `cannot open data directory ${dataDir}${hint}: ${describe(error)}`, { cause: error });
    }
    try {
      const meta = await loadOrCreateMeta(db, options);
      const dictionary = new NamespaceDictionary(meta.partitions);
      for await (const [key, value] of db.iterator({ gt: Buffer.of(keys.Keyspace.DICT), lt: Buffer.of(keys.Keyspace.DICT + 1) })) {
        dictionary.load(key.readUInt32BE(1), value.toString('utf8'));
      }
      // Recovery goes on past damaged tables: what verify.ts reads past is dropped and reported with them (a block LevelDB trips over may still abort it, leaving the dir as it was).
      let reported = damagedTables.length === 0;
      const { states, namespaceSizes } = await checkedStates(db, dictionary, meta.partitions, reported ? options : {
        ...options, onRecovered: (problems) => { reported = true; options.onRecovered?.([...damagedTables, ...problems]); },
      });
      if (!reported) options.onRecovered?.(damagedTables);
      // Recovery dropped what it could not verify, but the damaged blocks stay in their tables until rewritten.
      if (damagedTables.length > 0) await db.compactRange(Buffer.alloc(0), Buffer.alloc(8, 0xff));
      // From here until a clean close, the offsets file says "not clean": a crash makes the next start skip past every reservation.
      const ledger = await OffsetLedger.start(dataDir, states.map((state) => state.nextOffset));
      const failures: { store?: EventStore } = {};
      const ackMark = await AckMark.start(dataDir, states.map((state) => state.nextOffset),
        (error) => failures.store?.fail(`writing the acknowledgement mark failed (${describe(error)})`, error));
      return (failures.store = new EventStore(db, meta, dictionary, ledger, states, options.onFailure, ackMark, namespaceSizes, syncLedgerFromEnv(dataDir)));
    } catch (error) {
      await db.close();
      if (error instanceof FloError) throw error;
      if (!isCorruption(error) && !isTableUnreadable(error)) throw new FloError('FLO_ERR_STORAGE', `cannot open the store in ${dataDir}: ${describe(error)}`, { cause: error });
      throw damageRefusal(dataDir, 'verified', error);
    }
  }

  /** The Raft log of every partition, in this LevelDB: its writes go through write(), so they fail stop with the store. */
  raftStorage(sync: boolean, recovery?: (problem: string) => void): RaftStorage {
    return RaftStorage.shared(this.db, (operations, synced) => this.write(operations, synced), sync, recovery);
  }

  /** Each partition's next offset and last commit time, as verified at open. */
  partitionStates(): PartitionState[] {
    return this.states.map((state) => ({ ...state }));
  }

  /** Why the store refuses writes, or undefined while it is healthy. */
  get failed(): FloError | undefined {
    return this.failure;
  }

  async readSetting<T>(name: string): Promise<T | undefined> {
    const value = await this.guardRead(() => this.db.get(keys.metaKey(`setting:${name}`)));
    return value === undefined ? undefined : (JSON.parse(value.toString('utf8')) as T);
  }

  async writeSetting(name: string, value: unknown): Promise<void> {
    await this.write([{ type: 'put', key: keys.metaKey(`setting:${name}`), value: Buffer.from(JSON.stringify(value)) }], true);
  }

  /** One atomic batch. Group values are sealed with their checksum here, so no path can store one without it. */
  async write(operations: Operation[], sync: boolean): Promise<void> {
    this.assertWritable();
    // Every write before a synced one is durable once it returns (one WAL): what was applied by now may be marked.
    const covered = sync && this.appliedSource ? [...this.appliedSource()] : undefined;
    // A chained batch costs about a third less CPU per commit than the array form (measured here).
    const batch = this.db.batch();
    for (const operation of operations) {
      if (operation.type === 'del') batch.del(operation.key);
      else batch.put(operation.key, operation.key[0] === keys.Keyspace.GROUP ? sealGroup(operation.key, operation.value) : operation.value);
    }
    try {
      await batch.write({ sync });
    } catch (error) {
      throw this.fail(`a write to the data directory failed (${describe(error)})`, error);
    }
    if (sync) this.syncLedger?.noteSynced();
    if (covered && !this.failure) {
      this.ackMark.note(covered);
      this.marked = covered;
    }
  }

  /** Whether a completed synced write already covers applies up to `nextOffsets` (then no extra sync is needed for the mark). */
  marks(nextOffsets: readonly number[]): boolean {
    return this.marked !== undefined && nextOffsets.every((next, partition) => next <= (this.marked![partition] ?? 0));
  }

  /**
   * Where each partition's applied events end. Applies are written unsynced, so the acknowledgement
   * mark takes these ends only when a synced write completes: after a power loss it may lag the
   * store, never run ahead of it (which would refuse a healthy store at the next start).
   */
  markAppliedFrom(source: () => readonly number[]): void {
    this.appliedSource = source;
  }

  /**
   * Makes sure no offset below `nextOffsets` (per partition) lies beyond the offsets file, raising it
   * (one fsynced file write, every OFFSET_RESERVATION offsets) before they are used.
   */
  async reserve(nextOffsets: ReadonlyMap<number, number>): Promise<void> {
    this.assertWritable();
    try {
      await this.ledger.reserve(nextOffsets);
    } catch (error) {
      throw this.fail(`writing the offsets file failed (${describe(error)})`, error);
    }
  }

  /** Notes in the offsets file that every offset below `nextOffsets` is durably acknowledged, so a later loss of them is seen at start-up. */
  async recordAcknowledged(nextOffsets: readonly number[]): Promise<void> {
    this.assertWritable();
    try {
      await this.ledger.recordAcknowledged(nextOffsets);
    } catch (error) {
      throw this.fail(`writing the offsets file failed (${describe(error)})`, error);
    }
  }

  /** Groups of one partition in offset order, starting with the one that holds `fromOffset`. */
  async readGroups(partition: number, fromOffset: number, maxBytes: number, endOffset: number): Promise<StoredGroup[]> {
    const groups: StoredGroup[] = [];
    const holding = await this.guardRead(() => this.db.iterator({ lte: keys.groupKeyBound(partition, fromOffset), gte: keys.groupKeyBound(partition, 0), reverse: true, limit: 1 }).all());
    for (const [key, value] of holding) {
      const group = this.toStoredGroup(partition, key, value);
      if (group.start + group.count > fromOffset) groups.push(group);
    }
    if (fromOffset >= endOffset) return groups;
    let bytes = groups.reduce((sum, group) => sum + group.value.length, 0);
    const iterator = this.db.iterator({ gt: keys.groupKeyBound(partition, fromOffset), lt: keys.groupKeyBound(partition, endOffset) });
    try {
      while (bytes < maxBytes) {
        const entries = await this.guardRead(() => iterator.nextv(ITERATOR_BATCH));
        if (entries.length === 0) break;
        for (const [key, value] of entries) {
          // A batch read ahead is cut at maxBytes (one group at least): a catch-up reply is sized by its grant.
          if (bytes >= maxBytes && groups.length > 0) break;
          const group = this.toStoredGroup(partition, key, value);
          groups.push(group);
          bytes += group.value.length;
        }
      }
    } finally {
      await iterator.close();
    }
    return groups;
  }

  /** Index entries of one namespace from the group holding `fromOffset`, oldest first. */
  async readIndex(nsId: number, fromOffset: number, endOffset: number, limit: number): Promise<IndexEntry[]> {
    const entries: IndexEntry[] = [];
    const holding = await this.guardRead(() => this.db.iterator({ lte: keys.namespaceIndexKeyBound(nsId, fromOffset), gte: keys.namespaceIndexKeyBound(nsId, 0), reverse: true, limit: 1 }).all());
    for (const [key, value] of holding) {
      const entry = { start: keys.namespaceIndexKeyStart(key), ...keys.decodeIndexValue(value) };
      if (entry.start + entry.count > fromOffset) entries.push(entry);
    }
    const rest = await this.guardRead(() => this.db.iterator({ gt: keys.namespaceIndexKeyBound(nsId, fromOffset), lt: keys.namespaceIndexKeyBound(nsId, endOffset), limit }).all());
    for (const [key, value] of rest) entries.push({ start: keys.namespaceIndexKeyStart(key), ...keys.decodeIndexValue(value) });
    return entries;
  }

  /** The groups (checksum verified, trailer stripped) starting at `starts`; undefined where there is none. */
  async getGroups(partition: number, starts: readonly number[]): Promise<Array<Buffer | undefined>> {
    const groupKeys = starts.map((start) => keys.groupKey(partition, start));
    const values = await this.guardRead(() => this.db.getMany(groupKeys));
    return values.map((value, i) => (value === undefined ? undefined : this.unseal(partition, groupKeys[i]!, value)));
  }

  /** First offset of the first commit at or after `timestamp`, or undefined when there is none. */
  async offsetAtTime(partition: number, timestamp: number): Promise<number | undefined> {
    const found = await this.guardRead(() => this.db.keys({ gte: keys.timeKeyBound(partition, timestamp, 0), lt: keys.timeKeyBound(partition + 1, 0, 0), limit: 1 }).all());
    return found.length === 0 ? undefined : keys.timeKeyParts(found[0]!).start;
  }

  /**
   * Retention's tidy-up: deletes the timestamp-index entries of commits older than the oldest group
   * a partition still holds (all of them when it holds none).
   */
  async pruneTimeIndex(partition: number): Promise<void> {
    this.assertWritable();
    const [oldest] = await this.guardRead(() => this.db.iterator({ gte: keys.groupKeyBound(partition, 0), lt: keys.groupKeyBound(partition + 1, 0), limit: 1 }).all());
    const before = oldest ? this.toStoredGroup(partition, oldest[0], oldest[1]).timestamp : Number.MAX_SAFE_INTEGER;
    try {
      await this.db.clear({ gte: keys.timeKeyBound(partition, 0, 0), lt: keys.timeKeyBound(partition, before, 0) });
    } catch (error) {
      throw this.fail(`deleting old commit records failed (${describe(error)})`, error);
    }
  }

  async compact(): Promise<void> {
    this.assertWritable();
    try {
      await this.db.compactRange(Buffer.of(keys.Keyspace.GROUP), Buffer.of(keys.Keyspace.GROUP + 1));
    } catch (error) {
      throw this.fail(`compacting the store failed (${describe(error)})`, error);
    }
  }

  /**
   * Closes LevelDB. Given the final next offsets (everything accepted is committed) and a healthy
   * store, records a clean stop, so the next start resumes exactly there instead of skipping ahead.
   */
  async close(finalOffsets?: readonly number[]): Promise<void> {
    await this.ledger.idle();
    await this.ackMark.close();
    await this.db.close();
    if (finalOffsets && !this.failure) await this.ledger.closeClean(finalOffsets.map((next, partition) => Math.max(next, this.states[partition]!.nextOffset)));
  }

  /** Damage found by a caller (e.g. an index entry that disagrees with its group): fails the store like a bad checksum. */
  damaged(what: string): FloError {
    return this.fail(`${what} (the data directory is damaged)`, undefined, 'FLO_ERR_STORAGE_CORRUPT');
  }

  /** Marks the store failed (first failure wins) and returns the error to throw. */
  private fail(what: string, cause: unknown, code: 'FLO_ERR_STORAGE_FAILED' | 'FLO_ERR_STORAGE_CORRUPT' = 'FLO_ERR_STORAGE_FAILED'): FloError {
    const error = new FloError(code, `${what}: this broker no longer accepts writes; restart the broker to verify the store (docs/operations.md)`, { cause });
    if (!this.failure) {
      this.failure = error;
      this.onFailure?.(error);
    }
    return error;
  }

  private assertWritable(): void {
    if (this.failure) throw new FloError('FLO_ERR_STORAGE_FAILED', this.failure.message, { cause: this.failure });
  }

  /** A read that LevelDB reports as corrupt fails the store like a bad checksum; other read errors are plain storage errors. */
  private async guardRead<T>(read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (error) {
      throw this.readError(error);
    }
  }

  private readError(error: unknown): FloError {
    if (isCorruption(error)) return this.fail(`LevelDB found damage while reading (${describe(error)})`, error, 'FLO_ERR_STORAGE_CORRUPT');
    return new FloError('FLO_ERR_STORAGE', `read failed: ${describe(error)}`, { cause: error });
  }

  private unseal(partition: number, key: Buffer, value: Buffer): Buffer {
    const group = unsealGroup(key, value);
    if (!group) throw this.damaged(`the stored group at partition ${partition} offset ${keys.groupKeyStart(key)} fails its checksum`);
    return group;
  }

  private toStoredGroup(partition: number, key: Buffer, value: Buffer): StoredGroup {
    const group = this.unseal(partition, key, value);
    const header = readGroupHeader(group);
    return { partition, start: keys.groupKeyStart(key), count: header.count, timestamp: header.timestamp, nsId: header.nsId, value: group };
  }
}

async function loadOrCreateMeta(db: Db, options: OpenOptions): Promise<StoreMeta> {
  const stored = await db.get(keys.metaKey('store'));
  if (stored === undefined) {
    // Only a store holding nothing at all is new (or one whose creation stopped half-way); anything else lost its metadata.
    const [any] = await db.keys({ limit: 1 }).all();
    if (any !== undefined) {
      throw new FloError('FLO_ERR_STORAGE_CORRUPT', `${options.dataDir} holds a LevelDB store without Flo's metadata record: refusing to re-initialise it (${RECOVERY_HELP})`);
    }
    const meta: StoreMeta = {
      format: STORE_FORMAT,
      partitions: options.partitions ?? options.defaultPartitions,
      nodeId: options.nodeId ?? options.createNodeId(),
      createdAt: new Date().toISOString(),
    };
    // The offsets file first: a crash before the metadata put leaves a store that is still empty, so it is created again.
    const zeros = new Array<number>(meta.partitions).fill(0);
    await writeOffsetMarks(options.dataDir, { clean: true, reserved: zeros, acknowledged: zeros });
    await db.put(keys.metaKey('store'), Buffer.from(JSON.stringify(meta)), { sync: true });
    return meta;
  }
  let meta: StoreMeta;
  try {
    meta = JSON.parse(stored.toString('utf8')) as StoreMeta;
  } catch {
    throw new FloError('FLO_ERR_STORAGE_CORRUPT', `${options.dataDir}: Flo's metadata record is damaged (not JSON); refusing to start (${RECOVERY_HELP})`);
  }
  // The record may come from a table that failed its checksum (--recover-store reads on): every field is checked.
  if (typeof meta !== 'object' || meta === null || !Number.isSafeInteger(meta.format)
    || !Number.isSafeInteger(meta.partitions) || meta.partitions < 1 || meta.partitions > MAX_PARTITIONS || typeof meta.nodeId !== 'string') {
    throw new FloError('FLO_ERR_STORAGE_CORRUPT', `${options.dataDir}: Flo's metadata record is damaged (${stored.toString('utf8').slice(0, 200)}); refusing to start (${RECOVERY_HELP})`);
  }
  if (meta.format !== STORE_FORMAT) {
    const why = meta.format < STORE_FORMAT
      ? ` (format ${meta.format} predates ${meta.format === 1 ? 'per-group checksums and ' : ''}the Raft log of every partition: read its events out with the older flo and produce them into a new data dir, docs/operations.md)`
      : '';
    throw new FloError('FLO_ERR_DATA_DIR_MISMATCH', `${options.dataDir} has store format ${meta.format}; this broker reads format ${STORE_FORMAT}${why}`);
  }
  if (options.partitions !== undefined && meta.partitions !== options.partitions) {
    throw new FloError('FLO_ERR_DATA_DIR_MISMATCH',
      `${options.dataDir} was created with ${meta.partitions} partitions; --partitions ${options.partitions} cannot change that (omit it or pass ${meta.partitions})`);
  }
  if (options.nodeId !== undefined && options.nodeId !== meta.nodeId) {
    throw new FloError('FLO_ERR_DATA_DIR_MISMATCH', `${options.dataDir} belongs to node "${meta.nodeId}", not "${options.nodeId}"`);
  }
  return meta;
}

/** The message with its causes: classic-level says only "Database failed to open" and puts why (e.g. no space left) in `cause`. */
function describe(error: unknown): string {
  const messages: string[] = [];
  for (let at: unknown = error, depth = 0; at !== undefined && depth < 5; at = (at as { cause?: unknown }).cause, depth++) {
    const message = at instanceof Error ? at.message : String(at);
    if (!messages.includes(message)) messages.push(message);
    if (!(at instanceof Error)) break;
  }
  return messages.join(': ');
}

export type { Operation as StoreOperation };

/** Damage LevelDB itself ran into: refused, naming both ways out (a backup, or --recover-store, which has LevelDB repair the store first). */
function damageRefusal(dataDir: string, when: 'opened' | 'verified', error: unknown): FloError {
  return new FloError('FLO_ERR_STORAGE_CORRUPT',
    `LevelDB found damage while the store in ${dataDir} was ${when} (${describe(error)}); refusing to start. Restore the data dir from a backup, or start once with --recover-store to keep what can still be read (${RECOVERY_HELP})`, { cause: error });
}
