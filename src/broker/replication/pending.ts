// Promises waiting on the Raft group: proposals keyed by log index (resolved when
// that index is applied with the term they were proposed in, rejected when another
// entry took the index), and ReadIndex reads (resolved once applied reaches their
// index). Bounded in count; expired in order of age on each tick.

import { FloError } from '../../common/errors.js';
import type { Entry } from '../raft/messages.js';

interface Waiter {
  readonly resolve: (index: number) => void;
  readonly reject: (error: Error) => void;
  readonly deadline: number;
}

interface PendingProposal extends Waiter {
  readonly term: number;
  /** Resolve only once applied (membership changes: the new configuration is in force then). */
  readonly untilApplied: boolean;
}

export class PendingRequests {
  private readonly proposals = new Map<number, PendingProposal>();
  private readonly reads = new Map<number, Waiter & { readonly term: number }>();
  private readonly confirmed: { id: number; index: number }[] = [];

  constructor(
    private readonly max: number,
    private readonly timeoutMs: number,
  ) {}

  get full(): boolean {
    return this.proposals.size + this.reads.size >= this.max;
  }

  get size(): number {
    return this.proposals.size + this.reads.size;
  }

  addProposal(index: number, term: number, untilApplied = false): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const previous = this.proposals.get(index);
      previous?.reject(new FloError('FLO_ERR_NOT_LEADER', 'proposal superseded by a newer leader'));
      this.proposals.set(index, { resolve, reject, term, untilApplied, deadline: performance.now() + this.timeoutMs });
    });
  }

  /** A read the leader of `term` accepted. */
  addRead(id: number, term: number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.reads.set(id, { resolve, reject, term, deadline: performance.now() + this.timeoutMs });
    });
  }

  /** `inForce`: the core has also taken the entry into its state (after advance()), which membership waiters need. */
  applied(entry: Entry, inForce = false): void {
    const waiter = this.proposals.get(entry.index);
    if (waiter === undefined || (waiter.untilApplied && !inForce)) return;
    this.proposals.delete(entry.index);
    if (entry.term === waiter.term) waiter.resolve(entry.index);
    else waiter.reject(new FloError('FLO_ERR_NOT_LEADER', 'proposal lost in a leader change; it was not committed'));
  }

  /**
   * The commit index reached `commit`: resolve the proposals it covers (the entry
   * at their index has their term) without waiting for them to be applied.
   */
  committedUpTo(commit: number, termOf: (index: number) => number | undefined): void {
    for (const [index, waiter] of this.proposals) {
      if (index > commit) break; // insertion order is index order within a term
      const term = termOf(index);
      if (term === undefined || waiter.untilApplied) continue; // the apply path decides
      this.proposals.delete(index);
      if (term === waiter.term) waiter.resolve(index);
      else waiter.reject(new FloError('FLO_ERR_NOT_LEADER', 'proposal lost in a leader change; it was not committed'));
    }
  }

  /** A snapshot jumped over these indexes: their outcome cannot be told apart any more. */
  supersedeUpTo(index: number): void {
    for (const [i, waiter] of this.proposals) {
      if (i > index) continue;
      this.proposals.delete(i);
      waiter.reject(new FloError('FLO_ERR_TIMEOUT', 'proposal outcome unknown (replaced by a snapshot)'));
    }
  }

  readConfirmed(id: number, index: number): void {
    if (this.reads.has(id)) this.confirmed.push({ id, index });
  }

  serveReads(appliedIndex: number): void {
    let kept = 0;
    for (const read of this.confirmed) {
      const waiter = this.reads.get(read.id);
      if (waiter === undefined) continue;
      if (read.index <= appliedIndex) {
        this.reads.delete(read.id);
        waiter.resolve(read.index);
      } else {
        this.confirmed[kept++] = read;
      }
    }
    this.confirmed.length = kept;
  }

  failReads(error: Error): void {
    for (const waiter of this.reads.values()) waiter.reject(error);
    this.reads.clear();
    this.confirmed.length = 0;
  }

  /** Fails the reads accepted in another term (a new term resets the leader's read queue). */
  failReadsNotOfTerm(term: number, error: Error): void {
    for (const [id, waiter] of this.reads) {
      if (waiter.term === term) continue;
      this.reads.delete(id);
      waiter.reject(error);
    }
  }

  /** Rejects waiters past their deadline; the error is only built when one expired. */
  expire(error: () => Error): void {
    const now = performance.now();
    for (const map of [this.proposals, this.reads]) {
      // Insertion order is deadline order (one timeout for all), so stop at the first live one.
      for (const [key, waiter] of map) {
        if (waiter.deadline > now) break;
        map.delete(key);
        waiter.reject(error());
      }
    }
  }

  failAll(error: Error): void {
    for (const waiter of this.proposals.values()) waiter.reject(error);
    this.proposals.clear();
    this.failReads(error);
  }
}
