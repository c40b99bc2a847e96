// Group commit: appends that arrive while a write is in flight wait and share
// the next write batch and its single fsync. Offsets are assigned when the
// batch is built; each partition's pending events are laid out as one group per
// namespace in order of first arrival, so a namespace's events keep their order
// and every group covers contiguous offsets. Acks resolve only after the write.
// A failed write fails the store (event-store.ts): that batch and everything
// still pending are refused, and nothing later is acknowledged.
import { MAX_COMMIT_BATCH_BYTES, MAX_PENDING_APPEND_BYTES } from '../../common/bounds.js';
import { FloError } from '../../common/errors.js';
import { encodeGroup, groupEventBytes } from '../../common/wire.js';
import type { EventStore, StoreOperation, StoredGroup } from '../storage/event-store.js';
import * as keys from '../storage/keys.js';
import type { NewNamespace } from '../storage/namespace-dictionary.js';

export interface PendingEvent {
  readonly nsId: number;
  readonly parentId: string | undefined;
  readonly data: Uint8Array;
}

/** One produce request: filled with positions as its events are committed. */
export interface AppendTicket {
  readonly partitions: Uint16Array;
  readonly offsets: Float64Array;
  remaining: number;
  resolve(): void;
  reject(error: Error): void;
}

interface Slot {
  readonly event: PendingEvent;
  readonly ticket: AppendTicket;
  readonly index: number;
}

interface Built {
  operations: StoreOperation[];
  groups: StoredGroup[];
  tickets: Set<AppendTicket>;
  nextOffsets: Map<number, number>;
  timestamp: number;
  newNamespaces: NewNamespace[];
  bytes: number;
}

/** Largest group the committer builds (a single larger event still makes a group of one). */
export const MAX_GROUP_BYTES = 1024 * 1024;

/** Removes and returns the leading slots that fit in one group. */
function takeChunk(slots: Slot[]): Slot[] {
  let bytes = 0;
  let count = 0;
  while (count < slots.length && (count === 0 || bytes + groupEventBytes(slots[count]!.event) <= MAX_GROUP_BYTES)) {
    bytes += groupEventBytes(slots[count]!.event);
    count++;
  }
  return slots.splice(0, count);
}

interface CommitListener {
  onCommitted(groups: readonly StoredGroup[], writeMs: number): void;
}

export class GroupCommitter {
  /** partition -> nsId -> events waiting, in arrival order. */
  private pending = new Map<number, Map<number, Slot[]>>();
  /** Bytes accepted and not yet written, including the write in flight: what MAX_PENDING_APPEND_BYTES bounds. */
  private pendingBytes = 0;
  private writingBytes = 0;
  private writing = false;
  private scheduled = false;
  private closed = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly store: EventStore,
    private readonly state: { nextOffset: number[]; lastTimestamp: number[] },
    private readonly sync: boolean,
    private readonly listener: CommitListener,
    private readonly now: () => number = Date.now,
  ) {}

  enqueue(partition: number, event: PendingEvent, ticket: AppendTicket, index: number): void {
    if (this.closed) throw new FloError('FLO_ERR_SHUTTING_DOWN', 'the broker is shutting down');
    if (this.store.failed) throw new FloError('FLO_ERR_STORAGE_FAILED', this.store.failed.message);
    let byNamespace = this.pending.get(partition);
    if (!byNamespace) this.pending.set(partition, (byNamespace = new Map()));
    let slots = byNamespace.get(event.nsId);
    if (!slots) byNamespace.set(event.nsId, (slots = []));
    slots.push({ event, ticket, index });
    this.pendingBytes += groupEventBytes(event);
    this.schedule();
  }

  /** Refuses work before accepting it, so an overloaded broker sheds load instead of growing. */
  checkCapacity(incomingBytes: number): void {
    if (this.pendingBytes + incomingBytes > MAX_PENDING_APPEND_BYTES) {
      throw new FloError('FLO_ERR_OVERLOADED', `more than ${MAX_PENDING_APPEND_BYTES} bytes are waiting to be committed; retry shortly`);
    }
  }

  /** Stops taking appends and resolves once everything accepted is written. */
  async drain(): Promise<void> {
    this.closed = true;
    if (!this.writing && this.pending.size === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.writing || this.scheduled) return;
    this.scheduled = true;
    // setImmediate lets every request already read from sockets join this batch.
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.writing || this.pending.size === 0) return this.settleIdle();
    this.writing = true;
    const built = this.build();
    const started = performance.now();
    this.writingBytes = built.bytes;
    try {
      await this.store.reserve(built.nextOffsets);
      await this.store.write(built.operations, this.sync);
      for (const [partition, next] of built.nextOffsets) {
        this.state.nextOffset[partition] = next;
        this.state.lastTimestamp[partition] = built.timestamp;
      }
      this.listener.onCommitted(built.groups, performance.now() - started);
      for (const ticket of built.tickets) if (ticket.remaining === 0) ticket.resolve();
    } catch (error) {
      this.store.dictionary.restoreUnpersisted(built.newNamespaces);
      for (const ticket of built.tickets) ticket.reject(error as Error);
      if (this.store.failed) this.rejectPending(error as Error);
    } finally {
      this.writing = false;
      this.pendingBytes = this.pending.size === 0 ? 0 : Math.max(0, this.pendingBytes - this.writingBytes);
      this.writingBytes = 0;
    }
    if (this.pending.size > 0) void this.flush();
    else this.settleIdle();
  }

  /** The store failed: no later write can be acknowledged, so nothing waiting is kept waiting. */
  private rejectPending(error: Error): void {
    for (const byNamespace of this.pending.values()) {
      for (const slots of byNamespace.values()) for (const slot of slots) slot.ticket.reject(error);
    }
    this.pending.clear();
  }

  private settleIdle(): void {
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private build(): Built {
    const built: Built = { operations: [], groups: [], tickets: new Set(), nextOffsets: new Map(), timestamp: this.commitTimestamp(), newNamespaces: [], bytes: 0 };
    built.newNamespaces = this.store.dictionary.takeUnpersisted();
    for (const entry of built.newNamespaces) {
      built.operations.push({ type: 'put', key: keys.dictKey(entry.nsId), value: Buffer.from(entry.namespace, 'utf8') });
    }
    // Past MAX_COMMIT_BATCH_BYTES of backlog, one request's events can span two writes; if the
    // second fails, the request is rejected although the first part is stored (docs/api.md says so).
    for (const [partition, byNamespace] of this.pending) {
      if (built.bytes >= MAX_COMMIT_BATCH_BYTES) break;
      const first = this.state.nextOffset[partition]!;
      let next = first;
      for (const [nsId, slots] of byNamespace) {
        // One group per chunk: a backlog never becomes one huge value or frame.
        while (slots.length > 0 && built.bytes < MAX_COMMIT_BATCH_BYTES) {
          const group = this.buildGroup(partition, nsId, next, takeChunk(slots), built.timestamp, built.tickets);
          built.operations.push({ type: 'put', key: keys.groupKey(partition, next), value: group.value });
          built.operations.push({ type: 'put', key: keys.namespaceIndexKey(nsId, next), value: keys.encodeIndexValue(group.count, group.value.length, built.timestamp) });
          built.groups.push(group);
          built.bytes += group.value.length;
          next += group.count;
        }
        if (slots.length === 0) byNamespace.delete(nsId);
      }
      if (byNamespace.size === 0) this.pending.delete(partition);
      if (next === first) continue;
      built.operations.push({ type: 'put', key: keys.timeKey(partition, built.timestamp, first), value: keys.encodeTimeValue(next) });
      built.operations.push({ type: 'put', key: keys.partitionKey(partition), value: keys.encodePartitionState(next, built.timestamp) });
      built.nextOffsets.set(partition, next);
    }
    return built;
  }

  /** One timestamp per commit, never below any partition's last, so time only moves forward within a partition. */
  private commitTimestamp(): number {
    let timestamp = this.now();
    for (const partition of this.pending.keys()) timestamp = Math.max(timestamp, this.state.lastTimestamp[partition] ?? 0);
    return timestamp;
  }

  private buildGroup(partition: number, nsId: number, start: number, slots: readonly Slot[], timestamp: number, tickets: Set<AppendTicket>): StoredGroup {
    let sizeBytes = 0;
    const events: PendingEvent[] = new Array<PendingEvent>(slots.length);
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i]!;
      events[i] = slot.event;
      sizeBytes += groupEventBytes(slot.event);
      slot.ticket.partitions[slot.index] = partition;
      slot.ticket.offsets[slot.index] = start + i;
      slot.ticket.remaining--;
      tickets.add(slot.ticket);
    }
    const value = encodeGroup(events, timestamp, nsId, sizeBytes);
    return { partition, start, count: slots.length, timestamp, nsId, value };
  }
}
