// A wake-up many can wait on: commits, released buffer space. Waiters are kept
// in a set and removed when they are woken or their AbortSignal fires, so a
// subscriber that leaves is forgotten at once. (A `.then` on one shared promise
// cannot be taken back: every subscriber that left while the log was quiet stayed
// reachable, with its socket buffers, until the next commit.)

export class Broadcast {
  private generationValue = 0;
  private readonly waiters = new Set<() => void>();

  /** Changes at every fire(); take it before checking a condition, then wait with after(). */
  get generation(): number {
    return this.generationValue;
  }

  /** Waiters currently parked. */
  get waiting(): number {
    return this.waiters.size;
  }

  fire(): void {
    this.generationValue++;
    const woken = [...this.waiters];
    this.waiters.clear();
    for (const wake of woken) wake();
  }

  /** Resolves at the first fire() after `generation` was read (at once if one happened already), or when `signal` aborts. */
  after(generation: number, signal?: AbortSignal): Promise<void> {
    if (generation !== this.generationValue || signal?.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        this.waiters.delete(wake);
        signal?.removeEventListener('abort', wake);
        resolve();
      };
      this.waiters.add(wake);
      signal?.addEventListener('abort', wake, { once: true });
    });
  }
}
