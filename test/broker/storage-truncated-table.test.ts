// A table file (.ldb) of a stopped broker cut short (a disk or copy that lost
// its tail). LevelDB's reader fails on it with an I/O error (EINVAL), not a
// corruption status: it must still be refused as damage, naming the ways out,
// and --recover-store must say plainly when nothing usable is left (it had
// exited with a bare FLO_ERR_STORAGE either way: chaos seed 412).
import { readdir, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FloError } from '../../src/common/errors.js';
import { input, openLog } from '../support/log.js';
import { tempDir } from '../support/temp.js';

let dir: Awaited<ReturnType<typeof tempDir>>;
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  await dir.remove();
});

async function cutLargestTable(dataDir: string, keep: number): Promise<void> {
  const tables = await Promise.all((await readdir(dataDir)).filter((name) => name.endsWith('.ldb')).map(async (name) => ({ path: join(dataDir, name), size: (await stat(join(dataDir, name))).size })));
  const largest = tables.sort((a, b) => b.size - a.size)[0]!;
  await truncate(largest.path, Math.floor(largest.size * keep));
}

describe('a table file cut short', () => {
  it('is refused as damage (FLO_ERR_STORAGE_CORRUPT, naming --recover-store), and --recover-store says when nothing usable is left', async () => {
    let log = await openLog(dir.path, { partitions: 2 });
    for (let i = 0; i < 300; i++) await log.append([input(`/cut/${i % 4}`, `payload-${i}-${'x'.repeat(200)}`)]);
    await log.close();
    log = await openLog(dir.path); // moves the write-ahead log into a table
    await log.close();
    await cutLargestTable(dir.path, 0.9);

    const refused = await openLog(dir.path).then(() => undefined, (error: unknown) => error);
    expect(refused).toBeInstanceOf(FloError);
    expect((refused as FloError).code).toBe('FLO_ERR_STORAGE_CORRUPT');
    expect((refused as FloError).message).toMatch(/LevelDB found damage .*\.ldb: Invalid argument.*--recover-store/);

    const recovered = await openLog(dir.path, { recoverStore: true }).then(async (opened) => {
      await opened.close();
      return undefined;
    }, (error: unknown) => error);
    // The one table held everything (the metadata record too): a refusal that names the way out, or a start that kept what verifies.
    if (recovered !== undefined) {
      expect((recovered as FloError).code).toBe('FLO_ERR_STORAGE_CORRUPT');
      expect((recovered as FloError).message).toMatch(/--recover-store had LevelDB repair the store .* --join/);
    }
  });
});
