// Catching a replica up past a snapshot. A partition's Raft snapshot holds only the
// state machine (offsets, timestamps, producers), not the events: the event store
// is written on apply. So a replica that receives a snapshot beyond what it applied
// copies the events it lacks, by offset, from a replica that has them — offsets
// are the same on every replica, so the copy is the data it would have applied.
//   FETCH: [u8 2][u16 partition][f64 from][f64 to][u32 maxBytes]
//   reply: [u32 count] count × ([f64 first offset][u32 bytes][AppendCommand: timestamp, events with namespaces])
// Events trimmed by retention on the source are absent; the copy bridges the gap.
import { FloError } from '../../common/errors.js';
import { COMMAND_APPEND, NO_PRODUCER, decodeCommand, encodeCommand, type CommandEvent } from '../partitions/commands.js';
import type { TransferBudget } from './transfer-budget.js';

const KIND_FETCH = 2;
/** Bytes of events one FETCH asks for (well inside the peer frame limit). */
export const FETCH_BYTES = 4 * 1024 * 1024;

/** Events of one stored group: contiguous offsets from `start`, one namespace, one timestamp. */
export interface EventSegment {
  readonly start: number;
  readonly timestamp: number;
  readonly events: readonly CommandEvent[];
}

export interface FetchRequest {
  readonly partition: number;
  readonly from: number;
  readonly to: number;
  readonly maxBytes: number;
}

export function isFetch(payload: Buffer): boolean {
  return payload.byteLength > 0 && payload.readUInt8(0) === KIND_FETCH;
}

export function encodeFetch(request: FetchRequest): Buffer {
  const out = Buffer.allocUnsafe(23);
  out.writeUInt8(KIND_FETCH, 0);
  out.writeUInt16BE(request.partition, 1);
  out.writeDoubleBE(request.from, 3);
  out.writeDoubleBE(request.to, 11);
  out.writeUInt32BE(request.maxBytes, 19);
  return out;
}

export function decodeFetch(payload: Buffer): FetchRequest {
  if (payload.byteLength !== 23 || payload.readUInt8(0) !== KIND_FETCH) throw new FloError('FLO_ERR_PROTOCOL', 'not a fetch request');
  const request = { partition: payload.readUInt16BE(1), from: payload.readDoubleBE(3), to: payload.readDoubleBE(11), maxBytes: payload.readUInt32BE(19) };
  if (!Number.isSafeInteger(request.from) || !Number.isSafeInteger(request.to) || request.from < 0 || request.to < request.from) {
    throw new FloError('FLO_ERR_PROTOCOL', 'fetch range out of bounds');
  }
  return request;
}

/** Answers a FETCH with as many bytes as the broker's catch-up budget grants now (transfer-budget.ts). */
export async function answerFetch(request: FetchRequest, budget: TransferBudget, exportEvents: (partition: number, from: number, to: number, maxBytes: number) => Promise<EventSegment[]>): Promise<Buffer> {
  const granted = await budget.grant(Math.min(request.maxBytes, FETCH_BYTES));
  let sent = 0;
  try {
    const reply = encodeSegments(await exportEvents(request.partition, request.from, request.to, granted));
    sent = reply.byteLength;
    return reply;
  } finally {
    budget.settle(granted, sent);
  }
}

export function encodeSegments(segments: readonly EventSegment[]): Buffer {
  const parts: Buffer[] = [];
  const count = Buffer.allocUnsafe(4);
  count.writeUInt32BE(segments.length, 0);
  parts.push(count);
  for (const segment of segments) {
    const command = encodeCommand({ kind: COMMAND_APPEND, timestamp: segment.timestamp, producerId: NO_PRODUCER, firstSequence: 0, events: segment.events });
    const header = Buffer.allocUnsafe(12);
    header.writeDoubleBE(segment.start, 0);
    header.writeUInt32BE(command.byteLength, 8);
    parts.push(header, command);
  }
  return Buffer.concat(parts);
}

export function decodeSegments(payload: Buffer): EventSegment[] {
  const fail = (): never => {
    throw new FloError('FLO_ERR_PROTOCOL', 'malformed fetch reply');
  };
  if (payload.byteLength < 4) fail();
  const count = payload.readUInt32BE(0);
  const segments: EventSegment[] = [];
  let at = 4;
  for (let i = 0; i < count; i++) {
    if (at + 12 > payload.byteLength) fail();
    const start = payload.readDoubleBE(at);
    const length = payload.readUInt32BE(at + 8);
    at += 12;
    if (!Number.isSafeInteger(start) || start < 0 || at + length > payload.byteLength) fail();
    const command = decodeCommand(payload.subarray(at, at + length));
    at += length;
    if (command.kind !== COMMAND_APPEND) fail();
    else segments.push({ start, timestamp: command.timestamp, events: command.events });
  }
  if (at !== payload.byteLength) fail();
  return segments;
}
