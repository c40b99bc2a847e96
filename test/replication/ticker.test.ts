import { describe, expect, it } from 'vitest';
import { GroupTicker, type IntervalTimers } from '../../src/broker/replication/ticker.js';

/** Timers under the test's control: it fires the interval by hand and counts what was created. */
function manualTimers(): IntervalTimers & { created: number; active: Set<number>; fire(): void } {
  let next = 0;
  const callbacks = new Map<number, () => void>();
  return {
    created: 0,
    active: new Set<number>(),
    setInterval(callback) {
      this.created++;
      const id = ++next;
      callbacks.set(id, callback);
      this.active.add(id);
      return id;
    },
    clearInterval(handle) {
      callbacks.delete(handle as number);
      this.active.delete(handle as number);
    },
    fire() {
      for (const callback of [...callbacks.values()]) callback();
    },
  };
}

describe('GroupTicker', () => {
  it('ticks a thousand groups from one interval, each once per interval', () => {
    const timers = manualTimers();
    const ticker = new GroupTicker(10, timers);
    const counts = Array.from({ length: 1000 }, () => 0);
    counts.forEach((_, i) => ticker.add({ tick: () => counts[i]!++ }));
    timers.fire();
    timers.fire();
    expect(timers.created).toBe(1);
    expect(counts.every((count) => count === 2)).toBe(true);
  });

  it('stops its interval when the last group leaves, and a group that leaves while ticking is not ticked again', () => {
    const timers = manualTimers();
    const ticker = new GroupTicker(10, timers);
    let leaving = 0;
    const quitter = { tick: () => { leaving++; ticker.remove(quitter); } };
    let staying = 0;
    const stayer = { tick: () => staying++ };
    ticker.add(quitter);
    ticker.add(stayer);
    timers.fire();
    timers.fire();
    expect([leaving, staying]).toEqual([1, 2]);
    ticker.remove(stayer);
    expect(timers.active.size).toBe(0);
    ticker.add(stayer);
    expect(timers.created).toBe(2);
  });
});
