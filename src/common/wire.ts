// Binary formats shared by broker, storage and client. A "group" is a run of
// events of one namespace with contiguous offsets, committed together: it is
// stored as one LevelDB value and sent to subscribers byte for byte, so replay
// costs the broker no per-event work. Decoders check every length against the
// buffer and raise FLO_ERR_PROTOCOL / FLO_ERR_REQUEST_INVALID, never crash.
import { isUtf8 } from 'node:buffer';
import { FloError, type ErrorCode } from './errors.js';

export const BATCH_MEDIA_TYPE = 'application/vnd.flo.batch';
const BATCH_VERSION = 1;
const GROUP_VERSION = 1;
export const GROUP_HEADER_BYTES = 1 + 4 + 8 + 4;
const MAX_PARENT_ID_BYTES = 255;

export interface EventInput {
  readonly namespace: string;
  readonly data: Uint8Array;
  readonly parentId?: string | undefined;
}

class Reader {
  offset = 0;
  constructor(readonly buffer: Buffer, readonly errorCode: ErrorCode, readonly what: string) {}

  need(bytes: number): void {
    if (this.offset + bytes > this.buffer.length) {
      throw new FloError(this.errorCode, `${this.what} is truncated at byte ${this.offset}`);
    }
  }
  u8(): number { this.need(1); return this.buffer[this.offset++]!; }
  u16(): number { this.need(2); const v = this.buffer.readUInt16BE(this.offset); this.offset += 2; return v; }
  u32(): number { this.need(4); const v = this.buffer.readUInt32BE(this.offset); this.offset += 4; return v; }
  f64(): number { this.need(8); const v = this.buffer.readDoubleBE(this.offset); this.offset += 8; return v; }
  bytes(length: number): Buffer { this.need(length); const v = this.buffer.subarray(this.offset, this.offset + length); this.offset += length; return v; }
  text(length: number): string { return this.bytes(length).toString('utf8'); }
  get done(): boolean { return this.offset >= this.buffer.length; }
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function parentBytes(parentId: string | undefined): number {
  return parentId === undefined ? 0 : Buffer.byteLength(parentId, 'latin1');
}

/** The tail every event shares in batches and groups: u8 parentLen, parent, u32 dataLen, data. */
function writeParentAndData(out: Buffer, start: number, event: { parentId?: string | undefined; data: Uint8Array }): number {
  const parent = event.parentId ?? '';
  let at = out.writeUInt8(parent.length, start);
  at += out.write(parent, at, 'latin1');
  at = out.writeUInt32BE(event.data.length, at);
  out.set(event.data, at);
  return at + event.data.length;
}

// ---- produce batch: version u8, then per event: u16 nsLen, ns, u8 parentLen, parent, u32 dataLen, data

export function encodeBatch(events: readonly EventInput[]): Buffer {
  let size = 1;
  for (const event of events) size += 2 + Buffer.byteLength(event.namespace) + 1 + parentBytes(event.parentId) + 4 + event.data.length;
  const out = Buffer.allocUnsafe(size);
  let at = out.writeUInt8(BATCH_VERSION, 0);
  for (const event of events) {
    const nsLength = out.write(event.namespace, at + 2, 'utf8');
    at = writeParentAndData(out, out.writeUInt16BE(nsLength, at) + nsLength, event);
  }
  return out;
}

export interface DecodedInput {
  namespace: string;
  data: Buffer;
  parentId: string | undefined;
}

export function decodeBatch(body: Buffer, maxEvents: number): DecodedInput[] {
  const reader = new Reader(body, 'FLO_ERR_REQUEST_INVALID', 'batch body');
  const version = reader.u8();
  if (version !== BATCH_VERSION) throw new FloError('FLO_ERR_REQUEST_INVALID', `batch version ${version} is not supported (expected ${BATCH_VERSION})`);
  const events: DecodedInput[] = [];
  while (!reader.done) {
    if (events.length >= maxEvents) throw new FloError('FLO_ERR_BATCH_TOO_LARGE', `a batch holds at most ${maxEvents} events`);
    // Strict: a lenient decode would turn distinct invalid names into one U+FFFD name.
    const namespaceBytes = reader.bytes(reader.u16());
    if (!isUtf8(namespaceBytes)) throw new FloError('FLO_ERR_NAMESPACE_INVALID', `event ${events.length}: the namespace is not valid UTF-8`);
    const namespace = namespaceBytes.toString('utf8');
    const parentLength = reader.u8();
    const parentId = parentLength === 0 ? undefined : reader.bytes(parentLength).toString('latin1');
    const data = reader.bytes(reader.u32());
    events.push({ namespace, data, parentId });
  }
  return events;
}

// ---- group: version u8, count u32, timestamp f64, nsId u32, then per event: u8 parentLen, parent, u32 dataLen, data

export interface GroupEvent {
  readonly data: Uint8Array;
  readonly parentId: string | undefined;
}

export function groupEventBytes(event: GroupEvent): number {
  return 1 + parentBytes(event.parentId) + 4 + event.data.length;
}

export function encodeGroup(events: readonly GroupEvent[], timestamp: number, nsId: number, sizeBytes?: number): Buffer {
  let size = GROUP_HEADER_BYTES;
  if (sizeBytes === undefined) for (const event of events) size += groupEventBytes(event);
  else size += sizeBytes;
  const out = Buffer.allocUnsafe(size);
  let at = out.writeUInt8(GROUP_VERSION, 0);
  at = out.writeUInt32BE(events.length, at);
  at = out.writeDoubleBE(timestamp, at);
  at = out.writeUInt32BE(nsId, at);
  for (const event of events) at = writeParentAndData(out, at, event);
  return out;
}

export interface GroupHeader {
  readonly count: number;
  readonly timestamp: number;
  /** The broker's id of the group's namespace: meaningful only to the broker that wrote it. */
  readonly nsId: number;
}

export function readGroupHeader(group: Buffer): GroupHeader {
  const reader = new Reader(group, 'FLO_ERR_PROTOCOL', 'event group');
  const version = reader.u8();
  if (version !== GROUP_VERSION) throw new FloError('FLO_ERR_PROTOCOL', `event group version ${version} is unknown`);
  return { count: reader.u32(), timestamp: reader.f64(), nsId: reader.u32() };
}

/** Calls `visit` for every event of a group with its index in the group; data are views, not copies. */
export function forEachGroupEvent(group: Buffer, visit: (index: number, parentId: string | undefined, data: Buffer) => void): void {
  const reader = new Reader(group, 'FLO_ERR_PROTOCOL', 'event group');
  reader.offset = 1;
  const count = reader.u32();
  reader.offset = GROUP_HEADER_BYTES;
  for (let index = 0; index < count; index++) {
    const parentLength = reader.u8();
    const parentId = parentLength === 0 ? undefined : reader.bytes(parentLength).toString('latin1');
    visit(index, parentId, reader.bytes(reader.u32()));
  }
}

/** The same group without its first `skip` events: what retention keeps of a partly expired group. */
export function dropGroupPrefix(group: Buffer, skip: number): Buffer {
  const { count, timestamp, nsId } = readGroupHeader(group);
  const kept: GroupEvent[] = [];
  forEachGroupEvent(group, (index, parentId, data) => {
    if (index >= skip) kept.push({ parentId, data });
  });
  if (kept.length !== count - skip) throw new FloError('FLO_ERR_PROTOCOL', 'event group count does not match its events');
  return encodeGroup(kept, timestamp, nsId);
}

export { Reader as WireReader, asBuffer, MAX_PARENT_ID_BYTES };
