// The read-only view of durable Raft state that the core consults, and an
// in-memory implementation. The core never writes storage: the caller persists a
// Ready (to LevelDB, or to the simulator's "disk"), then mirrors it here.
// Invariant: compactedIndex <= snapshot index; entries are contiguous from compactedIndex + 1.

import { assert } from '../../common/assert.js';
import { EntryType, entryBytes } from './messages.js';
import type { ConfState, Entry, HardState, NodeId, Ready, Snapshot } from './messages.js';
import { ConfChangeType, EMPTY_CONF, encodeConfChange } from './membership.js';

export interface LogStorage {
  hardState(): HardState;
  /** Index of the first entry still held (compactedIndex + 1). */
  firstIndex(): number;
  lastIndex(): number;
  /** Term of entry `index`; also defined at firstIndex - 1. Undefined when compacted away or past the end. */
  term(index: number): number | undefined;
  /** Entries in [lo, hi), at most maxBytes of them but always at least one. */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  snapshot(): Snapshot;
}

export const EMPTY_HARD_STATE: HardState = { term: 0, vote: 0, commit: 0 };
export const EMPTY_SNAPSHOT: Snapshot = { metadata: { index: 0, term: 0, conf: EMPTY_CONF }, data: new Uint8Array(0) };

export class MemoryStorage implements LogStorage {
  private state: HardState = EMPTY_HARD_STATE;
  private snap: Snapshot = EMPTY_SNAPSHOT;
  private compactedIndex = 0;
  private compactedTerm = 0;
  private log: Entry[] = [];

  hardState(): HardState {
    return this.state;
  }

  setHardState(state: HardState): void {
    this.state = state;
  }

  firstIndex(): number {
    return this.compactedIndex + 1;
  }

  lastIndex(): number {
    return this.compactedIndex + this.log.length;
  }

  term(index: number): number | undefined {
    if (index === this.compactedIndex) return this.compactedTerm;
    if (index < this.compactedIndex || index > this.lastIndex()) return undefined;
    return this.log[index - this.compactedIndex - 1]?.term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    assert(lo >= this.firstIndex() && hi <= this.lastIndex() + 1 && lo <= hi, `storage: entries [${lo},${hi}) out of range`);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      const entry = this.log[i - this.compactedIndex - 1];
      assert(entry !== undefined, 'storage: hole in log');
      bytes += entryBytes(entry);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(entry);
    }
    return out;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  allEntries(): readonly Entry[] {
    return this.log;
  }

  /** Appends entries, dropping any existing entries at or after the first new index. */
  append(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    assert(first.index <= this.lastIndex() + 1, `storage: gap before index ${first.index}`);
    if (first.index <= this.compactedIndex) {
      // Entries already covered by the snapshot are committed and cannot differ.
      const skip = this.compactedIndex + 1 - first.index;
      this.append(entries.slice(skip));
      return;
    }
    this.log.length = first.index - this.compactedIndex - 1;
    for (const entry of entries) this.log.push(entry);
  }

  /** Replaces everything with a snapshot received from the leader. Older snapshots are ignored. */
  applySnapshot(snapshot: Snapshot): void {
    if (snapshot.metadata.index <= this.snap.metadata.index) return;
    this.snap = snapshot;
    this.compactedIndex = snapshot.metadata.index;
    this.compactedTerm = snapshot.metadata.term;
    this.log = [];
  }

  /** Records a snapshot the application took of its own state at `index` (<= applied). */
  createSnapshot(index: number, conf: ConfState, data: Uint8Array): Snapshot {
    assert(index > this.snap.metadata.index && index <= this.lastIndex(), `storage: snapshot index ${index} out of range`);
    const term = this.term(index);
    assert(term !== undefined, 'storage: snapshot of a compacted index');
    this.snap = { metadata: { index, term, conf }, data };
    return this.snap;
  }

  /** Drops entries up to `index` (which must be covered by the snapshot). */
  compact(index: number): void {
    if (index <= this.compactedIndex) return;
    assert(index <= this.snap.metadata.index, 'storage: compaction beyond the snapshot');
    const term = this.term(index);
    assert(term !== undefined, 'storage: compacting a missing index');
    this.log = this.log.slice(index - this.compactedIndex);
    this.compactedIndex = index;
    this.compactedTerm = term;
  }

  /** Mirrors a Ready that the caller has made durable: snapshot first, then entries, then hard state. */
  applyReady(rd: Pick<Ready, 'snapshot' | 'entries' | 'hardState'>): void {
    if (rd.snapshot !== null) this.applySnapshot(rd.snapshot);
    this.append(rd.entries);
    if (rd.hardState !== null) this.state = rd.hardState;
  }

  /** Restores state recovered from disk: snapshot, then the entries after it, then the hard state. */
  restore(snapshot: Snapshot, entries: readonly Entry[], hardState: HardState): void {
    this.snap = snapshot;
    this.compactedIndex = snapshot.metadata.index;
    this.compactedTerm = snapshot.metadata.term;
    this.log = [];
    this.append(entries);
    this.state = hardState;
  }
}

/**
 * The state every founding member of a new group starts from: one AddVoter entry
 * per founder at term 1, all committed. Identical on every founder, so their logs
 * agree from the start; members added later receive these entries (or a snapshot).
 */
export function bootstrapState(founders: readonly NodeId[]): { entries: Entry[]; hardState: HardState } {
  assert(founders.length > 0, 'bootstrap needs at least one founder');
  const entries = [...founders]
    .sort((a, b) => a - b)
    .map((nodeId, i): Entry => ({
      term: 1,
      index: i + 1,
      type: EntryType.ConfChange,
      data: encodeConfChange({ type: ConfChangeType.AddVoter, nodeId }),
    }));
  return { entries, hardState: { term: 1, vote: 0, commit: entries.length } };
}
