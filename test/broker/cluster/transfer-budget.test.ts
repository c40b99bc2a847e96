// Catch-up copies were unbounded: a broker leading many partitions sent its log to
// every new replica as fast as it could read it. Now one budget per broker bounds
// what all its FETCH replies send per second, and a reply shrinks to what the
// budget holds instead of waiting until the asking replica times out.
import { describe, expect, it } from 'vitest';
import { answerFetch, decodeSegments, type EventSegment } from '../../../src/broker/cluster/catch-up.js';
import { MAX_GRANT_WAIT_MS, MIN_GRANT_BYTES, TransferBudget, type BudgetClock } from '../../../src/broker/cluster/transfer-budget.js';

const MIB = 1024 * 1024;

function fakeClock(): BudgetClock & { slept: number[] } {
  let now = 0;
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    sleep: async (ms) => {
      slept.push(ms);
      now += ms;
    },
  };
}

describe('the catch-up transfer budget', () => {
  it('grants a burst of one second, then no more than the rate allows', async () => {
    const clock = fakeClock();
    const budget = new TransferBudget(MIB, clock);
    expect(await budget.grant(4 * MIB)).toBe(MIB);
    let sent = 0;
    while (clock.now() < 3_000) sent += await budget.grant(4 * MIB);
    // Three more seconds at 1 MiB/s, within one minimum grant.
    expect(sent).toBeGreaterThanOrEqual(3 * MIB - MIN_GRANT_BYTES);
    expect(sent).toBeLessThanOrEqual(3 * MIB + MIN_GRANT_BYTES);
    expect(clock.slept.every((ms) => ms <= Math.ceil((MIN_GRANT_BYTES / MIB) * 1000))).toBe(true);
  });

  it('gives back what a reply did not use and owes what it sent beyond its grant', async () => {
    const clock = fakeClock();
    const budget = new TransferBudget(MIB, clock);
    const granted = await budget.grant(MIB);
    budget.settle(granted, 100);
    expect(await budget.grant(MIB)).toBe(MIB - 100);
    budget.settle(MIB - 100, 2 * MIB); // one stored group larger than the grant
    const before = clock.now();
    await budget.grant(MIN_GRANT_BYTES);
    // It first waits out the debt: a second and a bit at 1 MiB/s.
    expect(clock.now() - before).toBeGreaterThanOrEqual(1_000);
  });

  it('answers a fetch with no more than the budget grants and charges what the reply holds', async () => {
    const clock = fakeClock();
    const budget = new TransferBudget(256 * 1024, clock);
    const asked: number[] = [];
    const segment: EventSegment = { start: 7, timestamp: 1, events: [{ namespace: '/a', parentId: undefined, data: Buffer.alloc(1000) }] };
    const exportEvents = async (_partition: number, _from: number, _to: number, maxBytes: number): Promise<EventSegment[]> => {
      asked.push(maxBytes);
      return [segment];
    };
    const reply = await answerFetch({ partition: 0, from: 7, to: 8, maxBytes: 4 * MIB }, budget, exportEvents);
    expect(asked).toEqual([256 * 1024]);
    expect(decodeSegments(reply)[0]?.start).toBe(7);
    // The unused grant came back: the next fetch is granted all but this reply's bytes.
    await answerFetch({ partition: 0, from: 7, to: 8, maxBytes: 4 * MIB }, budget, exportEvents);
    expect(asked[1]).toBe(256 * 1024 - reply.byteLength);
  });

  it('refuses, retryable and taking nothing, a fetch that would wait longer than the asking replica does, and serves the next', async () => {
    const clock = fakeClock();
    const rate = 64 * 1024; // one minimum grant per second
    const budget = new TransferBudget(rate, clock);
    // Twenty fetches at once: each later one waits a second more behind the others.
    const outcomes = await Promise.allSettled(Array.from({ length: 20 }, () => budget.grant(4 * MIB)));
    const granted = outcomes.filter((outcome) => outcome.status === 'fulfilled');
    const refused = outcomes.filter((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    expect(granted.length).toBeGreaterThan(0);
    expect(granted.length).toBeLessThanOrEqual(1 + MAX_GRANT_WAIT_MS / 1000);
    expect(refused.length).toBe(20 - granted.length);
    for (const outcome of refused) expect(outcome.reason).toMatchObject({ code: 'FLO_ERR_OVERLOADED' });
    // Nobody waited past the limit, and a refusal took nothing: the next fetch is served within a second.
    expect(clock.now()).toBeLessThanOrEqual(MAX_GRANT_WAIT_MS);
    const before = clock.now();
    expect(await budget.grant(MIN_GRANT_BYTES)).toBe(MIN_GRANT_BYTES);
    expect(clock.now() - before).toBeLessThanOrEqual(1_000);
  });
});
