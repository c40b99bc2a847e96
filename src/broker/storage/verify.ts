// Start-up checks of the event store, before anything is served: the data dir
// is an empty dir (a new store) or a complete LevelDB; every group passes its
// checksum, names a known namespace of its partition and sits after the one
// before; each partition's commits (the timestamp index) chain without gaps up
// to its recorded end. Each problem comes with the repair that keeps only what
// verifies, which the caller applies only when asked to recover (recover.ts).
import { readdir } from 'node:fs/promises';
import type { ClassicLevel } from 'classic-level';
import { readGroupHeader } from '../../common/wire.js';
import { crc32, unsealGroup } from './checksum.js';
import * as keys from './keys.js';
import type { NamespaceDictionary } from './namespace-dictionary.js';

type Db = ClassicLevel<Buffer, Buffer>;
export type Repair = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

/**
 * Entries that do not make a dir "not empty": ext4 creates lost+found at a filesystem's root, and a
 * cluster member writes its membership (cluster/founding.ts), and a joining one its incarnation
 * (cluster/joining.ts), before its store is created.
 */
const IGNORED_ENTRIES = new Set(['lost+found', 'cluster.json', 'cluster.json.tmp', 'incarnation', 'incarnation.tmp']);
/** A store that failed verification, moved aside by a member that rebuilt itself from the others (broker.ts). */
export const DAMAGED_PREFIX = 'damaged-';
const SCAN_BATCH = 256;

export type DataDirKind = { kind: 'new' } | { kind: 'leveldb' } | { kind: 'foreign'; entries: string[] };

/** What is in a data dir before LevelDB touches it (it would "repair" a dir without CURRENT by starting afresh). */
export async function inspectDataDir(dataDir: string): Promise<DataDirKind> {
  let entries: string[];
  try {
    entries = (await readdir(dataDir)).filter((entry) => !IGNORED_ENTRIES.has(entry) && !entry.startsWith(DAMAGED_PREFIX));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'new' };
    throw error;
  }
  if (entries.length === 0) return { kind: 'new' };
  return entries.includes('CURRENT') ? { kind: 'leveldb' } : { kind: 'foreign', entries: entries.sort().slice(0, 10) };
}

/** A namespace's stored events and their group bytes, as the namespace index sums them. */
export interface NamespaceSize {
  events: number;
  bytes: number;
}

export interface PartitionState {
  nextOffset: number;
  lastTimestamp: number;
  /** Where the stored offsets end, when nextOffset was moved past it (an unclean stop's skip, not yet applied). */
  storedEnd?: number;
}

/** A verified group, as the namespace index should describe it. */
interface GroupFacts {
  readonly nsId: number;
  readonly start: number;
  readonly count: number;
  readonly sizeBytes: number;
  readonly timestamp: number;
}

/** Problems found, each with its repair; `states` are as they will be once the repairs are applied. */
export class Findings {
  readonly problems: string[] = [];
  readonly repairs: Repair[] = [];
  /** Namespace names to create for dictionary ids that lost theirs, so their surviving groups stay readable. */
  readonly placeholders: Array<{ nsId: number; namespace: string }> = [];
  /** Verified groups per partition (kept only when recovering: the namespace index is rebuilt from them). */
  readonly groups: GroupFacts[][];
  /**
   * Per namespace id, the verified groups' events and bytes: what the namespace index sums to once it
   * passed (or was rebuilt from them), so start-up need not scan the index a second time for sizes.
   */
  readonly namespaceSizes = new Map<number, NamespaceSize>();

  constructor(readonly states: PartitionState[], readonly recovering: boolean) {
    this.groups = states.map(() => []);
  }

  report(problem: string, ...repairs: Repair[]): void {
    this.problems.push(problem);
    if (this.recovering) this.repairs.push(...repairs);
  }
}

export async function verifyStore(db: Db, dictionary: NamespaceDictionary, partitions: number, recovering: boolean): Promise<Findings> {
  const states: PartitionState[] = Array.from({ length: partitions }, () => ({ nextOffset: 0, lastTimestamp: 0 }));
  const findings = new Findings(states, recovering);
  for await (const [key, value] of db.iterator({ gt: Buffer.of(keys.Keyspace.PARTITION), lt: Buffer.of(keys.Keyspace.PARTITION + 1) })) {
    const partition = key.readUInt16BE(1);
    if (partition < partitions) states[partition] = keys.decodePartitionState(value);
    else findings.report(`a partition state for partition ${partition}, beyond the store's ${partitions} partitions`, { type: 'del', key });
  }
  const groupDigest = await verifyGroups(db, dictionary, findings);
  await verifyNamespaceIndex(db, dictionary, groupDigest, findings);
  await verifyCommitChain(db, findings);
  if (recovering) await rebuildNamespaceIndex(db, findings);
  return findings;
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

/** Every group: checksum, a namespace the dictionary knows (in this partition), no overlap, nothing past the partition's end. */
async function verifyGroups(db: Db, dictionary: NamespaceDictionary, findings: Findings): Promise<IndexDigest> {
  const digest = new IndexDigest();
  const states = findings.states;
  const ends = new Array<number>(states.length).fill(0);
  const named = new Set<number>();
  for await (const [key, value] of scan(db, keys.Keyspace.GROUP)) {
    const partition = key.readUInt16BE(1);
    const start = keys.groupKeyStart(key);
    const drop: Repair = { type: 'del', key };
    if (partition >= states.length) {
      findings.report(`a group for partition ${partition}, beyond the store's ${states.length} partitions`, drop);
      continue;
    }
    const group = unsealGroup(key, value);
    if (!group) {
      findings.report(`partition ${partition}: the group at offset ${start} fails its checksum (its events are lost)`, drop);
      continue;
    }
    const header = readGroupHeader(group);
    const end = start + header.count;
    const where = `partition ${partition}: the group at offsets ${start}-${end - 1}`;
    if (start < ends[partition]!) {
      findings.report(`${where} overlaps the one before (which ends at ${ends[partition]}; dropped)`, drop);
      continue;
    }
    if (header.nsId >= dictionary.size || dictionary.nameOf(header.nsId) === undefined) {
      if (!named.has(header.nsId)) {
        named.add(header.nsId);
        const namespace = placeholderName(dictionary, header.nsId, partition);
        findings.report(`${where} belongs to namespace id ${header.nsId}, which the namespace dictionary lacks (kept as ${namespace})`);
        if (findings.recovering) findings.placeholders.push({ nsId: header.nsId, namespace });
      }
    } else if (dictionary.partitionOf(header.nsId) !== partition) {
      findings.report(`${where} names namespace ${dictionary.nameOf(header.nsId)}, which belongs to partition ${dictionary.partitionOf(header.nsId)} (dropped)`, drop);
      continue;
    }
    if (end > states[partition]!.nextOffset) {
      findings.report(`${where} lies beyond the partition's recorded end ${states[partition]!.nextOffset} (kept; the end moves past it)`);
      states[partition]!.nextOffset = end;
      if (findings.recovering) findings.repairs.push({ type: 'put', key: keys.partitionKey(partition), value: keys.encodePartitionState(end, Math.max(header.timestamp, states[partition]!.lastTimestamp)) });
    }
    ends[partition] = end;
    digest.add(header.nsId, start, header.count, group.length, header.timestamp);
    const size = findings.namespaceSizes.get(header.nsId);
    if (size === undefined) findings.namespaceSizes.set(header.nsId, { events: header.count, bytes: group.length });
    else {
      size.events += header.count;
      size.bytes += group.length;
    }
    if (findings.recovering) findings.groups[partition]!.push({ nsId: header.nsId, start, count: header.count, sizeBytes: group.length, timestamp: header.timestamp });
  }
  return digest;
}

/**
 * What the namespace index should hold, per namespace, in O(namespaces) memory: a count and an
 * order-independent sum of a CRC of each (start, count, bytes, timestamp). The index is not
 * checksummed itself (its values are small), so it is checked against the groups that verified.
 */
class IndexDigest {
  private readonly sums = new Map<number, { entries: number; sum: number }>();
  private readonly scratch = Buffer.alloc(28);

  add(nsId: number, start: number, count: number, sizeBytes: number, timestamp: number): void {
    this.scratch.writeDoubleBE(start, 0);
    this.scratch.writeUInt32BE(count, 8);
    this.scratch.writeUInt32BE(sizeBytes, 12);
    this.scratch.writeDoubleBE(timestamp, 16);
    this.scratch.writeUInt32BE(nsId, 24);
    const entry = this.sums.get(nsId) ?? { entries: 0, sum: 0 };
    entry.entries++;
    entry.sum = (entry.sum + crc32(this.scratch)) >>> 0;
    this.sums.set(nsId, entry);
  }

  /** Namespace ids whose entries differ between this digest and `other`. */
  differences(other: IndexDigest): number[] {
    const ids = new Set([...this.sums.keys(), ...other.sums.keys()]);
    return [...ids].filter((nsId) => {
      const mine = this.sums.get(nsId);
      const theirs = other.sums.get(nsId);
      return mine?.entries !== theirs?.entries || mine?.sum !== theirs?.sum;
    }).sort((a, b) => a - b);
  }
}

/** The namespace index must describe exactly the groups that verified; recovery rebuilds it (below). */
async function verifyNamespaceIndex(db: Db, dictionary: NamespaceDictionary, groups: IndexDigest, findings: Findings): Promise<void> {
  const index = new IndexDigest();
  for await (const [key, value] of scan(db, keys.Keyspace.NAMESPACE)) {
    if (value.length !== 16) {
      findings.report(`a damaged namespace-index entry for namespace id ${key.readUInt32BE(1)} (the index is rebuilt)`);
      continue;
    }
    const entry = keys.decodeIndexValue(value);
    index.add(key.readUInt32BE(1), keys.namespaceIndexKeyStart(key), entry.count, entry.sizeBytes, entry.timestamp);
  }
  for (const nsId of groups.differences(index)) {
    findings.report(`the namespace index of ${dictionary.nameOf(nsId) ?? `namespace id ${nsId}`} disagrees with its groups (the index is rebuilt)`);
  }
}

/** A name for a dictionary id that lost its entry, chosen so that it maps to the partition holding its groups. */
function placeholderName(dictionary: NamespaceDictionary, nsId: number, partition: number): string {
  for (let attempt = 0; attempt < 100_000; attempt++) {
    const namespace = `/flo-recovered/namespace-${nsId}${attempt === 0 ? '' : `-${attempt}`}`;
    if (dictionary.partitionFor(namespace) === partition && dictionary.lookup(namespace) === undefined) return namespace;
  }
  throw new Error(`no placeholder name maps to partition ${partition}`);
}

/**
 * The timestamp index holds one entry per commit with its end offset; retention only ever removes
 * its oldest entries. So the entries left must chain (each starts where the one before ended) and
 * the last must end at the partition's next offset: a gap is a lost commit. Repairs bridge a gap
 * with a commit record of no events, so the chain holds again and the lost offsets are never reused.
 */
async function verifyCommitChain(db: Db, findings: Findings): Promise<void> {
  const states = findings.states;
  const last = new Array<{ end: number; timestamp: number } | undefined>(states.length).fill(undefined);
  const bridge = (partition: number, from: number, to: number, timestamp: number): Repair => ({ type: 'put', key: keys.timeKey(partition, timestamp, from), value: keys.encodeTimeValue(to) });
  for await (const [key, value] of scan(db, keys.Keyspace.TIME)) {
    const partition = key.readUInt16BE(1);
    if (partition >= states.length) {
      findings.report(`a commit record for partition ${partition}, beyond the store's ${states.length} partitions`, { type: 'del', key });
      continue;
    }
    const { start, timestamp } = keys.timeKeyParts(key);
    const end = value.length === 8 ? keys.decodeTimeValue(value) : Number.NaN;
    const previous = last[partition];
    if (!Number.isSafeInteger(end) || end < start || (previous !== undefined && start < previous.end)) {
      findings.report(`partition ${partition}: the commit record at offset ${start} is damaged or overlaps the one before (dropped)`, { type: 'del', key });
      continue;
    }
    if (previous !== undefined && start > previous.end) {
      findings.report(`partition ${partition}: commits holding offsets ${previous.end}-${start - 1} are missing (those events are lost)`, bridge(partition, previous.end, start, previous.timestamp));
    }
    last[partition] = { end, timestamp };
  }
  states.forEach((state, partition) => {
    const tail = last[partition];
    if (tail === undefined || tail.end === state.nextOffset) return;
    if (tail.end < state.nextOffset) {
      findings.report(`partition ${partition}: commits holding offsets ${tail.end}-${state.nextOffset - 1} are missing (those events are lost)`, bridge(partition, tail.end, state.nextOffset, tail.timestamp));
    } else {
      findings.report(`partition ${partition}: commits reach offset ${tail.end}, beyond the partition's recorded end ${state.nextOffset} (the end moves there)`,
        { type: 'put', key: keys.partitionKey(partition), value: keys.encodePartitionState(tail.end, Math.max(tail.timestamp, state.lastTimestamp)) });
      state.nextOffset = tail.end;
    }
  });
}

/** Recovery only: the namespace index rewritten from the verified groups, so no entry points at a dropped group. */
async function rebuildNamespaceIndex(db: Db, findings: Findings): Promise<void> {
  for await (const [key] of scan(db, keys.Keyspace.NAMESPACE)) findings.repairs.push({ type: 'del', key });
  for (const groups of findings.groups) {
    for (const group of groups) {
      findings.repairs.push({ type: 'put', key: keys.namespaceIndexKey(group.nsId, group.start), value: keys.encodeIndexValue(group.count, group.sizeBytes, group.timestamp) });
    }
  }
}
