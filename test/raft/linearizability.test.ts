import { describe, expect, it } from 'vitest';
import { checkLinearizable, type ReadOp, type WriteOp } from './sim/linearizability.js';

function write(opId: number, invokedAt: number, ackedAt: number | null, ackedIndex: number | null = null, refused = false): WriteOp {
  return { opId, invokedAt, ackedAt, ackedIndex, refused };
}
function read(opId: number, invokedAt: number, completedAt: number, seenIndex: number): ReadOp {
  return { opId, invokedAt, completedAt, seenIndex };
}

describe('linearizability checker (append-only log model)', () => {
  const log = new Map([[1, 10], [2, 11], [3, 12]]); // opId -> index

  it('accepts a sequential history', () => {
    const h = { writes: [write(1, 0, 5, 10), write(2, 6, 9, 11)], reads: [read(100, 10, 12, 11)] };
    expect(checkLinearizable(h, log)).toBeNull();
  });

  it('accepts concurrent writes in either order and unacknowledged writes that took effect', () => {
    const h = { writes: [write(2, 0, 9, 11), write(1, 1, 8, 10), write(3, 2, null)], reads: [read(100, 3, 4, 10)] };
    expect(checkLinearizable(h, log)).toBeNull();
  });

  it('rejects a stale read that misses an acknowledged write', () => {
    const h = { writes: [write(1, 0, 5, 10)], reads: [read(100, 6, 7, 9)] };
    expect(checkLinearizable(h, log)).toMatch(/read 100 saw up to 9/);
  });

  it('rejects a read that sees a write from its future', () => {
    const h = { writes: [write(2, 20, 25, 11)], reads: [read(100, 0, 5, 11)] };
    expect(checkLinearizable(h, log)).toMatch(/began after the read ended/);
  });

  it('rejects reads that go back in time', () => {
    const h = { writes: [write(1, 0, null), write(2, 0, null)], reads: [read(100, 1, 2, 11), read(101, 3, 4, 10)] };
    expect(checkLinearizable(h, log)).toMatch(/saw less of the log/);
  });

  it('rejects writes ordered against real time', () => {
    const h = { writes: [write(2, 0, 5, 11), write(1, 6, 8, 10)], reads: [] };
    expect(checkLinearizable(h, log)).toMatch(/precedes write 2/);
  });

  it('rejects a lost acknowledged write and a refused write that took effect', () => {
    expect(checkLinearizable({ writes: [write(9, 0, 1, 14)], reads: [] }, log)).toMatch(/acknowledged at index 14/);
    expect(checkLinearizable({ writes: [write(1, 0, null, null, true)], reads: [] }, log)).toMatch(/refused/);
  });
});
