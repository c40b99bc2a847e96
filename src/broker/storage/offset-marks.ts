// The offsets file (FLO-OFFSETS in the data dir, beside LevelDB's files, which
// LevelDB ignores): per partition, the highest offset ever reserved for
// assignment, and whether the broker last stopped cleanly. It lives outside
// LevelDB on purpose: a lost or damaged LevelDB log tail cannot take it along,
// so an id handed out before the loss is never handed out again. It only moves
// forward, and it is raised (written and fsynced) before offsets beyond it are
// assigned. Replaced atomically: temp file, fsync, rename, fsync the directory.
import { open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { FloError } from '../../common/errors.js';
import { crc32 } from './checksum.js';

export const OFFSETS_FILE = 'FLO-OFFSETS';
const FORMAT = 1;

export interface OffsetMarks {
  /** True when the broker that wrote it had committed everything and closed the store. */
  readonly clean: boolean;
  /** Per partition: no offset at or above this was ever assigned. */
  readonly reserved: readonly number[];
}

export async function readOffsetMarks(dataDir: string): Promise<OffsetMarks | undefined> {
  let text: string;
  try {
    text = await readFile(join(dataDir, OFFSETS_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new FloError('FLO_ERR_STORAGE', `cannot read ${OFFSETS_FILE}: ${(error as Error).message}`, { cause: error });
  }
  const newline = text.indexOf('\n');
  const body = newline < 0 ? text : text.slice(0, newline);
  const checksum = newline < 0 ? undefined : Number(text.slice(newline + 1).trim());
  let parsed: { format?: unknown; clean?: unknown; reserved?: unknown } | undefined;
  try {
    parsed = checksum === crc32(Buffer.from(body)) ? (JSON.parse(body) as typeof parsed) : undefined;
  } catch {
    parsed = undefined;
  }
  const reserved = parsed?.reserved;
  if (!parsed || parsed.format !== FORMAT || typeof parsed.clean !== 'boolean' || !Array.isArray(reserved) || !reserved.every((r) => Number.isSafeInteger(r) && (r as number) >= 0)) {
    throw new FloError('FLO_ERR_STORAGE_CORRUPT', `${join(dataDir, OFFSETS_FILE)} is damaged (bad checksum or content); see docs/operations.md, "The store is refused"`);
  }
  return { clean: parsed.clean, reserved: reserved as number[] };
}

export async function writeOffsetMarks(dataDir: string, marks: OffsetMarks): Promise<void> {
  const body = JSON.stringify({ format: FORMAT, clean: marks.clean, reserved: marks.reserved });
  const path = join(dataDir, OFFSETS_FILE);
  const temporary = `${path}.tmp`;
  const file = await open(temporary, 'w');
  try {
    await file.writeFile(`${body}\n${crc32(Buffer.from(body))}\n`);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(temporary, path);
  const directory = await open(dataDir, 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}
