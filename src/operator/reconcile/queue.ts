// A work queue keyed by FloCluster (`namespace/name`) in the style of client-go's:
// a key waits at most once in the queue however often it is added; it is processed by
// one worker at a time (added again while in flight, it runs once more afterwards);
// failures come back after an exponential, capped per-key backoff. Bounded in keys.

/** First retry delay after a failed reconcile. */
export const DEFAULT_BASE_BACKOFF_MS = 250;
/** Longest retry delay. */
export const DEFAULT_MAX_BACKOFF_MS = 60_000;
/** Most distinct keys queued at once; beyond it adds are refused (and counted). */
export const MAX_QUEUED_KEYS = 10_000;

export interface QueueOptions {
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  concurrency?: number;
}

export type QueueHandler = (key: string) => Promise<void>;

export class WorkQueue {
  private readonly ready: string[] = [];
  private readonly queued = new Set<string>();
  private readonly inFlight = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly wakers: (() => void)[] = [];
  private stopped = false;
  private refused = 0;
  private readonly baseMs: number;
  private readonly maxMs: number;

  constructor(private readonly options: QueueOptions = {}) {
    this.baseMs = options.baseBackoffMs ?? DEFAULT_BASE_BACKOFF_MS;
    this.maxMs = options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS;
  }

  get depth(): number {
    return this.ready.length;
  }

  get refusedAdds(): number {
    return this.refused;
  }

  add(key: string): void {
    if (this.stopped) return;
    if (this.inFlight.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    if (this.queued.size >= MAX_QUEUED_KEYS) {
      this.refused += 1;
      return;
    }
    this.queued.add(key);
    this.ready.push(key);
    this.wakers.shift()?.();
  }

  addAfter(key: string, delayMs: number): void {
    if (this.stopped) return;
    const existing = this.timers.get(key);
    if (existing !== undefined) clearTimeout(existing);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.timers.set(key, timer);
  }

  /** Requeues after this key's next backoff delay; returns the delay. */
  addRateLimited(key: string): number {
    const attempts = this.failures.get(key) ?? 0;
    this.failures.set(key, attempts + 1);
    const delay = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(attempts, 30));
    this.addAfter(key, delay);
    return delay;
  }

  /** Forgets a key's failures (after a success). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  private async next(): Promise<string | undefined> {
    while (!this.stopped) {
      const key = this.ready.shift();
      if (key !== undefined) {
        this.queued.delete(key);
        return key;
      }
      await new Promise<void>((resolve) => this.wakers.push(resolve));
    }
    return undefined;
  }

  /** Runs workers until shutdown; resolves once they have all finished their current key. */
  async run(handler: QueueHandler): Promise<void> {
    const workers = Array.from({ length: this.options.concurrency ?? 1 }, async () => {
      for (let key = await this.next(); key !== undefined; key = await this.next()) {
        this.inFlight.add(key);
        try {
          await handler(key);
        } finally {
          this.inFlight.delete(key);
          if (this.dirty.delete(key)) this.add(key);
        }
      }
    });
    await Promise.all(workers);
  }

  shutdown(): void {
    this.stopped = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const wake of this.wakers.splice(0)) wake();
  }
}
