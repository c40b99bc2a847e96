// Waiting until this broker has applied an offset: a produce forwarded to the
// leader is answered once the events are applied here too, so a read on the broker
// that took the request sees them (read-your-write), but never waits longer than
// LOCAL_APPLY_WAIT_MS: a lagging replica must not hold the answer.

/** How long a forwarded append waits to be applied here before it is answered anyway. */
export const LOCAL_APPLY_WAIT_MS = 3_000;

export class AppliedOffsets {
  private waiters: Array<{ offset: number; resolve: () => void }> = [];

  /** `reached`: where the events written to this broker's store (and so visible to its readers) end. */
  constructor(private reached: number) {}

  /** Resolves once offsets below `end` are written here and readable, or after LOCAL_APPLY_WAIT_MS. */
  reach(end: number): Promise<void> {
    if (this.reached >= end) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const waiter = { offset: end, resolve };
      this.waiters.push(waiter);
      setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve();
      }, LOCAL_APPLY_WAIT_MS).unref();
    });
  }

  /** Written and readable up to `nextOffset` (not merely applied by the machine): wakes whoever waited for that far. */
  advance(nextOffset: number): void {
    this.reached = Math.max(this.reached, nextOffset);
    if (this.waiters.length === 0) return;
    const still: typeof this.waiters = [];
    for (const waiter of this.waiters) {
      if (waiter.offset <= nextOffset) waiter.resolve();
      else still.push(waiter);
    }
    this.waiters = still;
  }
}
