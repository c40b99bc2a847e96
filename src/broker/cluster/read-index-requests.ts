// A partition's ReadIndex asked of its leader over the peer connection (REQUEST
// kind 5, beside forwarded appends (1), fetches (2), group commits (3) and
// controller commands (4)): [u8 5][u16 partition]; the reply is [f64 index], the
// leader's commit index confirmed by a quorum. A replica that applied through it
// holds everything the cluster had committed when it asked.
import { FloError } from '../../common/errors.js';

const KIND_READ_INDEX = 5;

export function encodeReadIndexRequest(partition: number): Buffer {
  const out = Buffer.allocUnsafe(3);
  out.writeUInt8(KIND_READ_INDEX, 0);
  out.writeUInt16BE(partition, 1);
  return out;
}

export function isReadIndexRequest(payload: Buffer): boolean {
  return payload.byteLength > 0 && payload.readUInt8(0) === KIND_READ_INDEX;
}

export function decodeReadIndexRequest(payload: Buffer): number {
  if (payload.byteLength !== 3 || !isReadIndexRequest(payload)) throw new FloError('FLO_ERR_PROTOCOL', 'malformed read-index request');
  return payload.readUInt16BE(1);
}

export function encodeReadIndexReply(index: number): Buffer {
  const out = Buffer.allocUnsafe(8);
  out.writeDoubleBE(index, 0);
  return out;
}

export function decodeReadIndexReply(payload: Buffer): number {
  const index = payload.byteLength === 8 ? payload.readDoubleBE(0) : Number.NaN;
  if (!Number.isSafeInteger(index) || index < 0) throw new FloError('FLO_ERR_PROTOCOL', 'malformed read-index reply');
  return index;
}
