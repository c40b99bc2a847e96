// File damage for the damage nemeses, done on a stopped broker's data dir: cut
// the tail off one data file, or flip one bit in one. Which file, where and how
// much all follow from the step's seeded pick, so a seed replays the same damage
// (given the same files). A replicated broker must then refuse what it cannot
// verify and rebuild from the others; it must never serve or spread the damage.
import { open, readdir, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { SeededRandom } from '../../src/broker/raft/random.js';

export type DamageKind = 'truncate' | 'bitflip';

/** LevelDB's log and table files: where the events are. */
const DATA_FILE = /\.(log|ldb|sst)$/;

async function dataFiles(dataDir: string): Promise<Array<{ path: string; sizeBytes: number }>> {
  const names = (await readdir(dataDir)).filter((name) => DATA_FILE.test(name)).sort();
  const files: Array<{ path: string; sizeBytes: number }> = [];
  for (const name of names) {
    const path = join(dataDir, name);
    const { size } = await stat(path);
    if (size > 0) files.push({ path, sizeBytes: size });
  }
  return files;
}

/** Damages one data file; returns what it did, for the timeline. */
export async function damageDataDir(dataDir: string, kind: DamageKind, pick: number): Promise<string> {
  const files = await dataFiles(dataDir);
  if (files.length === 0) return `nothing to damage in ${dataDir}`;
  const random = new SeededRandom(pick);
  const file = files[random.nextInt(files.length)]!;
  if (kind === 'truncate') {
    // Keep 50–99 % of the file: a torn tail, not an empty file.
    const keepBytes = Math.floor((file.sizeBytes * (50 + random.nextInt(50))) / 100);
    await truncate(file.path, keepBytes);
    return `truncated ${file.path} from ${file.sizeBytes} to ${keepBytes} bytes`;
  }
  const offset = random.nextInt(file.sizeBytes);
  const bit = random.nextInt(8);
  const handle = await open(file.path, 'r+');
  try {
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, offset);
    byte[0] = byte[0]! ^ (1 << bit);
    await handle.write(byte, 0, 1, offset);
  } finally {
    await handle.close();
  }
  return `flipped bit ${bit} of byte ${offset} in ${file.path}`;
}
