// The LevelDB key layout of the event store. Every key starts with a one-byte
// keyspace tag; numbers are big-endian so byte order is numeric order:
//   M<name>                        store metadata (JSON)
//   D<nsId u32>                    namespace dictionary: id -> UTF-8 namespace
//   P<partition u16>               partition state: next offset, last timestamp
//   E<partition u16><start u48>    one event group (wire.ts), offsets start..start+count-1
//   N<nsId u32><start u48>         namespace index: which groups hold a namespace
//   T<partition u16><ts u48><start u48>  timestamp index: first group of each commit;
//                                  value: the commit's end offset (the start-up chain check)
// Stored offsets are below MAX_STORED_OFFSET (asserted: a clamped key would collide
// with another); range bounds may lie beyond it and are clamped, which is exact.
import { assert } from '../../common/assert.js';

export const Keyspace = { META: 0x4d, DICT: 0x44, PARTITION: 0x50, GROUP: 0x45, NAMESPACE: 0x4e, TIME: 0x54 } as const;

const U48_MAX = 2 ** 48 - 1;
/** Offsets (and timestamps) a key can hold: one below the largest u48, so a clamped range bound sorts after every stored key. */
export const MAX_STORED_OFFSET = U48_MAX - 1;

function storedOffset(offset: number): number {
  assert(Number.isSafeInteger(offset) && offset >= 0 && offset <= MAX_STORED_OFFSET, `offset ${offset} does not fit a storage key (at most ${MAX_STORED_OFFSET})`);
  return offset;
}

function boundOffset(offset: number): number {
  return Math.min(Math.max(0, offset), U48_MAX);
}

export function metaKey(name: string): Buffer {
  return Buffer.concat([Buffer.of(Keyspace.META), Buffer.from(name, 'utf8')]);
}

export function dictKey(nsId: number): Buffer {
  const key = Buffer.allocUnsafe(5);
  key[0] = Keyspace.DICT;
  key.writeUInt32BE(nsId, 1);
  return key;
}

export function partitionKey(partition: number): Buffer {
  const key = Buffer.allocUnsafe(3);
  key[0] = Keyspace.PARTITION;
  key.writeUInt16BE(partition, 1);
  return key;
}

/** The key of a stored group; asserts that `start` fits. */
export function groupKey(partition: number, start: number): Buffer {
  return groupKeyOf(partition, storedOffset(start));
}

/** A range bound among a partition's groups: any offset, clamped past every stored key. */
export function groupKeyBound(partition: number, offset: number): Buffer {
  return groupKeyOf(partition, boundOffset(offset));
}

function groupKeyOf(partition: number, start: number): Buffer {
  const key = Buffer.allocUnsafe(9);
  key[0] = Keyspace.GROUP;
  key.writeUInt16BE(partition, 1);
  key.writeUIntBE(start, 3, 6);
  return key;
}

export function groupKeyStart(key: Buffer): number {
  return key.readUIntBE(3, 6);
}

export function namespaceIndexKey(nsId: number, start: number): Buffer {
  return namespaceIndexKeyOf(nsId, storedOffset(start));
}

export function namespaceIndexKeyBound(nsId: number, offset: number): Buffer {
  return namespaceIndexKeyOf(nsId, boundOffset(offset));
}

function namespaceIndexKeyOf(nsId: number, start: number): Buffer {
  const key = Buffer.allocUnsafe(11);
  key[0] = Keyspace.NAMESPACE;
  key.writeUInt32BE(nsId, 1);
  key.writeUIntBE(start, 5, 6);
  return key;
}

export function namespaceIndexKeyStart(key: Buffer): number {
  return key.readUIntBE(5, 6);
}

export function timeKey(partition: number, timestamp: number, start: number): Buffer {
  return timeKeyOf(partition, storedOffset(timestamp), storedOffset(start));
}

export function timeKeyBound(partition: number, timestamp: number, start: number): Buffer {
  return timeKeyOf(partition, boundOffset(timestamp), boundOffset(start));
}

function timeKeyOf(partition: number, timestamp: number, start: number): Buffer {
  const key = Buffer.allocUnsafe(15);
  key[0] = Keyspace.TIME;
  key.writeUInt16BE(partition, 1);
  key.writeUIntBE(timestamp, 3, 6);
  key.writeUIntBE(start, 9, 6);
  return key;
}

export function timeKeyParts(key: Buffer): { timestamp: number; start: number } {
  return { timestamp: key.readUIntBE(3, 6), start: key.readUIntBE(9, 6) };
}

/** Timestamp-index value: the end offset of the commit, so start-up can check that commits are contiguous. */
export function encodeTimeValue(end: number): Buffer {
  const value = Buffer.allocUnsafe(8);
  value.writeDoubleBE(end, 0);
  return value;
}

export function decodeTimeValue(value: Buffer): number {
  return value.readDoubleBE(0);
}

/** Index entry value: how many events and bytes a group holds and when it was committed. */
export function encodeIndexValue(count: number, sizeBytes: number, timestamp: number): Buffer {
  const value = Buffer.allocUnsafe(16);
  value.writeUInt32BE(count, 0);
  value.writeUInt32BE(sizeBytes, 4);
  value.writeDoubleBE(timestamp, 8);
  return value;
}

export function decodeIndexValue(value: Buffer): { count: number; sizeBytes: number; timestamp: number } {
  return { count: value.readUInt32BE(0), sizeBytes: value.readUInt32BE(4), timestamp: value.readDoubleBE(8) };
}

export function encodePartitionState(nextOffset: number, lastTimestamp: number): Buffer {
  const value = Buffer.allocUnsafe(16);
  value.writeDoubleBE(nextOffset, 0);
  value.writeDoubleBE(lastTimestamp, 8);
  return value;
}

export function decodePartitionState(value: Buffer): { nextOffset: number; lastTimestamp: number } {
  return { nextOffset: value.readDoubleBE(0), lastTimestamp: value.readDoubleBE(8) };
}
