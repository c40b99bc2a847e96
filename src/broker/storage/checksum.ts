// Our own checksum on every stored group, so damage is caught whatever the
// engine verifies: a stored group is the wire group followed by a CRC-32 of
// its key and bytes (the key is covered, so a group read back under a damaged
// key fails too). Clients never see the trailer: reads strip it after checking.
import * as zlib from 'node:zlib';

export const CHECKSUM_BYTES = 4;

const TABLE = ((): Uint32Array => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** The same CRC-32 (IEEE) as zlib's, for a Node without `zlib.crc32` (before 20.15). */
export function tableCrc32(data: Uint8Array, value = 0): number {
  let crc = ~value >>> 0;
  for (let i = 0; i < data.length; i++) crc = TABLE[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}

const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;
export const crc32: (data: Uint8Array, value?: number) => number = nativeCrc32 ?? tableCrc32;

/** The stored form of a group: its bytes, then CRC-32(key ‖ group) big-endian. */
export function sealGroup(key: Buffer, group: Buffer): Buffer {
  const sealed = Buffer.allocUnsafe(group.length + CHECKSUM_BYTES);
  group.copy(sealed, 0);
  sealed.writeUInt32BE(crc32(group, crc32(key)), group.length);
  return sealed;
}

/** The group inside a stored value (a view, no copy), or undefined when the checksum does not match. */
export function unsealGroup(key: Buffer, stored: Buffer): Buffer | undefined {
  if (stored.length < CHECKSUM_BYTES) return undefined;
  const group = stored.subarray(0, stored.length - CHECKSUM_BYTES);
  return stored.readUInt32BE(group.length) === crc32(group, crc32(key)) ? group : undefined;
}

/** CRC-32C (Castagnoli), slicing by 8: the checksum LevelDB keeps per table block (table-check.ts). */
const CRC32C_TABLES = ((): Uint32Array[] => {
  const tables = Array.from({ length: 8 }, () => new Uint32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    tables[0]![n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    for (let t = 1; t < 8; t++) tables[t]![n] = (tables[0]![tables[t - 1]![n]! & 0xff]! ^ (tables[t - 1]![n]! >>> 8)) >>> 0;
  }
  return tables;
})();

export function crc32c(data: Uint8Array): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = CRC32C_TABLES as [Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array];
  let crc = 0xffffffff;
  let i = 0;
  for (const end = data.length - 8; i <= end; i += 8) {
    const low = (crc ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24))) >>> 0;
    crc = t7[low & 0xff]! ^ t6[(low >>> 8) & 0xff]! ^ t5[(low >>> 16) & 0xff]! ^ t4[low >>> 24]! ^
      t3[data[i + 4]!]! ^ t2[data[i + 5]!]! ^ t1[data[i + 6]!]! ^ t0[data[i + 7]!]!;
  }
  for (; i < data.length; i++) crc = t0[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}
