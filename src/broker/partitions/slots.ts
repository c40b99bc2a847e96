// What waits in a partition between a produce request and its commit: one slot per
// event, tied to its request's ticket, and how slots become an append command.
// Plain slots of many requests merge into one command per namespace run; an
// idempotent producer's batch is always its own command, exactly as it was sent.
import { COMMAND_APPEND, NO_PRODUCER, encodeCommand, type CommandEvent } from './commands.js';

/** One produce request: filled with positions as its events are applied. */
export interface AppendTicket {
  readonly partitions: Uint16Array;
  readonly offsets: Float64Array;
  remaining: number;
  resolve(): void;
  reject(error: Error): void;
}

export interface Slot {
  readonly event: CommandEvent;
  readonly ticket: AppendTicket;
  readonly index: number;
  readonly bytes: number;
  /** Sent here by another broker, which chose this one as leader: proposed here or refused, never forwarded on. */
  readonly forwarded: boolean;
  /** Times it went back to pending after a leader change lost it (bounded by MAX_APPEND_ATTEMPTS). */
  attempts: number;
  /** Part of an idempotent producer's batch: proposed as its own command, deduplicated by the machine. */
  readonly producer: ProducerBatch | undefined;
}

/** An idempotent producer's events for one partition: the machine remembers (id, firstSequence, count). */
export interface ProducerBatch {
  readonly id: number;
  readonly firstSequence: number;
}

/**
 * Where a slot waits to be proposed: plain slots by namespace (runs of many requests merge), an
 * idempotent batch by the batch object its request made — two copies of one request (a client's
 * retry racing its first attempt) are two commands, so the machine stores one and answers the
 * other as a duplicate, instead of one command holding both copies, stored twice.
 */
export function pendingKey(slot: { event: CommandEvent; producer: ProducerBatch | undefined }): string | ProducerBatch {
  return slot.producer ?? slot.event.namespace;
}

export function appendCommand(timestamp: number, slots: readonly Slot[]): Buffer {
  const producer = slots[0]?.producer;
  return encodeCommand({ kind: COMMAND_APPEND, timestamp, producerId: producer?.id ?? NO_PRODUCER, firstSequence: producer?.firstSequence ?? 0, events: slots.map((slot) => slot.event) });
}


/**
 * What is pending as append commands: plain slots merged (each command within `maxBytes`), an
 * idempotent producer's batch one command as sent (a retry must match it, firstSequence and count, exactly).
 */
export function commandsOf(runs: Iterable<readonly Slot[]>, timestamp: number, maxBytes: number): Array<{ data: Buffer; slots: Slot[] }> {
  const commands: Array<{ data: Buffer; slots: Slot[] }> = [];
  let slots: Slot[] = [];
  let bytes = 0;
  const seal = (): void => {
    commands.push({ data: appendCommand(timestamp, slots), slots });
    slots = [];
    bytes = 0;
  };
  for (const run of runs) {
    if (run[0]?.producer !== undefined) {
      commands.push({ data: appendCommand(timestamp, run), slots: run as Slot[] });
      continue;
    }
    for (const slot of run) {
      if (slots.length > 0 && bytes + slot.bytes > maxBytes) seal();
      slots.push(slot);
      bytes += slot.bytes;
    }
  }
  if (slots.length > 0) seal();
  return commands;
}
