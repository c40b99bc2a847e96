// Randomised: one flipped bit anywhere in a table (.ldb) file of a stopped broker.
// Whatever it hits (a value, a key, block structure, the index), the broker
// refuses to start with a storage problem, or it starts and every event it
// serves is one that was acknowledged, with its payload. Prints its seed.
import { cp, open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventLog } from '../../src/broker/event-log.js';
import { isFloError } from '../../src/common/errors.js';
import { formatEventId } from '../../src/common/ids.js';
import { input, openLog, readAll } from '../support/log.js';
import { tempDir } from '../support/temp.js';

const FLIPS = 24;
const SEED = Number(process.env.FLO_TEST_SEED ?? Date.now() % 1_000_000);

let dir: Awaited<ReturnType<typeof tempDir>>;
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  await dir.remove();
});

/** mulberry32: small, seeded, good enough to pick positions. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('a flipped bit in a table file', () => {
  it(`is refused or never served as data (seed ${SEED}; replay with FLO_TEST_SEED=${SEED})`, async () => {
    const next = random(SEED);
    const pristine = join(dir.path, 'pristine');
    let log: EventLog = await openLog(pristine, { partitions: 2 });
    const acknowledged = new Map<string, string>();
    for (let i = 0; i < 600; i += 6) {
      const batch = Array.from({ length: 6 }, (_, k) => input(`/flip/${(i + k) % 4}`, `payload-${i + k}-${'q'.repeat(100)}`));
      const result = await log.append(batch);
      result.offsets.forEach((offset, k) => acknowledged.set(formatEventId(result.partitions[k]!, offset), batch[k]!.data.toString()));
    }
    await log.close();
    log = await openLog(pristine); // moves the log into a table
    await log.close();
    const outcomes = { refused: 0, served: 0 };
    for (let flip = 0; flip < FLIPS; flip++) {
      const copy = join(dir.path, `flip-${flip}`);
      await cp(pristine, copy, { recursive: true });
      const tables = (await readdir(copy)).filter((name) => name.endsWith('.ldb'));
      const table = join(copy, tables[Math.floor(next() * tables.length)]!);
      const at = Math.floor(next() * (await stat(table)).size);
      const bit = 1 << Math.floor(next() * 8);
      const file = await open(table, 'r+');
      const byte = Buffer.alloc(1);
      await file.read(byte, 0, 1, at);
      await file.write(Buffer.of(byte[0]! ^ bit), 0, 1, at);
      await file.close();
      const where = `seed ${SEED}, flip ${flip}: bit ${bit} of byte ${at} in ${table}`;
      let opened: EventLog;
      try {
        opened = await openLog(copy);
      } catch (error) {
        expect(isFloError(error) && ['FLO_ERR_STORAGE_CORRUPT', 'FLO_ERR_STORAGE'].includes(error.code), `${where}: ${String(error)}`).toBe(true);
        outcomes.refused++;
        continue;
      }
      try {
        for (const event of await readAll(opened)) expect(event.text(), `${where}: event ${event.id}`).toBe(acknowledged.get(event.id));
        outcomes.served++;
      } catch (error) {
        if (!isFloError(error)) throw error;
        expect(['FLO_ERR_STORAGE_CORRUPT', 'FLO_ERR_STORAGE'], `${where}: ${String(error)}`).toContain(error.code);
        outcomes.refused++;
      } finally {
        await opened.close();
      }
    }
    expect(outcomes.refused + outcomes.served).toBe(FLIPS);
  });
});
