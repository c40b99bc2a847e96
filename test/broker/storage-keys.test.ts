// Storage keys hold offsets in 48 bits while event ids allow 52: a stored key
// beyond the limit must stop loudly, not be clamped onto another group's key.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventLog } from '../../src/broker/event-log.js';
import * as keys from '../../src/broker/storage/keys.js';
import { AssertionError } from '../../src/common/assert.js';
import { input, openLog } from '../support/log.js';
import { tempDir } from '../support/temp.js';

let dir: Awaited<ReturnType<typeof tempDir>>;
let log: EventLog | undefined;

beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  await log?.close();
  log = undefined;
  await dir.remove();
});

describe('storage keys', () => {
  it('refuses to build a stored key for an offset that does not fit 48 bits, instead of clamping two offsets onto one key', () => {
    expect(keys.groupKeyStart(keys.groupKey(3, keys.MAX_STORED_OFFSET))).toBe(keys.MAX_STORED_OFFSET);
    for (const offset of [2 ** 48 - 1, 2 ** 48, 2 ** 48 + 1, 2 ** 52, -1, 1.5]) {
      expect(() => keys.groupKey(0, offset), `group offset ${offset}`).toThrow(AssertionError);
      expect(() => keys.namespaceIndexKey(0, offset), `index offset ${offset}`).toThrow(AssertionError);
      expect(() => keys.timeKey(0, 0, offset), `time-index offset ${offset}`).toThrow(AssertionError);
    }
  });

  it('still reads with range bounds beyond the key space, which sort after every stored key', async () => {
    expect(Buffer.compare(keys.groupKeyBound(0, 2 ** 52), keys.groupKey(0, keys.MAX_STORED_OFFSET))).toBe(1);
    expect(Buffer.compare(keys.groupKeyBound(0, 2 ** 52), keys.groupKeyBound(1, 0))).toBe(-1);
    log = await openLog(dir.path, { partitions: 1 });
    await log.append([input('/a', 'one'), input('/a', 'two')]);
    const groups = await log.store.readGroups(0, 0, 1024 * 1024, 2 ** 52);
    expect(groups.map((group) => [group.start, group.count])).toEqual([[0, 2]]);
    expect(await log.store.readIndex(log.store.dictionary.lookup('/a')!, 0, 2 ** 52, 10)).toHaveLength(1);
  });
});
