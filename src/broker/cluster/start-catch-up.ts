// After it starts, a member's replicas may lack what the cluster committed while it
// was down (or what a --recover-store dropped, though it had acknowledged it). Until
// each of its partitions has applied through its leader's ReadIndex, the member
// answers no reads: it would serve an older log as current, and a reader who saw an
// event acknowledged, even by this very broker, would find it missing.
import type { Logger } from 'pino';

/** How long one attempt waits for apply to reach the leader's index before asking again. */
const ATTEMPT_TIMEOUT_MS = 30_000;
/** Pause after a failed attempt (no leader yet, leader unreachable, a leader change). */
const RETRY_PAUSE_MS = 200;

export interface StartCatchUpOptions {
  readonly partitions: number;
  /** Resolves once the partition applied what it had committed when asked (EventLog.catchUpToCommitted). */
  catchUp(partition: number, timeoutMs: number): Promise<void>;
  readonly logger: Logger;
}

export class StartCatchUp {
  private readonly behind: Set<number>;
  private closed = false;
  private readonly started = performance.now();

  constructor(private readonly options: StartCatchUpOptions) {
    this.behind = new Set(Array.from({ length: options.partitions }, (_, partition) => partition));
    for (const partition of this.behind) void this.follow(partition);
  }

  /** Partitions not yet caught up since the start, lowest first. */
  get pending(): number[] {
    return [...this.behind].sort((a, b) => a - b);
  }

  get done(): boolean {
    return this.behind.size === 0;
  }

  close(): void {
    this.closed = true;
  }

  private async follow(partition: number): Promise<void> {
    let attempts = 0;
    while (!this.closed) {
      attempts++;
      try {
        await this.options.catchUp(partition, ATTEMPT_TIMEOUT_MS);
        this.behind.delete(partition);
        if (this.behind.size === 0) this.options.logger.info({ ms: Math.round(performance.now() - this.started) }, 'caught up with the cluster: serving reads');
        return;
      } catch (error) {
        if (attempts === 1 || attempts % 50 === 0) this.options.logger.debug({ partition, attempts, err: error }, 'catching up after the start: asking again');
        await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
      }
    }
  }
}
