// The core's view of the log: entries already durable (LogStorage) followed by
// "unstable" entries (and possibly a snapshot) handed to the caller to persist.
// Invariants: applied <= committed <= lastIndex; committed entries are never truncated.

import { assert } from '../../common/assert.js';
import type { Entry, Snapshot } from './messages.js';
import type { LogStorage } from './storage.js';

export class RaftLog {
  committed: number;
  applied: number;
  /** Entries not yet known durable; unstable[0] has index `offset`. */
  private unstable: Entry[] = [];
  private offset: number;
  private unstableSnapshot: Snapshot | null = null;

  constructor(readonly storage: LogStorage) {
    this.offset = storage.lastIndex() + 1;
    const snapshotIndex = storage.snapshot().metadata.index;
    this.committed = Math.max(storage.hardState().commit, snapshotIndex);
    this.applied = snapshotIndex;
  }

  /** Last index known durable in storage (0 while a snapshot is pending, conservatively). */
  stableLastIndex(): number {
    if (this.unstableSnapshot !== null) return 0;
    return Math.min(this.storage.lastIndex(), this.offset - 1);
  }

  firstIndex(): number {
    return this.unstableSnapshot !== null ? this.unstableSnapshot.metadata.index + 1 : this.storage.firstIndex();
  }

  lastIndex(): number {
    if (this.unstable.length > 0) return this.offset + this.unstable.length - 1;
    if (this.unstableSnapshot !== null) return this.unstableSnapshot.metadata.index;
    return this.storage.lastIndex();
  }

  lastTerm(): number {
    const term = this.term(this.lastIndex());
    assert(term !== undefined, 'log: last term unknown');
    return term;
  }

  /** Term at index, or undefined when compacted or past the end. Index 0 has term 0. */
  term(index: number): number | undefined {
    if (index === 0) return 0;
    if (index >= this.offset) return this.unstable[index - this.offset]?.term;
    if (this.unstableSnapshot !== null) {
      return index === this.unstableSnapshot.metadata.index ? this.unstableSnapshot.metadata.term : undefined;
    }
    return this.storage.term(index);
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** §5.4.1: a log is at least as up to date if its last term is higher, or equal with a longer log. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ours = this.lastTerm();
    return lastTerm > ours || (lastTerm === ours && lastIndex >= this.lastIndex());
  }

  /** Leader append: entries follow lastIndex. */
  append(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    assert(first.index > this.committed, 'log: append would overwrite committed entries');
    this.truncateAndAppend(entries);
  }

  /**
   * Follower append (§5.3): if our log has (prevIndex, prevTerm), drop conflicting
   * entries, append the new ones and return the last index they cover; else undefined.
   */
  maybeAppend(prevIndex: number, prevTerm: number, leaderCommit: number, entries: readonly Entry[]): number | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNew = prevIndex + entries.length;
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      assert(conflict > this.committed, `log: conflict at ${conflict} is at or below commit ${this.committed}`);
      this.truncateAndAppend(entries.slice(conflict - prevIndex - 1));
    }
    this.commitTo(Math.min(leaderCommit, lastNew));
    return lastNew;
  }

  /** Index of the first entry whose term differs from ours (or that we lack), 0 if none. */
  private findConflict(entries: readonly Entry[]): number {
    for (const entry of entries) {
      if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    }
    return 0;
  }

  /**
   * Fast backtracking: the largest index <= index whose term is <= term, with its
   * term. Entries above it cannot match a log whose entry at `index` has `term`.
   */
  findConflictByTerm(index: number, term: number): [number, number] {
    let i = Math.min(index, this.lastIndex());
    for (;;) {
      const t = this.term(i);
      if (t === undefined) return [i, 0];
      if (t <= term) return [i, t];
      i--;
    }
  }

  private truncateAndAppend(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    const after = first.index;
    const end = this.offset + this.unstable.length;
    if (after === end) {
      for (const entry of entries) this.unstable.push(entry);
    } else if (after <= this.offset) {
      // Replaces durable entries too: persisting these later overwrites them on disk.
      this.offset = after;
      this.unstable = [...entries];
    } else {
      this.unstable = this.unstable.slice(0, after - this.offset).concat(entries);
    }
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    assert(index <= this.lastIndex(), `log: commit ${index} beyond last index ${this.lastIndex()}`);
    this.committed = index;
  }

  appliedTo(index: number): void {
    if (index === 0) return;
    assert(index <= this.committed && index >= this.applied, `log: applied ${index} out of range`);
    this.applied = index;
  }

  /** Entries in [lo, hi), at most maxBytes (but at least one). Undefined when lo is compacted. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] | undefined {
    if (lo >= hi) return [];
    if (lo < this.firstIndex()) return undefined;
    assert(hi <= this.lastIndex() + 1, `log: slice end ${hi} beyond last index`);
    const out: Entry[] = [];
    let bytes = 0;
    if (lo < this.offset) {
      const stored = this.storage.entries(lo, Math.min(hi, this.offset), maxBytes);
      for (const entry of stored) {
        bytes += entry.data.byteLength + 24;
        out.push(entry);
      }
      if (stored.length < Math.min(hi, this.offset) - lo) return out;
    }
    for (let i = Math.max(lo, this.offset); i < hi; i++) {
      const entry = this.unstable[i - this.offset];
      assert(entry !== undefined, 'log: hole in unstable entries');
      bytes += entry.data.byteLength + 24;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(entry);
    }
    return out;
  }

  unstableEntries(): readonly Entry[] {
    return this.unstable;
  }

  pendingSnapshot(): Snapshot | null {
    return this.unstableSnapshot;
  }

  /** Committed entries not yet handed out for applying. */
  nextCommittedEntries(maxBytes: number): Entry[] {
    if (this.committed <= this.applied) return [];
    return this.slice(Math.max(this.applied + 1, this.firstIndex()), this.committed + 1, maxBytes) ?? [];
  }

  /** The caller persisted unstable entries up to (index, term); they now live in storage. */
  stableTo(index: number, term: number): void {
    if (index < this.offset) return;
    if (this.term(index) !== term) return; // replaced meanwhile by a conflicting append
    const kept = index + 1 - this.offset;
    if (kept > this.unstable.length) return;
    this.unstable = this.unstable.slice(kept);
    this.offset = index + 1;
  }

  stableSnapshotTo(index: number): void {
    if (this.unstableSnapshot !== null && this.unstableSnapshot.metadata.index === index) this.unstableSnapshot = null;
  }

  /** Installs a leader's snapshot: everything up to its index is committed and applied by the caller. */
  restore(snapshot: Snapshot): void {
    this.committed = snapshot.metadata.index;
    this.applied = snapshot.metadata.index;
    this.unstable = [];
    this.offset = snapshot.metadata.index + 1;
    this.unstableSnapshot = snapshot;
  }
}
