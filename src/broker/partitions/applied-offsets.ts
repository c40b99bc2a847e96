// Waiting until this broker has applied an offset: a produce forwarded to the
// leader is answered once the events are applied here too, so a read on the broker
// that took the request sees them (read-your-write), but never waits longer than
// LOCAL_APPLY_WAIT_MS: a lagging replica must not hold the answer.

/** How long a forwarded append waits to be applied here before it is answered anyway. */
export const LOCAL_APPLY_WAIT_MS = 1_000;

export class AppliedOffsets {
  private waiters: Array<{ offset: number; resolve: () => void }> = [];

  constructor(private readonly nextOffset: () => number) {}

  /** Resolves once offsets below `end` are applied here, or after LOCAL_APPLY_WAIT_MS. */
  reach(end: number): Promise<void> {
    if (this.nextOffset() >= end) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const waiter = { offset: end, resolve };
      this.waiters.push(waiter);
      setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve();
      }, LOCAL_APPLY_WAIT_MS).unref();
    });
  }

  /** Applied up to `nextOffset`: wakes whoever waited for that far. */
  advance(nextOffset: number): void {
    if (this.waiters.length === 0) return;
    const still: typeof this.waiters = [];
    for (const waiter of this.waiters) {
      if (waiter.offset <= nextOffset) waiter.resolve();
      else still.push(waiter);
    }
    this.waiters = still;
  }
}
