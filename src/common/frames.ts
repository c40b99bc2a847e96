// WebSocket frames of the binary API. Subscribe frames start with a type byte;
// a RECORDS frame carries whole groups (see wire.ts) with their partition, first
// offset and how many leading events the reader must skip. Produce frames carry
// a request id so many batches can be in flight on one connection.
import { FloError } from './errors.js';
import { WireReader, asBuffer } from './wire.js';

export const FrameType = { START: 1, RECORDS: 2, CAUGHT_UP: 3, END: 4, ERROR: 5 } as const;
export type FrameTypeCode = (typeof FrameType)[keyof typeof FrameType];

export interface WireRecord {
  readonly partition: number;
  /** Offset of the group's first event. */
  readonly start: number;
  /** Leading events of the group the reader has already seen. */
  readonly skip: number;
  readonly namespace: string;
  readonly group: Buffer;
}

const RECORD_FIXED_BYTES = 2 + 8 + 4 + 2 + 4;

export function recordsFrameSize(records: readonly WireRecord[]): number {
  let size = 1;
  for (const record of records) size += RECORD_FIXED_BYTES + Buffer.byteLength(record.namespace) + record.group.length;
  return size;
}

export function encodeRecordsFrame(records: readonly WireRecord[]): Buffer {
  const out = Buffer.allocUnsafe(recordsFrameSize(records));
  let at = out.writeUInt8(FrameType.RECORDS, 0);
  for (const record of records) {
    at = out.writeUInt16BE(record.partition, at);
    at = out.writeDoubleBE(record.start, at);
    at = out.writeUInt32BE(record.skip, at);
    const nsLength = out.write(record.namespace, at + 2, 'utf8');
    at = out.writeUInt16BE(nsLength, at) + nsLength;
    at = out.writeUInt32BE(record.group.length, at);
    record.group.copy(out, at);
    at += record.group.length;
  }
  return out;
}

export function decodeRecordsFrame(frame: Buffer): WireRecord[] {
  const reader = new WireReader(frame, 'FLO_ERR_PROTOCOL', 'records frame');
  reader.offset = 1;
  const records: WireRecord[] = [];
  while (!reader.done) {
    const partition = reader.u16();
    const start = reader.f64();
    const skip = reader.u32();
    const namespace = reader.text(reader.u16());
    const group = reader.bytes(reader.u32());
    records.push({ partition, start, skip, namespace, group });
  }
  return records;
}

export function encodeTextFrame(type: FrameTypeCode, text: string): Buffer {
  const body = Buffer.from(text, 'utf8');
  const out = Buffer.allocUnsafe(1 + body.length);
  out[0] = type;
  body.copy(out, 1);
  return out;
}

export function frameType(frame: Buffer): number {
  if (frame.length === 0) throw new FloError('FLO_ERR_PROTOCOL', 'empty frame');
  return frame[0]!;
}

export function frameText(frame: Buffer): string {
  return frame.toString('utf8', 1);
}

// ---- produce over WebSocket: request = u32 id + batch body; reply = u32 id, u8 status, payload

export const PRODUCE_OK = 0;
export const PRODUCE_FAILED = 1;

/**
 * Marks an idempotent produce frame: `u32 requestId, u8 0xF1, f64 producerId, u32 sequence, batch`.
 * A batch starts with its version byte (1), so the marker cannot be mistaken for one.
 */
const PRODUCER_MARKER = 0xf1;

export interface FrameProducer {
  readonly id: number;
  /** Sequence of the batch's first event (docs/api.md, "Exactly once on retry"). */
  readonly sequence: number;
}

export function encodeProduceRequest(requestId: number, batch: Uint8Array, producer?: FrameProducer): Buffer {
  const header = producer === undefined ? 4 : 17;
  const out = Buffer.allocUnsafe(header + batch.length);
  out.writeUInt32BE(requestId, 0);
  if (producer !== undefined) {
    out.writeUInt8(PRODUCER_MARKER, 4);
    out.writeDoubleBE(producer.id, 5);
    out.writeUInt32BE(producer.sequence, 13);
  }
  out.set(batch, header);
  return out;
}

export function splitProduceRequest(frame: Buffer): { requestId: number; batch: Buffer; producer: FrameProducer | undefined } {
  if (frame.length < 5) throw new FloError('FLO_ERR_REQUEST_INVALID', 'produce frame is shorter than its header');
  const requestId = frame.readUInt32BE(0);
  if (frame.readUInt8(4) !== PRODUCER_MARKER) return { requestId, batch: frame.subarray(4), producer: undefined };
  if (frame.length < 18) throw new FloError('FLO_ERR_REQUEST_INVALID', 'idempotent produce frame is shorter than its header');
  return { requestId, producer: { id: frame.readDoubleBE(5), sequence: frame.readUInt32BE(13) }, batch: frame.subarray(17) };
}

/** Positions are sent as (u16 partition, f64 offset) pairs; the client formats ids only when asked. */
export function encodeProduceAck(requestId: number, partitions: ArrayLike<number>, offsets: ArrayLike<number>): Buffer {
  const out = Buffer.allocUnsafe(4 + 1 + 4 + partitions.length * 10);
  let at = out.writeUInt32BE(requestId, 0);
  at = out.writeUInt8(PRODUCE_OK, at);
  at = out.writeUInt32BE(partitions.length, at);
  for (let i = 0; i < partitions.length; i++) {
    at = out.writeUInt16BE(partitions[i]!, at);
    at = out.writeDoubleBE(offsets[i]!, at);
  }
  return out;
}

export function encodeProduceFailure(requestId: number, problemJson: string): Buffer {
  const body = Buffer.from(problemJson, 'utf8');
  const out = Buffer.allocUnsafe(5 + body.length);
  out.writeUInt32BE(requestId, 0);
  out.writeUInt8(PRODUCE_FAILED, 4);
  body.copy(out, 5);
  return out;
}

export type ProduceReply =
  | { requestId: number; ok: true; partitions: number[]; offsets: number[] }
  | { requestId: number; ok: false; problemJson: string };

export function decodeProduceReply(data: Uint8Array): ProduceReply {
  const reader = new WireReader(asBuffer(data), 'FLO_ERR_PROTOCOL', 'produce reply');
  const requestId = reader.u32();
  if (reader.u8() !== PRODUCE_OK) return { requestId, ok: false, problemJson: reader.buffer.toString('utf8', 5) };
  const count = reader.u32();
  reader.need(count * 10);
  const partitions = new Array<number>(count);
  const offsets = new Array<number>(count);
  for (let i = 0; i < count; i++) {
    partitions[i] = reader.u16();
    offsets[i] = reader.f64();
  }
  return { requestId, ok: true, partitions, offsets };
}
