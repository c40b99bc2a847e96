import { describe, expect, it } from 'vitest';
import { ReadCache } from '../../src/broker/partitions/read-cache.js';
import type { StoredGroup } from '../../src/broker/storage/event-store.js';

function group(partition: number, start: number, bytes = 10): StoredGroup {
  return { partition, start, count: 1, timestamp: 0, nsId: 0, value: Buffer.alloc(bytes) };
}

describe('the read cache', () => {
  it('stays within its byte budget, evicting the oldest groups first', () => {
    const cache = new ReadCache(2, 100);
    for (let i = 0; i < 30; i++) cache.add(group(i % 2, Math.floor(i / 2)));
    expect(cache.sizeBytes).toBeLessThanOrEqual(100);
    expect(cache.from(0, 0)).toBeUndefined();
    expect(cache.from(0, 14)?.map((g) => g.start)).toEqual([14]);
  });

  it('finds the group holding an offset', () => {
    const cache = new ReadCache(1, 1000);
    cache.add({ partition: 0, start: 0, count: 5, timestamp: 0, nsId: 0, value: Buffer.alloc(5) });
    cache.add({ partition: 0, start: 5, count: 5, timestamp: 0, nsId: 0, value: Buffer.alloc(5) });
    expect(cache.from(0, 7)?.map((g) => g.start)).toEqual([5]);
    expect(cache.from(0, 3)?.map((g) => g.start)).toEqual([0, 5]);
  });

  it('drops a partition holding hundreds of thousands of groups and keeps its accounting right', () => {
    const cache = new ReadCache(2, 1e9);
    for (let i = 0; i < 300_000; i++) cache.add(group(i % 2, i, 1));
    cache.dropPartition(0);
    expect(cache.sizeBytes).toBe(150_000);
    expect(cache.from(0, 0)).toBeUndefined();
    expect(cache.from(1, 1)?.length).toBe(150_000);
  });
});
