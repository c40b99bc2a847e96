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

describe('a damaged metadata record', () => {
  it('is refused as damage, never opened as a store of 0 partitions (chaos seed 412: --recover-store after a bit flip crashed later on it)', async () => {
    const log = await openLog(dir.path, { partitions: 2 });
    await log.append([input('/meta/a', 'x')]);
    await log.close();
    // A flipped bit turned "partitions":2 into "partitions":0 (0x32 → 0x30); LevelDB reads such a block without checking it.
    const { ClassicLevel } = await import('classic-level');
    const { metaKey } = await import('../../src/broker/storage/keys.js');
    const db = new ClassicLevel<Buffer, Buffer>(dir.path, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open();
    const meta = JSON.parse((await db.get(metaKey('store')))!.toString('utf8')) as Record<string, unknown>;
    await db.put(metaKey('store'), Buffer.from(JSON.stringify({ ...meta, partitions: 0 })));
    await db.close();
    for (const recoverStore of [false, true]) {
      const refused = await openLog(dir.path, { recoverStore }).then(async (opened) => {
        await opened.close();
        return undefined;
      }, (error: unknown) => error);
      expect(refused, `recoverStore ${recoverStore}`).toBeInstanceOf(FloError);
      expect((refused as FloError).code).toBe('FLO_ERR_STORAGE_CORRUPT');
      expect((refused as FloError).message).toMatch(/metadata record is damaged/);
    }
  });
});
