// Start-up checks of the event store, before anything is served: the data dir
// is an empty dir (a new store) or a complete LevelDB, every group passes its
// checksum and sits after the previous one, each partition's commits (the
// timestamp index) are contiguous up to its recorded next offset, and nothing
// lies beyond it. Problems are collected, not fixed: the caller refuses to start.
import { readdir } from 'node:fs/promises';
import type { ClassicLevel } from 'classic-level';
import { readGroupHeader } from '../../common/wire.js';
import { unsealGroup } from './checksum.js';
import * as keys from './keys.js';

type Db = ClassicLevel<Buffer, Buffer>;

/** Entries a new filesystem may hold at its root (ext4 creates lost+found), which do not make a dir "not empty". */
const IGNORED_ENTRIES = new Set(['lost+found']);
const MAX_REPORTED_PROBLEMS = 20;
const SCAN_BATCH = 256;

export type DataDirKind = { kind: 'new' } | { kind: 'leveldb' } | { kind: 'foreign'; entries: string[] };

/** What is in a data dir before LevelDB touches it (it would "repair" a dir without CURRENT by starting afresh). */
export async function inspectDataDir(dataDir: string): Promise<DataDirKind> {
  let entries: string[];
  try {
    entries = (await readdir(dataDir)).filter((entry) => !IGNORED_ENTRIES.has(entry));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'new' };
    throw error;
  }
  if (entries.length === 0) return { kind: 'new' };
  return entries.includes('CURRENT') ? { kind: 'leveldb' } : { kind: 'foreign', entries: entries.sort().slice(0, 10) };
}

export interface PartitionState {
  nextOffset: number;
  lastTimestamp: number;
}

export interface Verification {
  readonly states: PartitionState[];
  readonly problems: string[];
  readonly groups: number;
}

export async function verifyStore(db: Db, partitions: number): Promise<Verification> {
  const states: PartitionState[] = Array.from({ length: partitions }, () => ({ nextOffset: 0, lastTimestamp: 0 }));
  const problems: string[] = [];
  const report = (problem: string): void => void (problems.length < MAX_REPORTED_PROBLEMS ? problems.push(problem) : undefined);
  for await (const [key, value] of db.iterator({ gt: Buffer.of(keys.Keyspace.PARTITION), lt: Buffer.of(keys.Keyspace.PARTITION + 1) })) {
    const partition = key.readUInt16BE(1);
    if (partition < partitions) states[partition] = keys.decodePartitionState(value);
    else report(`a partition state for partition ${partition}, beyond the store's ${partitions} partitions`);
  }
  const groups = await verifyGroups(db, states, report);
  await verifyCommitChain(db, states, report);
  return { states, problems, groups };
}

async function* scan(db: Db, keyspace: number): AsyncGenerator<[Buffer, Buffer]> {
  const iterator = db.iterator({ gt: Buffer.of(keyspace), lt: Buffer.of(keyspace + 1), fillCache: false });
  try {
    for (;;) {
      const entries = await iterator.nextv(SCAN_BATCH);
      if (entries.length === 0) return;
      yield* entries;
    }
  } finally {
    await iterator.close();
  }
}

/** Every group: checksum, no overlap with the one before, nothing at or past the partition's next offset. */
async function verifyGroups(db: Db, states: readonly PartitionState[], report: (problem: string) => void): Promise<number> {
  const ends = new Array<number>(states.length).fill(0);
  let count = 0;
  for await (const [key, value] of scan(db, keys.Keyspace.GROUP)) {
    count++;
    const partition = key.readUInt16BE(1);
    const start = keys.groupKeyStart(key);
    const group = unsealGroup(key, value);
    if (partition >= states.length) {
      report(`a group for partition ${partition}, beyond the store's ${states.length} partitions`);
      continue;
    }
    if (!group) {
      report(`partition ${partition}: the group at offset ${start} fails its checksum`);
      continue;
    }
    const end = start + readGroupHeader(group).count;
    if (start < ends[partition]!) report(`partition ${partition}: the group at offset ${start} overlaps the one before (which ends at ${ends[partition]})`);
    if (end > states[partition]!.nextOffset) report(`partition ${partition}: the group at offsets ${start}-${end - 1} lies beyond the partition's recorded end ${states[partition]!.nextOffset}`);
    ends[partition] = Math.max(ends[partition]!, end);
  }
  return count;
}

/**
 * The timestamp index holds one entry per commit with its end offset; retention only ever removes
 * its oldest entries. So the entries left must chain (each starts where the one before ended) and
 * the last must end at the partition's next offset: a gap is a lost commit.
 */
async function verifyCommitChain(db: Db, states: readonly PartitionState[], report: (problem: string) => void): Promise<void> {
  const lastEnd = new Array<number | undefined>(states.length).fill(undefined);
  for await (const [key, value] of scan(db, keys.Keyspace.TIME)) {
    const partition = key.readUInt16BE(1);
    if (partition >= states.length) continue;
    const { start } = keys.timeKeyParts(key);
    const end = value.length === 8 ? keys.decodeTimeValue(value) : Number.NaN;
    const previous = lastEnd[partition];
    if (!Number.isSafeInteger(end) || end < start) report(`partition ${partition}: the commit record at offset ${start} is damaged`);
    else if (previous !== undefined && start !== previous) {
      report(start > previous
        ? `partition ${partition}: commits holding offsets ${previous}-${start - 1} are missing`
        : `partition ${partition}: the commit at offset ${start} overlaps the one before (which ends at ${previous})`);
    }
    lastEnd[partition] = Number.isSafeInteger(end) ? end : previous;
  }
  states.forEach((state, partition) => {
    const end = lastEnd[partition];
    if (end !== undefined && end !== state.nextOffset) {
      report(end < state.nextOffset
        ? `partition ${partition}: commits holding offsets ${end}-${state.nextOffset - 1} are missing`
        : `partition ${partition}: commits reach offset ${end}, beyond the partition's recorded end ${state.nextOffset}`);
    }
  });
}
