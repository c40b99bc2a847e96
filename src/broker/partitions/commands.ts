// The commands a partition's Raft log carries, and their binary form. Everything
// replicas must agree on is inside the command, decided once by the leader: the
// timestamp, the producer id and sequence, and namespaces as text (never a
// broker-local dictionary id), so every replica applies byte-identical input.
//   APPEND: [u8 1][u8 version][f64 timestamp][f64 producerId][u32 firstSequence][u32 count]
//           count × ([u16 namespace bytes][namespace][u8 parent bytes][parent][u32 data bytes][data])
//   TRIM:   [u8 2][u8 version][u32 count] count × ([u16 namespace bytes][namespace][f64 keepFromOffset])
//   GROUP:  [u8 4][u8 version][u8 name bytes][name][u32 cursor bytes][cursor]   (a consumer group's position)
//   SKIP:   [u8 3][u8 version][f64 nextOffset][f64 timestamp]   (offsets below it are never assigned: a single
//           broker's ids stay unique after it lost an unsynced tail, docs/operations.md)
import { assert } from '../../common/assert.js';

export const COMMAND_APPEND = 1;
export const COMMAND_TRIM = 2;
export const COMMAND_SKIP = 3;
export const COMMAND_GROUP = 4;
const VERSION = 1;
/** Producer id of a request that asked for no deduplication. */
export const NO_PRODUCER = 0;

export interface CommandEvent {
  readonly namespace: string;
  readonly parentId: string | undefined;
  readonly data: Uint8Array;
}

export interface AppendCommand {
  readonly kind: typeof COMMAND_APPEND;
  readonly timestamp: number;
  readonly producerId: number;
  readonly firstSequence: number;
  readonly events: readonly CommandEvent[];
}

export interface TrimCommand {
  readonly kind: typeof COMMAND_TRIM;
  /** Per namespace, the oldest offset that stays; everything before it in that namespace goes. */
  readonly cuts: ReadonlyArray<{ readonly namespace: string; readonly keepFromOffset: number }>;
}

export interface SkipCommand {
  readonly kind: typeof COMMAND_SKIP;
  /** The partition's next offset becomes at least this. */
  readonly nextOffset: number;
  /** The partition's last timestamp becomes at least this (the store's, when a group starts afresh). */
  readonly timestamp: number;
}

/** A consumer group committed its cursor: every replica keeps the same position (in the machine and its snapshots). */
export interface GroupCommand {
  readonly kind: typeof COMMAND_GROUP;
  readonly group: string;
  readonly cursor: string;
}

export type PartitionCommand = AppendCommand | TrimCommand | SkipCommand | GroupCommand;

export class CommandDecodeError extends Error {
  override name = 'CommandDecodeError';
}

export function encodeCommand(command: PartitionCommand): Buffer {
  if (command.kind === COMMAND_SKIP) return encodeSkip(command);
  if (command.kind === COMMAND_GROUP) return encodeGroupCommand(command);
  return command.kind === COMMAND_APPEND ? encodeAppend(command) : encodeTrim(command);
}

function encodeGroupCommand(command: GroupCommand): Buffer {
  const name = Buffer.from(command.group, 'utf8');
  const cursor = Buffer.from(command.cursor, 'utf8');
  assert(name.length > 0 && name.length <= 0xff, 'group name length out of range');
  const head = Buffer.allocUnsafe(3);
  head.writeUInt8(COMMAND_GROUP, 0);
  head.writeUInt8(VERSION, 1);
  head.writeUInt8(name.length, 2);
  const length = Buffer.allocUnsafe(4);
  length.writeUInt32BE(cursor.length, 0);
  return Buffer.concat([head, name, length, cursor]);
}

function encodeSkip(command: SkipCommand): Buffer {
  assert(Number.isSafeInteger(command.nextOffset) && command.nextOffset >= 0, 'skip offset must be a non-negative safe integer');
  const out = Buffer.allocUnsafe(18);
  out.writeUInt8(COMMAND_SKIP, 0);
  out.writeUInt8(VERSION, 1);
  out.writeDoubleBE(command.nextOffset, 2);
  out.writeDoubleBE(command.timestamp, 10);
  return out;
}

function encodeAppend(command: AppendCommand): Buffer {
  assert(Number.isSafeInteger(command.producerId) && command.producerId >= 0, 'producer id must be a non-negative safe integer');
  assert(Number.isInteger(command.firstSequence) && command.firstSequence >= 0 && command.firstSequence <= 0xffffffff, 'sequence out of range');
  const parts: Buffer[] = [];
  const head = Buffer.allocUnsafe(26);
  head.writeUInt8(COMMAND_APPEND, 0);
  head.writeUInt8(VERSION, 1);
  head.writeDoubleBE(command.timestamp, 2);
  head.writeDoubleBE(command.producerId, 10);
  head.writeUInt32BE(command.firstSequence, 18);
  head.writeUInt32BE(command.events.length, 22);
  parts.push(head);
  for (const event of command.events) {
    const namespace = Buffer.from(event.namespace, 'utf8');
    const parent = Buffer.from(event.parentId ?? '', 'latin1');
    assert(namespace.length <= 0xffff && parent.length <= 0xff, 'namespace or parent id too long for a command');
    const fields = Buffer.allocUnsafe(7);
    fields.writeUInt16BE(namespace.length, 0);
    parts.push(fields.subarray(0, 2), namespace);
    fields.writeUInt8(parent.length, 2);
    parts.push(fields.subarray(2, 3), parent);
    fields.writeUInt32BE(event.data.byteLength, 3);
    parts.push(fields.subarray(3, 7), Buffer.from(event.data.buffer, event.data.byteOffset, event.data.byteLength));
  }
  return Buffer.concat(parts);
}

function encodeTrim(command: TrimCommand): Buffer {
  const parts: Buffer[] = [];
  const head = Buffer.allocUnsafe(6);
  head.writeUInt8(COMMAND_TRIM, 0);
  head.writeUInt8(VERSION, 1);
  head.writeUInt32BE(command.cuts.length, 2);
  parts.push(head);
  for (const cut of command.cuts) {
    assert(Number.isSafeInteger(cut.keepFromOffset) && cut.keepFromOffset >= 0, 'trim offset must be a non-negative safe integer');
    const namespace = Buffer.from(cut.namespace, 'utf8');
    const fields = Buffer.allocUnsafe(10);
    fields.writeUInt16BE(namespace.length, 0);
    fields.writeDoubleBE(cut.keepFromOffset, 2);
    parts.push(fields.subarray(0, 2), namespace, fields.subarray(2));
  }
  return Buffer.concat(parts);
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Reads a command, checking every length against the bytes present: a damaged entry throws, it is never misread. */
export function decodeCommand(bytes: Uint8Array): PartitionCommand {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const reader = new Reader(buffer);
  const kind = reader.u8();
  const version = reader.u8();
  if (version !== VERSION) throw new CommandDecodeError(`command version ${version} is not ${VERSION}`);
  if (kind === COMMAND_APPEND) {
    const timestamp = reader.f64();
    const producerId = reader.f64();
    const firstSequence = reader.u32();
    const count = reader.u32();
    // Each event takes at least 7 bytes: refuse a count the entry cannot hold before allocating.
    if (count * 7 > reader.remaining) throw new CommandDecodeError(`append of ${count} events in ${reader.remaining} bytes`);
    const events: CommandEvent[] = [];
    for (let i = 0; i < count; i++) {
      const namespace = reader.text(reader.u16());
      const parentLength = reader.u8();
      const parentId = parentLength === 0 ? undefined : reader.latin1(parentLength);
      const data = reader.bytes(reader.u32());
      events.push({ namespace, parentId, data });
    }
    reader.end();
    if (!Number.isSafeInteger(producerId) || producerId < 0) throw new CommandDecodeError('bad producer id');
    return { kind, timestamp, producerId, firstSequence, events };
  }
  if (kind === COMMAND_TRIM) {
    const count = reader.u32();
    if (count * 10 > reader.remaining) throw new CommandDecodeError(`trim of ${count} namespaces in ${reader.remaining} bytes`);
    const cuts: Array<{ namespace: string; keepFromOffset: number }> = [];
    for (let i = 0; i < count; i++) cuts.push({ namespace: reader.text(reader.u16()), keepFromOffset: reader.f64() });
    reader.end();
    return { kind, cuts };
  }
  if (kind === COMMAND_SKIP) {
    const nextOffset = reader.f64();
    const timestamp = reader.f64();
    reader.end();
    if (!Number.isSafeInteger(nextOffset) || nextOffset < 0) throw new CommandDecodeError('bad skip offset');
    return { kind, nextOffset, timestamp };
  }
  if (kind === COMMAND_GROUP) {
    const group = reader.text(reader.u8());
    const cursor = reader.text(reader.u32());
    reader.end();
    if (group.length === 0) throw new CommandDecodeError('group without a name');
    return { kind, group, cursor };
  }
  throw new CommandDecodeError(`unknown command kind ${kind}`);
}

class Reader {
  private offset = 0;
  constructor(private readonly buffer: Buffer) {}

  get remaining(): number {
    return this.buffer.length - this.offset;
  }

  private take(length: number): number {
    if (length > this.remaining) throw new CommandDecodeError(`command truncated: wanted ${length} bytes, ${this.remaining} left`);
    const at = this.offset;
    this.offset += length;
    return at;
  }

  u8(): number {
    return this.buffer.readUInt8(this.take(1));
  }

  u16(): number {
    return this.buffer.readUInt16BE(this.take(2));
  }

  u32(): number {
    return this.buffer.readUInt32BE(this.take(4));
  }

  f64(): number {
    return this.buffer.readDoubleBE(this.take(8));
  }

  bytes(length: number): Buffer {
    const at = this.take(length);
    return this.buffer.subarray(at, at + length);
  }

  text(length: number): string {
    try {
      return UTF8.decode(this.bytes(length));
    } catch (error) {
      if (error instanceof CommandDecodeError) throw error;
      throw new CommandDecodeError('namespace is not UTF-8');
    }
  }

  latin1(length: number): string {
    return this.bytes(length).toString('latin1');
  }

  end(): void {
    if (this.remaining !== 0) throw new CommandDecodeError(`${this.remaining} bytes after the command`);
  }
}
