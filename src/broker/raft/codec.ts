// Binary encoding of Raft data (entries, hard state, snapshots, messages) shared by
// the level storage and the TCP transport. Big-endian, length-prefixed, no JSON.
// Decoding checks every length against the bytes actually present before it
// allocates, so a malformed or hostile input raises CodecError, never a crash or
// an unbounded allocation.

import {
  MessageType, type ConfState, type Entry, type EntryType, type HardState, type Message, type Snapshot,
} from './messages.js';

/** Most entries one message may carry. */
export const MAX_ENTRIES_PER_MESSAGE = 1_000_000;
/** Most members a configuration may list. */
export const MAX_CONF_MEMBERS = 1024;

export class CodecError extends Error {
  override name = 'CodecError';
}

export class Writer {
  private buf: Uint8Array;
  private view: DataView;
  length = 0;

  constructor(initialBytes = 256) {
    this.buf = new Uint8Array(initialBytes);
    this.view = new DataView(this.buf.buffer);
  }

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.buf.byteLength) return;
    let size = this.buf.byteLength * 2;
    while (size < this.length + bytes) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(value: number): void {
    this.reserve(1);
    this.view.setUint8(this.length, value);
    this.length += 1;
  }

  u32(value: number): void {
    this.reserve(4);
    this.view.setUint32(this.length, value);
    this.length += 4;
  }

  /** A non-negative safe integer in 8 bytes. */
  u53(value: number): void {
    this.reserve(8);
    this.view.setUint32(this.length, Math.floor(value / 0x1_0000_0000));
    this.view.setUint32(this.length + 4, value >>> 0);
    this.length += 8;
  }

  bytes(data: Uint8Array): void {
    this.u32(data.byteLength);
    this.reserve(data.byteLength);
    this.buf.set(data, this.length);
    this.length += data.byteLength;
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

export class Reader {
  private offset = 0;
  private readonly view: DataView;

  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get remaining(): number {
    return this.buf.byteLength - this.offset;
  }

  private need(bytes: number): void {
    if (this.remaining < bytes) throw new CodecError(`truncated: need ${bytes} bytes, have ${this.remaining}`);
  }

  u8(): number {
    this.need(1);
    return this.view.getUint8(this.offset++);
  }

  u32(): number {
    this.need(4);
    const value = this.view.getUint32(this.offset);
    this.offset += 4;
    return value;
  }

  u53(): number {
    this.need(8);
    const high = this.view.getUint32(this.offset);
    const low = this.view.getUint32(this.offset + 4);
    if (high > 0x1f_ffff) throw new CodecError('integer beyond 2^53');
    this.offset += 8;
    return high * 0x1_0000_0000 + low;
  }

  /** A length-prefixed byte string: a view into the input, not a copy. */
  bytes(): Uint8Array {
    const length = this.u32();
    this.need(length);
    const out = this.buf.subarray(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }

  /** A count that must fit: each counted item needs at least minItemBytes. */
  count(max: number, minItemBytes: number): number {
    const n = this.u32();
    if (n > max || n * minItemBytes > this.remaining) throw new CodecError(`count ${n} exceeds what the input can hold`);
    return n;
  }

  end(): void {
    if (this.remaining !== 0) throw new CodecError(`${this.remaining} trailing bytes`);
  }
}

const ENTRY_MIN_BYTES = 8 + 8 + 1 + 4;

export function writeEntry(w: Writer, e: Entry): void {
  w.u53(e.term);
  w.u53(e.index);
  w.u8(e.type);
  w.bytes(e.data);
}

export function readEntry(r: Reader): Entry {
  const term = r.u53();
  const index = r.u53();
  const type = r.u8();
  if (type !== 0 && type !== 1) throw new CodecError(`unknown entry type ${type}`);
  return { term, index, type: type as EntryType, data: r.bytes() };
}

export function writeHardState(w: Writer, hs: HardState): void {
  w.u53(hs.term);
  w.u32(hs.vote);
  w.u53(hs.commit);
}

export function readHardState(r: Reader): HardState {
  return { term: r.u53(), vote: r.u32(), commit: r.u53() };
}

function writeIds(w: Writer, ids: readonly number[]): void {
  w.u32(ids.length);
  for (const id of ids) w.u32(id);
}

function readIds(r: Reader): number[] {
  const n = r.count(MAX_CONF_MEMBERS, 4);
  const ids: number[] = [];
  for (let i = 0; i < n; i++) ids.push(r.u32());
  return ids;
}

export function writeConfState(w: Writer, conf: ConfState): void {
  writeIds(w, conf.voters);
  writeIds(w, conf.learners);
}

export function readConfState(r: Reader): ConfState {
  return { voters: readIds(r), learners: readIds(r) };
}

export function writeSnapshot(w: Writer, s: Snapshot): void {
  w.u53(s.metadata.index);
  w.u53(s.metadata.term);
  writeConfState(w, s.metadata.conf);
  w.bytes(s.data);
}

export function readSnapshot(r: Reader): Snapshot {
  const index = r.u53();
  const term = r.u53();
  const conf = readConfState(r);
  return { metadata: { index, term, conf }, data: r.bytes() };
}

const MESSAGE_TYPES = new Set<number>(Object.values(MessageType));

export function writeMessage(w: Writer, m: Message): void {
  w.u8(m.type);
  w.u32(m.from);
  w.u32(m.to);
  w.u53(m.term);
  w.u53(m.logTerm);
  w.u53(m.index);
  w.u53(m.commit);
  w.u8(m.reject ? 1 : 0);
  w.u53(m.rejectHint);
  w.u53(m.context);
  w.u32(m.entries.length);
  for (const e of m.entries) writeEntry(w, e);
  w.u8(m.snapshot === null ? 0 : 1);
  if (m.snapshot !== null) writeSnapshot(w, m.snapshot);
}

export function readMessage(r: Reader): Message {
  const type = r.u8();
  if (!MESSAGE_TYPES.has(type)) throw new CodecError(`unknown message type ${type}`);
  const from = r.u32();
  const to = r.u32();
  const term = r.u53();
  const logTerm = r.u53();
  const index = r.u53();
  const commit = r.u53();
  const reject = r.u8();
  if (reject > 1) throw new CodecError('bad reject flag');
  const rejectHint = r.u53();
  const context = r.u53();
  const n = r.count(MAX_ENTRIES_PER_MESSAGE, ENTRY_MIN_BYTES);
  const entries: Entry[] = [];
  for (let i = 0; i < n; i++) entries.push(readEntry(r));
  const hasSnapshot = r.u8();
  if (hasSnapshot > 1) throw new CodecError('bad snapshot flag');
  const snapshot = hasSnapshot === 1 ? readSnapshot(r) : null;
  return { type: type as MessageType, from, to, term, logTerm, index, commit, reject: reject === 1, rejectHint, context, entries, snapshot };
}

/** Bytes a message will take, so the writer is allocated once. */
function estimateBytes(m: Message): number {
  let bytes = 128;
  for (const e of m.entries) bytes += e.data.byteLength + 21;
  if (m.snapshot !== null) bytes += m.snapshot.data.byteLength + 32 + 4 * (m.snapshot.metadata.conf.voters.length + m.snapshot.metadata.conf.learners.length);
  return bytes;
}

export function encodeMessage(m: Message): Uint8Array {
  const w = new Writer(estimateBytes(m));
  writeMessage(w, m);
  return w.finish();
}

export function decodeMessage(bytes: Uint8Array): Message {
  const r = new Reader(bytes);
  const m = readMessage(r);
  r.end();
  return m;
}
