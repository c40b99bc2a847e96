// One Ready cycle for every Raft group on one RaftStorage (TiKV's raftstore loop):
// take the Ready of each group that has one, write all of them in ONE batch with
// one fsync, apply the committed entries while that fsync runs, then let each group
// send and advance. A group is in at most one cycle at a time (the core allows one
// Ready in flight), so its writes keep their order; groups that become ready
// meanwhile join the next cycle together. A failed write stops every group of the
// storage (fail stop).

import { FloError } from '../../common/errors.js';
import type { Ready } from '../raft/messages.js';
import type { RaftStorage } from '../storage/raft-storage.js';

/** What a group hands the cycle: the part of its Ready that must be durable before its messages leave. */
export interface CycleWork {
  readonly groupId: number;
  readonly ready: Pick<Ready, 'hardState' | 'entries' | 'snapshot'>;
  readonly mustSync: boolean;
}

/** A Raft group driven by the cycle (RaftNode). */
export interface CycleMember {
  /** Takes the group's Ready and sends what may leave before the write; null when it has nothing (or is busy). */
  begin(): CycleWork | null;
  /** The cycle's write is on its way: start applying the Ready's committed entries (they are already quorum-durable). */
  applyCommitted(): void;
  /** The cycle's write holding `work` is durable (or there was nothing to write): send, apply, advance. */
  persisted(work: CycleWork, writeMs: number): void;
  /** The storage failed: the group must stop. */
  fail(error: Error): void;
}

/** Counters for benchmarks: groups per write is the batching the cycle achieves. */
export interface ReadyCycleStats {
  cycles: number;
  writes: number;
  groupsWritten: number;
}

const cycles = new WeakMap<RaftStorage, ReadyCycle>();

function hasStorageWork(work: CycleWork): boolean {
  return work.ready.entries.length > 0 || work.ready.hardState !== null || work.ready.snapshot !== null;
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class ReadyCycle {
  private readonly members = new Set<CycleMember>();
  /** Groups that asked for a cycle; at most one entry per member, so bounded by the number of groups. */
  private readonly requested = new Set<CycleMember>();
  private running = false;
  private scheduled = false;
  private failure: Error | null = null;
  readonly stats: ReadyCycleStats = { cycles: 0, writes: 0, groupsWritten: 0 };

  constructor(private readonly storage: RaftStorage) {}

  /** The one cycle of a storage: the groups that share a database share its writes. */
  static of(storage: RaftStorage): ReadyCycle {
    let cycle = cycles.get(storage);
    if (cycle === undefined) {
      cycle = new ReadyCycle(storage);
      cycles.set(storage, cycle);
    }
    return cycle;
  }

  get size(): number {
    return this.members.size;
  }

  add(member: CycleMember): void {
    if (this.failure !== null) throw new FloError('FLO_ERR_STORAGE_FAILED', `raft storage stopped: ${this.failure.message}`, { cause: this.failure });
    this.members.add(member);
  }

  remove(member: CycleMember): void {
    this.members.delete(member);
    this.requested.delete(member);
  }

  /** The member has a Ready (or will once its current one is done): it joins the next cycle. */
  request(member: CycleMember): void {
    if (this.failure !== null || !this.members.has(member)) return;
    this.requested.add(member);
    if (this.running || this.scheduled) return;
    this.scheduled = true;
    // A turn's worth of proposals and messages of every group joins one cycle.
    setImmediate(() => {
      this.scheduled = false;
      void this.run();
    });
  }

  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.requested.size > 0 && this.failure === null) await this.once();
    } finally {
      this.running = false;
    }
  }

  private async once(): Promise<void> {
    const works: CycleWork[] = [];
    const owners: CycleMember[] = [];
    for (const member of [...this.requested]) {
      this.requested.delete(member);
      const work = member.begin();
      if (work === null) continue;
      works.push(work);
      owners.push(member);
    }
    if (works.length === 0) return;
    this.stats.cycles++;
    const writes: CycleWork[] = [];
    const writers: CycleMember[] = [];
    works.forEach((work, i) => {
      // Nothing to make durable: its messages may leave now (its earlier Readies are all done).
      if (hasStorageWork(work)) {
        writes.push(work);
        writers.push(owners[i]!);
      } else {
        owners[i]!.persisted(work, 0);
      }
    });
    if (writes.length === 0) return;
    const started = performance.now();
    const written = this.storage.persistMany(writes.map((work) => ({ groupId: work.groupId, ready: work.ready })), writes.some((work) => work.mustSync));
    written.catch(() => undefined); // awaited below; a failure must not go unhandled meanwhile
    // Apply while the fsync runs, not before it: the write is handed to LevelDB first (one turn), so
    // the apply's CPU and its store writes never delay replication.
    await nextTurn();
    for (const writer of writers) writer.applyCommitted();
    try {
      await written;
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    this.stats.writes++;
    this.stats.groupsWritten += writes.length;
    const writeMs = performance.now() - started;
    writes.forEach((work, i) => writers[i]!.persisted(work, writeMs));
  }

  /** A failed write leaves every group's durable state unknown: all of them stop, and no cycle runs again. */
  private fail(error: Error): void {
    this.failure = error;
    this.requested.clear();
    for (const member of [...this.members]) member.fail(error);
  }
}
