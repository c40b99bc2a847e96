// One clock for every Raft group of a broker. A timer per group would mean
// thousands of timers firing out of step on a broker with many partitions; one
// interval ticks every registered group in turn (TiKV's Raftstore does the same).
// After an event-loop stall the interval fires once, not once per missed tick, so
// a stalled broker's election timers do not all expire at once when it wakes.

export interface Tickable {
  tick(): void;
}

export interface IntervalTimers {
  setInterval(callback: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

const NODE_TIMERS: IntervalTimers = {
  setInterval: (callback, ms) => setInterval(callback, ms),
  clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout),
};

export class GroupTicker {
  private readonly groups = new Set<Tickable>();
  private handle: unknown = null;
  /** Ticks so far: groups that keep a period (heartbeats) keep it in step with each other by it. */
  ticks = 0;

  constructor(readonly tickMs: number, private readonly timers: IntervalTimers = NODE_TIMERS) {}

  get size(): number {
    return this.groups.size;
  }

  /** Starts ticking `group` from the next interval; the interval runs only while some group is registered. */
  add(group: Tickable): void {
    this.groups.add(group);
    if (this.handle === null) this.handle = this.timers.setInterval(() => this.tickAll(), this.tickMs);
  }

  remove(group: Tickable): void {
    this.groups.delete(group);
    if (this.groups.size === 0) this.stop();
  }

  stop(): void {
    if (this.handle !== null) this.timers.clearInterval(this.handle);
    this.handle = null;
  }

  private tickAll(): void {
    this.ticks++;
    // A copy: a group may stop (and remove itself) while ticking.
    for (const group of [...this.groups]) group.tick();
  }
}
