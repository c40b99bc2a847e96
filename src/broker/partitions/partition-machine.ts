// A partition's replicated state machine, pure and deterministic: every replica
// that applies the same commands in the same order reaches the same state and
// assigns the same offsets. Offsets are assigned here, at apply, never at propose;
// timestamps come from the command and are only kept monotonic; idempotent
// producers are deduplicated against a window of their last batches kept in this
// state (and so in its snapshots), so a retry across a leader change is answered
// with the first attempt's offsets instead of being stored twice.
import { crc32 } from 'node:zlib';
import { assert } from '../../common/assert.js';
import { COMMAND_APPEND, COMMAND_GROUP, COMMAND_SKIP, NO_PRODUCER, type AppendCommand, type CommandEvent, type PartitionCommand, type TrimCommand } from './commands.js';

/**
 * Batches remembered per producer and partition for deduplication. Kafka keeps 5 and caps a producer's
 * requests in flight at 5; Flo's client pipelines more, so the window is wider (its in-flight cap per
 * producer must stay within it). 16 bytes each.
 */
export const DEDUP_WINDOW_BATCHES = 32;
/** Producers remembered per partition; the least recently used is forgotten first. */
export const MAX_PRODUCERS_PER_PARTITION = 10_000;
/** Version 2 adds consumer-group positions; version 1 snapshots (none) are still read. */
const SNAPSHOT_VERSION = 2;
/** Consumer groups whose positions one partition keeps; committing one more forgets the least recently committed. */
export const MAX_GROUPS_PER_PARTITION = 10_000;

export interface AppliedEvent extends CommandEvent {
  readonly offset: number;
  readonly timestamp: number;
}

export type ApplyOutcome =
  | { readonly kind: 'appended'; readonly firstOffset: number; readonly timestamp: number; readonly events: readonly AppliedEvent[] }
  | { readonly kind: 'duplicate'; readonly firstOffset: number; readonly count: number }
  | { readonly kind: 'rejected'; readonly reason: 'sequence-stale'; readonly detail: string }
  | { readonly kind: 'trimmed'; readonly cuts: TrimCommand['cuts'] }
  | { readonly kind: 'skipped'; readonly from: number; readonly to: number }
  | { readonly kind: 'grouped'; readonly group: string };

interface BatchRecord {
  readonly firstSequence: number;
  readonly count: number;
  readonly firstOffset: number;
}

interface ProducerState {
  /** Sequence of the last event of the last batch applied. */
  lastSequence: number;
  /** Newest last, at most DEDUP_WINDOW_BATCHES. */
  batches: BatchRecord[];
}

export interface PartitionMachineLimits {
  readonly dedupWindowBatches: number;
  readonly maxProducers: number;
}

/** Test-only defects, for the simulator's planted-bug tests (never set in production). */
export interface PartitionPlantedBugs {
  /** Snapshots leave the producers' dedup windows out (Redpanda's bug before they were in its snapshot). */
  readonly snapshotWithoutDedup?: boolean;
}

const DEFAULT_LIMITS: PartitionMachineLimits = { dedupWindowBatches: DEDUP_WINDOW_BATCHES, maxProducers: MAX_PRODUCERS_PER_PARTITION };

export class PartitionMachine {
  private nextOffsetValue = 0;
  private lastTimestampValue = 0;
  /** Map order is use order: the first key is the least recently used producer. */
  private readonly producers = new Map<number, ProducerState>();
  private readonly groups = new Map<string, string>();

  constructor(private readonly limits: PartitionMachineLimits = DEFAULT_LIMITS, private readonly plantedBugs: PartitionPlantedBugs = {}) {}

  get nextOffset(): number {
    return this.nextOffsetValue;
  }

  get lastTimestamp(): number {
    return this.lastTimestampValue;
  }

  get producerCount(): number {
    return this.producers.size;
  }

  apply(command: PartitionCommand): ApplyOutcome {
    if (command.kind === COMMAND_APPEND) return this.append(command);
    if (command.kind === COMMAND_SKIP) {
      const from = this.nextOffsetValue;
      this.nextOffsetValue = Math.max(from, command.nextOffset);
      this.lastTimestampValue = Math.max(this.lastTimestampValue, command.timestamp);
      return { kind: 'skipped', from, to: this.nextOffsetValue };
    }
    if (command.kind === COMMAND_GROUP) {
      // Map order is commit order: the first key is the least recently committed group.
      this.groups.delete(command.group);
      this.groups.set(command.group, command.cursor);
      if (this.groups.size > MAX_GROUPS_PER_PARTITION) this.groups.delete(this.groups.keys().next().value!);
      return { kind: 'grouped', group: command.group };
    }
    return { kind: 'trimmed', cuts: command.cuts };
  }

  /** The cursor a consumer group last committed here, if any. */
  groupCursor(group: string): string | undefined {
    return this.groups.get(group);
  }

  private append(command: AppendCommand): ApplyOutcome {
    assert(command.events.length > 0, 'an append command holds at least one event');
    if (command.producerId !== NO_PRODUCER) {
      const verdict = this.checkSequence(command);
      if (verdict !== null) return verdict;
    }
    const firstOffset = this.nextOffsetValue;
    // The leader's clock may step back across a leader change; ordering within a partition must not.
    const timestamp = Math.max(command.timestamp, this.lastTimestampValue);
    // Named fields, not a spread: this runs for every event applied, on every replica.
    const events = command.events.map((event, i): AppliedEvent => ({ namespace: event.namespace, parentId: event.parentId, data: event.data, offset: firstOffset + i, timestamp }));
    this.nextOffsetValue += command.events.length;
    this.lastTimestampValue = timestamp;
    if (command.producerId !== NO_PRODUCER) this.remember(command, firstOffset);
    return { kind: 'appended', firstOffset, timestamp, events };
  }

  /**
   * Null when the batch is new for its producer; otherwise the outcome. A producer numbers its events
   * across all partitions, so one partition sees gaps between its batches: any sequence past the last
   * is new; a batch seen before (same first sequence and count, within the window) is a duplicate.
   */
  private checkSequence(command: AppendCommand): ApplyOutcome | null {
    const state = this.producers.get(command.producerId);
    if (state === undefined) return null;
    const count = command.events.length;
    const seen = state.batches.find((batch) => batch.firstSequence === command.firstSequence && batch.count === count);
    if (seen !== undefined) {
      this.touch(command.producerId, state);
      return { kind: 'duplicate', firstOffset: seen.firstOffset, count };
    }
    if (command.firstSequence > state.lastSequence) return null;
    return { kind: 'rejected', reason: 'sequence-stale', detail: `producer ${command.producerId}: sequence ${command.firstSequence} is not after its last (${state.lastSequence}) and matches none of the last ${state.batches.length} batches remembered` };
  }

  private remember(command: AppendCommand, firstOffset: number): void {
    const state = this.producers.get(command.producerId) ?? { lastSequence: -1, batches: [] };
    state.lastSequence = command.firstSequence + command.events.length - 1;
    state.batches.push({ firstSequence: command.firstSequence, count: command.events.length, firstOffset });
    if (state.batches.length > this.limits.dedupWindowBatches) state.batches.shift();
    this.touch(command.producerId, state);
    if (this.producers.size > this.limits.maxProducers) {
      const oldest = this.producers.keys().next().value;
      if (oldest !== undefined) this.producers.delete(oldest);
    }
  }

  private touch(producerId: number, state: ProducerState): void {
    this.producers.delete(producerId);
    this.producers.set(producerId, state);
  }

  /** The whole state, checksummed; restore() refuses a snapshot that does not verify. */
  snapshot(): Buffer {
    const producers = this.plantedBugs.snapshotWithoutDedup === true ? new Map<number, ProducerState>() : this.producers;
    const groups = [...this.groups].map(([name, cursor]) => [Buffer.from(name, 'utf8'), Buffer.from(cursor, 'utf8')] as const);
    let size = 1 + 8 + 8 + 4 + 4;
    for (const state of producers.values()) size += 8 + 8 + 1 + state.batches.length * 16;
    for (const [name, cursor] of groups) size += 1 + name.length + 4 + cursor.length;
    const out = Buffer.allocUnsafe(size + 4);
    let at = out.writeUInt8(SNAPSHOT_VERSION, 0);
    at = out.writeDoubleBE(this.nextOffsetValue, at);
    at = out.writeDoubleBE(this.lastTimestampValue, at);
    at = out.writeUInt32BE(producers.size, at);
    for (const [id, state] of producers) {
      at = out.writeDoubleBE(id, at);
      at = out.writeDoubleBE(state.lastSequence, at);
      at = out.writeUInt8(state.batches.length, at);
      for (const batch of state.batches) {
        at = out.writeUInt32BE(batch.firstSequence, at);
        at = out.writeUInt32BE(batch.count, at);
        at = out.writeDoubleBE(batch.firstOffset, at);
      }
    }
    at = out.writeUInt32BE(groups.length, at);
    for (const [name, cursor] of groups) {
      at = out.writeUInt8(name.length, at);
      at += name.copy(out, at);
      at = out.writeUInt32BE(cursor.length, at);
      at += cursor.copy(out, at);
    }
    out.writeUInt32BE(crc32(out.subarray(0, at)), at);
    return out;
  }

  static restore(bytes: Uint8Array, limits: PartitionMachineLimits = DEFAULT_LIMITS, plantedBugs: PartitionPlantedBugs = {}): PartitionMachine {
    const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (buffer.length < 25 || crc32(buffer.subarray(0, buffer.length - 4)) !== buffer.readUInt32BE(buffer.length - 4)) {
      throw new SnapshotDamagedError('partition snapshot fails its checksum');
    }
    const version = buffer.readUInt8(0);
    if (version !== 1 && version !== SNAPSHOT_VERSION) throw new SnapshotDamagedError(`partition snapshot version ${version} is unknown`);
    const machine = new PartitionMachine(limits, plantedBugs);
    machine.nextOffsetValue = buffer.readDoubleBE(1);
    machine.lastTimestampValue = buffer.readDoubleBE(9);
    const producers = buffer.readUInt32BE(17);
    let at = 21;
    for (let i = 0; i < producers; i++) {
      const id = buffer.readDoubleBE(at);
      const lastSequence = buffer.readDoubleBE(at + 8);
      const count = buffer.readUInt8(at + 16);
      at += 17;
      const batches: BatchRecord[] = [];
      for (let b = 0; b < count; b++, at += 16) {
        batches.push({ firstSequence: buffer.readUInt32BE(at), count: buffer.readUInt32BE(at + 4), firstOffset: buffer.readDoubleBE(at + 8) });
      }
      machine.producers.set(id, { lastSequence, batches });
    }
    if (version >= 2) {
      const need = (bytes: number): void => {
        if (at + bytes > buffer.length - 4) throw new SnapshotDamagedError('partition snapshot is cut short');
      };
      need(4);
      const groups = buffer.readUInt32BE(at);
      at += 4;
      for (let i = 0; i < groups; i++) {
        need(1);
        const nameLength = buffer.readUInt8(at);
        need(1 + nameLength + 4);
        const name = buffer.toString('utf8', at + 1, at + 1 + nameLength);
        const cursorLength = buffer.readUInt32BE(at + 1 + nameLength);
        at += 1 + nameLength + 4;
        need(cursorLength);
        machine.groups.set(name, buffer.toString('utf8', at, at + cursorLength));
        at += cursorLength;
      }
    }
    if (at !== buffer.length - 4) throw new SnapshotDamagedError('partition snapshot has trailing bytes');
    return machine;
  }
}

export class SnapshotDamagedError extends Error {
  override name = 'SnapshotDamagedError';
}
