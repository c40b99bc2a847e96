// How fast a broker sends events to replicas catching up (FETCH replies, catch-up.ts).
// A broker that leads many partitions copies its log to every new or rebuilt replica at
// once when the cluster grows or a disk is replaced; unbounded, that copy competes with
// produce traffic for the disk and the network (Redpanda bounds it per broker with
// raft_learner_recovery_rate; Kafka with replication throttles). One token bucket per
// broker covers every fetch it answers. A fetch is granted what the bucket holds now,
// at least MIN_GRANT_BYTES (waiting for that much), so replies shrink under the limit;
// a fetch that would wait longer than MAX_GRANT_WAIT_MS in all (behind the others) is
// refused, retryable, taking nothing, well before the asking replica's request times
// out: it asks again or asks another replica, and no tokens go to an abandoned request.
import { FloError } from '../../common/errors.js';

/** Default bytes per second a broker sends to replicas catching up. */
export const DEFAULT_CATCH_UP_BYTES_PER_SECOND = 100 * 1024 * 1024;
/** The smallest reply worth sending: a fetch waits until the bucket holds this much. */
export const MIN_GRANT_BYTES = 64 * 1024;
/** Longest a fetch waits for its grant, queue included (the replica's request times out after 10 s). */
export const MAX_GRANT_WAIT_MS = 4_000;
/** Below this rate even the smallest grant could not be waited for. */
export const MIN_CATCH_UP_BYTES_PER_SECOND = Math.ceil(MIN_GRANT_BYTES / (MAX_GRANT_WAIT_MS / 1000));

export interface BudgetClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const REAL_CLOCK: BudgetClock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export class TransferBudget {
  private tokens: number;
  private updatedAt: number;
  /** Grants are served in order of asking. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly burst: number;

  constructor(readonly bytesPerSecond: number = DEFAULT_CATCH_UP_BYTES_PER_SECOND, private readonly clock: BudgetClock = REAL_CLOCK) {
    this.burst = Math.max(bytesPerSecond, MIN_GRANT_BYTES);
    this.tokens = this.burst;
    this.updatedAt = clock.now();
  }

  /** Resolves with how many bytes (at most `wanted`) may be sent now, taken from the bucket; rejects (retryable) when that would take too long. */
  grant(wanted: number): Promise<number> {
    const asked = this.clock.now();
    const granted = this.queue.then(() => this.take(wanted, asked));
    this.queue = granted.catch(() => undefined);
    return granted;
  }

  /** What a granted reply really sent: less gives the rest back, more (one stored group is never split) is owed. */
  settle(granted: number, actual: number): void {
    this.tokens = Math.min(this.burst, this.tokens + granted - actual);
  }

  private async take(wanted: number, asked: number): Promise<number> {
    const least = Math.min(wanted, MIN_GRANT_BYTES);
    this.refill();
    const waitMs = Math.max(0, ((least - this.tokens) / this.bytesPerSecond) * 1000);
    if (this.clock.now() - asked + waitMs > MAX_GRANT_WAIT_MS) {
      throw new FloError('FLO_ERR_OVERLOADED', `this broker is sending replicas their catch-up as fast as --catch-up-rate allows (${this.bytesPerSecond} bytes/s): ask again`);
    }
    while (this.tokens < least) {
      await this.clock.sleep(Math.ceil(((least - this.tokens) / this.bytesPerSecond) * 1000));
      this.refill();
    }
    const granted = Math.min(wanted, Math.floor(this.tokens));
    this.tokens -= granted;
    return granted;
  }

  private refill(): void {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) / 1000) * this.bytesPerSecond);
    this.updatedAt = now;
  }
}
