// LevelDB's own block checksums, checked by us before LevelDB opens the store.
// The bundled engine reads tables without verifying them (classic-level does not
// expose verify_checksums), and a damaged block it then parses (e.g. a zeroed
// page) trips a C++ assertion that aborts the whole process, with no message a
// JavaScript catch could turn into a refusal. So every table's metaindex, index,
// filter and data blocks are checked against their CRC-32C trailers first.
// A table without a valid footer is skipped: it is the unfinished output of a
// compaction that never reached the manifest, or damage that LevelDB itself
// reports as corruption when it opens the table (a clean error, not an abort).
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32c } from './checksum.js';

const FOOTER_BYTES = 48;
const TRAILER_BYTES = 5;
const MAGIC_LOW = 0x8b80fb57;
const MAGIC_HIGH = 0xdb477524;
const MASK_DELTA = 0xa282ead8;

interface BlockHandle {
  readonly offset: number;
  readonly size: number;
}

/** Reads a LevelDB varint64 (offsets and sizes stay far below 2^53). */
function readVarint(buffer: Buffer, at: number): { value: number; next: number } | undefined {
  let value = 0;
  let scale = 1;
  for (let i = at; i < buffer.length && i < at + 10; i++) {
    const byte = buffer[i]!;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return { value, next: i + 1 };
    scale *= 128;
  }
  return undefined;
}

function readHandle(buffer: Buffer, at: number): { handle: BlockHandle; next: number } | undefined {
  const offset = readVarint(buffer, at);
  const size = offset && readVarint(buffer, offset.next);
  return offset && size ? { handle: { offset: offset.value, size: size.value }, next: size.next } : undefined;
}

function unmask(masked: number): number {
  const rotated = (masked - MASK_DELTA) >>> 0;
  return ((rotated >>> 17) | (rotated << 15)) >>> 0;
}

/** The values of a block's entries (for index and metaindex blocks: handles of other blocks). */
function blockValues(block: Buffer): Buffer[] | undefined {
  if (block.length < 4) return undefined;
  const restarts = block.readUInt32LE(block.length - 4);
  const end = block.length - 4 * (restarts + 1);
  if (restarts === 0 || end < 0) return undefined;
  const values: Buffer[] = [];
  for (let at = 0; at < end;) {
    const shared = readVarint(block, at);
    const unshared = shared && readVarint(block, shared.next);
    const valueLength = unshared && readVarint(block, unshared.next);
    if (!valueLength) return undefined;
    const valueAt = valueLength.next + unshared.value;
    if (valueAt + valueLength.value > end) return undefined;
    values.push(block.subarray(valueAt, valueAt + valueLength.value));
    at = valueAt + valueLength.value;
  }
  return values;
}

/** What is wrong with one table file, or undefined when every block verifies (or it has no footer: see above). */
export async function checkTable(path: string): Promise<string | undefined> {
  const file = await open(path, 'r');
  try {
    const stat = await file.stat();
    const size = stat.size;
    if (!stat.isFile() || size < FOOTER_BYTES) return undefined;
    const footer = Buffer.alloc(FOOTER_BYTES);
    await file.read(footer, 0, FOOTER_BYTES, size - FOOTER_BYTES);
    if (footer.readUInt32LE(40) !== MAGIC_LOW || footer.readUInt32LE(44) !== MAGIC_HIGH) return undefined;
    const metaindex = readHandle(footer, 0);
    const index = metaindex && readHandle(footer, metaindex.next);
    if (!index) return 'its footer is damaged';
    const readBlock = async (handle: BlockHandle, what: string): Promise<{ block?: Buffer; problem?: string }> => {
      if (handle.offset + handle.size + TRAILER_BYTES > size - FOOTER_BYTES) return { problem: `${what} at ${handle.offset} lies outside the file` };
      const bytes = Buffer.alloc(handle.size + TRAILER_BYTES);
      await file.read(bytes, 0, bytes.length, handle.offset);
      const stored = unmask(bytes.readUInt32LE(handle.size + 1));
      if (crc32c(bytes.subarray(0, handle.size + 1)) !== stored) return { problem: `${what} at ${handle.offset} fails its checksum` };
      // Compressed index blocks (a store written with Snappy) cannot be walked here; their checksum is all we check.
      return bytes[handle.size] === 0 ? { block: bytes.subarray(0, handle.size) } : {};
    };
    for (const [top, what] of [[metaindex.handle, 'the metaindex block'], [index.handle, 'the index block']] as const) {
      const { block, problem } = await readBlock(top, what);
      if (problem) return problem;
      if (!block) continue;
      const values = blockValues(block);
      if (!values) return `${what} at ${top.offset} cannot be parsed`;
      for (const value of values) {
        const handle = readHandle(value, 0);
        if (!handle) return `${what} at ${top.offset} holds a damaged block handle`;
        const found = await readBlock(handle.handle, 'a block');
        if (found.problem) return found.problem;
      }
    }
    return undefined;
  } finally {
    await file.close();
  }
}

/** Problems with the table files of a LevelDB dir, each naming its file. */
export async function checkTables(dataDir: string): Promise<string[]> {
  const problems: string[] = [];
  for (const entry of (await readdir(dataDir)).filter((name) => name.endsWith('.ldb')).sort()) {
    const problem = await checkTable(join(dataDir, entry));
    if (problem) problems.push(`LevelDB table ${entry}: ${problem}`);
  }
  return problems;
}
