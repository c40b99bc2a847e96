// One simulated group member: the real RaftCore, a "disk" (what survived fsync)
// and a memory mirror the core reads. A Ready is persisted after a simulated fsync
// delay; a crash before that loses it whole (as a LevelDB write batch would), and a
// restart rebuilds everything from the disk alone.

import { RaftCore, type RaftConfig } from '../../../src/broker/raft/core.js';
import { EntryType, type Entry, type Message, type NodeId, type Ready, type Snapshot, type SoftState } from '../../../src/broker/raft/messages.js';
import type { ProposeResult } from '../../../src/broker/raft/proposals.js';
import { MemoryStorage } from '../../../src/broker/raft/storage.js';
import type { SeededRandom } from '../../../src/broker/raft/random.js';

export interface NodeHooks {
  send(m: Message): void;
  schedule(delayMs: number, run: () => void): void;
  onApply(node: SimNode, entry: Entry): void;
  onSnapshotApplied(node: SimNode, snapshot: Snapshot): void;
  onSoftState(node: SimNode, state: SoftState): void;
  /** A write proposed here reached a definite outcome (committed at index, or lost). */
  onWriteOutcome(opId: number, committedIndex: number | null): void;
  /** A read served here at applied index, or failed (null). */
  onReadOutcome(opId: number, appliedIndex: number | null): void;
}

export function encodeOp(opId: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, opId);
  return bytes;
}

export function decodeOp(entry: Entry): number {
  if (entry.type !== EntryType.Normal || entry.data.byteLength !== 4) return -1;
  return new DataView(entry.data.buffer, entry.data.byteOffset, 4).getUint32(0);
}

/** The replicated state machine: which client op sits at which index. Snapshots encode it. */
function encodeState(pairs: ReadonlyMap<number, number>): Uint8Array {
  const words = new Uint32Array(pairs.size * 2);
  let i = 0;
  for (const [index, opId] of pairs) {
    words[i++] = index;
    words[i++] = opId;
  }
  return new Uint8Array(words.buffer);
}

export function decodeState(data: Uint8Array): Map<number, number> {
  const words = new Uint32Array(data.slice().buffer);
  const pairs = new Map<number, number>();
  for (let i = 0; i + 1 < words.length; i += 2) pairs.set(words[i] as number, words[i + 1] as number);
  return pairs;
}

export class SimNode {
  readonly disk = new MemoryStorage();
  core: RaftCore | null = null;
  private mem = new MemoryStorage();
  private token = 0;
  private busy = false;
  private state = new Map<number, number>();
  applied = 0;
  private readonly pendingWrites = new Map<number, { opId: number; term: number }>();
  private readonly pendingReads = new Map<number, number>(); // requestId (= opId) -> waiting
  private readonly confirmedReads: { opId: number; index: number }[] = [];
  restarts = 0;

  constructor(
    readonly id: NodeId,
    private readonly hooks: NodeHooks,
    private readonly config: Omit<RaftConfig, 'id' | 'random'>,
    private readonly random: SeededRandom,
    private readonly fsyncMaxMs: number,
    private readonly snapshotEvery: number,
    private readonly keepEntries: number,
  ) {}

  get up(): boolean {
    return this.core !== null;
  }

  /** A Ready is being persisted: crashing now loses it (the adversary's favourite moment). */
  get writing(): boolean {
    return this.busy;
  }

  start(): void {
    this.mem = new MemoryStorage();
    const snap = this.disk.snapshot();
    this.mem.restore(snap, this.disk.allEntries(), this.disk.hardState());
    this.state = snap.metadata.index > 0 ? decodeState(snap.data) : new Map();
    this.applied = snap.metadata.index;
    this.core = new RaftCore({ ...this.config, id: this.id, random: this.random.fork() }, this.mem);
    this.pump();
  }

  crash(): void {
    this.core = null;
    this.token++;
    this.busy = false;
    this.restarts++;
    this.failPending();
  }

  private failPending(): void {
    // Writes in flight are now of unknown outcome: the client stops waiting; they may still commit.
    for (const { opId } of this.pendingWrites.values()) this.hooks.onWriteOutcome(opId, null);
    this.pendingWrites.clear();
    this.failReads();
  }

  /** A role or term change drops the core's ReadIndex queue (RaftNode fails those reads too). */
  private failReads(): void {
    for (const opId of this.pendingReads.keys()) this.hooks.onReadOutcome(opId, null);
    this.pendingReads.clear();
    for (const { opId } of this.confirmedReads) this.hooks.onReadOutcome(opId, null);
    this.confirmedReads.length = 0;
  }

  tick(): void {
    if (this.core === null) return;
    this.core.tick();
    this.pump();
  }

  deliver(m: Message): void {
    if (this.core === null) return;
    this.core.step(m);
    this.resolveCommitted();
    this.pump();
  }

  /** As RaftNode does: a write is acknowledged once the commit index covers it with its term. */
  private resolveCommitted(): void {
    const core = this.core;
    if (core === null) return;
    for (const [index, pending] of this.pendingWrites) {
      if (index > core.log.committed) continue;
      const term = core.log.term(index);
      if (term === undefined) continue;
      this.pendingWrites.delete(index);
      this.hooks.onWriteOutcome(pending.opId, term === pending.term ? index : null);
    }
  }

  proposeWrite(opId: number): ProposeResult | null {
    if (this.core === null) return null;
    const result = this.core.propose([encodeOp(opId)]);
    if (result.ok) this.pendingWrites.set(result.lastIndex, { opId, term: result.term });
    this.pump();
    return result;
  }

  requestRead(opId: number): ProposeResult | null {
    if (this.core === null) return null;
    const result = this.core.readIndex(opId);
    if (result.ok) this.pendingReads.set(opId, 0);
    this.pump();
    return result;
  }

  /** Runs `action` against the live core and pumps afterwards. */
  withCore(action: (core: RaftCore) => void): void {
    if (this.core === null) return;
    action(this.core);
    this.pump();
  }

  private pump(): void {
    const core = this.core;
    if (core === null) return;
    if (this.busy) {
      // As RaftNode does: a leader's appends leave while its previous write is in flight.
      for (const m of core.takeMessagesBeforePersist()) this.hooks.send(m);
      return;
    }
    if (!core.hasReady()) return;
    const rd = core.ready();
    this.busy = true;
    const token = this.token;
    const delay = rd.mustSync ? this.random.nextInt(this.fsyncMaxMs + 1) : 0;
    if (rd.softState !== null) this.hooks.onSoftState(this, rd.softState);
    for (const m of rd.messagesBeforePersist) this.hooks.send(m);
    // As RaftNode does: committed entries are quorum-durable, so they are applied while the
    // write is in flight (after a snapshot, though, only once it is installed).
    if (rd.snapshot === null) for (const entry of rd.committedEntries) this.apply(entry);
    this.hooks.schedule(delay, () => {
      if (token === this.token) this.persisted(rd);
    });
  }

  private persisted(rd: Ready): void {
    const core = this.core;
    if (core === null) return;
    this.disk.applyReady(rd);
    this.mem.applyReady(rd);
    for (const m of rd.messages) this.hooks.send(m);
    if (rd.snapshot !== null) {
      this.installSnapshot(rd.snapshot);
      for (const entry of rd.committedEntries) this.apply(entry);
    }
    for (const rs of rd.readStates) {
      if (this.pendingReads.delete(rs.requestId)) this.confirmedReads.push({ opId: rs.requestId, index: rs.index });
    }
    core.advance();
    this.busy = false;
    this.resolveCommitted();
    if (rd.softState !== null) this.failReads();
    this.serveReads();
    this.maybeSnapshot(core);
    this.pump();
  }

  private installSnapshot(snapshot: Snapshot): void {
    this.state = decodeState(snapshot.data);
    this.applied = snapshot.metadata.index;
    this.hooks.onSnapshotApplied(this, snapshot);
    for (const [index, pending] of this.pendingWrites) {
      if (index <= this.applied) {
        this.pendingWrites.delete(index);
        this.hooks.onWriteOutcome(pending.opId, null);
      }
    }
  }

  private apply(entry: Entry): void {
    if (entry.index <= this.applied) return;
    this.hooks.onApply(this, entry);
    this.applied = entry.index;
    const opId = decodeOp(entry);
    if (opId >= 0) this.state.set(entry.index, opId);
    const pending = this.pendingWrites.get(entry.index);
    if (pending !== undefined) {
      this.pendingWrites.delete(entry.index);
      this.hooks.onWriteOutcome(pending.opId, opId === pending.opId && entry.term === pending.term ? entry.index : null);
    }
  }

  private serveReads(): void {
    for (let i = 0; i < this.confirmedReads.length; ) {
      const read = this.confirmedReads[i];
      if (read !== undefined && read.index <= this.applied) {
        this.confirmedReads.splice(i, 1);
        this.hooks.onReadOutcome(read.opId, this.applied);
      } else {
        i++;
      }
    }
  }

  private maybeSnapshot(core: RaftCore): void {
    if (this.snapshotEvery <= 0) return;
    const last = this.disk.snapshot().metadata.index;
    if (this.applied - last < this.snapshotEvery || core.confAppliedIndex > this.applied) return;
    if (this.applied > this.disk.lastIndex() || this.applied > this.mem.lastIndex()) return;
    const data = encodeState(this.state);
    this.disk.createSnapshot(this.applied, core.conf, data);
    this.mem.createSnapshot(this.applied, core.conf, data);
    const compactTo = Math.max(0, this.applied - this.keepEntries);
    this.disk.compact(compactTo);
    this.mem.compact(compactTo);
  }

  stateSnapshot(): ReadonlyMap<number, number> {
    return this.state;
  }
}
