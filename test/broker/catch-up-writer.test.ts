// A replica catching up past a snapshot gave up 60 s after the copy STARTED, not
// after the last batch: a copy that takes longer (a large partition, and with
// --catch-up-rate any copy above rate × 60 s) failed stop half-way although
// every batch arrived. The wait now counts from the last batch.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { EventSegment } from '../../src/broker/cluster/catch-up.js';
import { CATCH_UP_WAIT_MS, catchUpPartition, type CatchUpJob } from '../../src/broker/partitions/catch-up-writer.js';
import type { PartitionHost } from '../../src/broker/partitions/partition.js';
import type { PartitionMachine } from '../../src/broker/partitions/partition-machine.js';

function job(batches: number, msPerFetch: number): { job: CatchUpJob; fetched: () => number; writes: () => number } {
  let clock = 0;
  let fetched = 0;
  let writes = 0;
  const host = {
    nodeId: 1,
    logger: pino({ level: 'silent' }),
    fetchEvents: async (_from: number, request: { from: number }): Promise<EventSegment[]> => {
      fetched++;
      clock += msPerFetch;
      return [{ start: request.from, timestamp: 1, events: [{ namespace: '/a', parentId: undefined, data: Buffer.from('x') }] }];
    },
    store: {
      reserve: async () => undefined,
      write: async () => void writes++,
      dictionary: { takeUnpersisted: () => [], restoreUnpersisted: () => undefined },
    },
    onApplied: () => undefined,
  } as unknown as PartitionHost;
  return {
    job: {
      id: 0, host, index: 10, target: { nextOffset: batches, lastTimestamp: 1 } as PartitionMachine,
      from: { nextOffset: 0, lastTimestamp: 0 }, layout: () => undefined, leader: () => 2, replicas: () => [1, 2, 3], now: () => clock,
    },
    fetched: () => fetched,
    writes: () => writes,
  };
}

describe('catching a partition up past a snapshot', () => {
  it('goes on for as long as batches keep arriving, however long the whole copy takes', async () => {
    // Five batches, 30 s each: 150 s in all, well past the 60 s wait.
    const copy = job(5, 30_000);
    expect(5 * 30_000).toBeGreaterThan(CATCH_UP_WAIT_MS);
    await expect(catchUpPartition(copy.job)).resolves.toBe(5);
    expect(copy.fetched()).toBe(5);
    expect(copy.writes()).toBe(5);
  });
});
