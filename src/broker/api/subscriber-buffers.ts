// Bytes written to subscribers' sockets that the kernel has not taken yet, so
// readers that never read cannot pile up memory. One subscriber may hold up to
// `perSubscriberBytes` before the broker stops reading pages for it; all of them
// together hold at most `totalBytes` (the check and the write are one synchronous
// step, so the total overshoots by at most one frame); a subscriber whose bytes
// have not moved for `stallTimeoutMs` is cut, and told the cursor to resume from.
import { SUBSCRIBER_CLOSE_GRACE_MS, SUBSCRIBER_HIGH_WATER_BYTES, SUBSCRIBER_STALL_TIMEOUT_MS, SUBSCRIBERS_MAX_BUFFERED_BYTES } from '../../common/bounds.js';
import { Broadcast } from '../../common/broadcast.js';

export interface SubscriberLimits {
  /** Bytes queued on one subscriber's socket beyond which the broker reads nothing more for it. */
  readonly perSubscriberBytes: number;
  /** Bytes queued on all subscribers' sockets together beyond which every write waits. */
  readonly totalBytes: number;
  /** How long queued bytes may stay without any of them reaching the kernel before the subscriber is cut. */
  readonly stallTimeoutMs: number;
  /** How long a cut subscriber's socket stays open (its bytes still counted) so a reader that wakes up can read what was queued and why it was cut. */
  readonly closeGraceMs: number;
}

export const DEFAULT_SUBSCRIBER_LIMITS: SubscriberLimits = {
  perSubscriberBytes: SUBSCRIBER_HIGH_WATER_BYTES,
  totalBytes: SUBSCRIBERS_MAX_BUFFERED_BYTES,
  stallTimeoutMs: SUBSCRIBER_STALL_TIMEOUT_MS,
  closeGraceMs: SUBSCRIBER_CLOSE_GRACE_MS,
};

/** Writes `data`, calling `flushed` once the socket has handed it to the kernel (or failed). */
export type SocketWrite = (data: Buffer, flushed: () => void) => void;

/** Told of every change, for metrics. */
export interface SubscriberBufferObserver {
  bufferedBytes(total: number): void;
  cut(): void;
}

export class SubscriberBuffers {
  readonly limits: SubscriberLimits;
  private total = 0;
  private peak = 0;
  private cuts = 0;
  /** @internal Fires at every release of bytes anywhere. */
  readonly released = new Broadcast();
  private observer: SubscriberBufferObserver | undefined;

  constructor(limits: Partial<SubscriberLimits> = {}) {
    this.limits = { ...DEFAULT_SUBSCRIBER_LIMITS, ...limits };
  }

  /** Reports the total and the cuts to `observer` from now on. */
  observe(observer: SubscriberBufferObserver): void {
    this.observer = observer;
    observer.bufferedBytes(this.total);
  }

  /** Bytes queued on all subscribers' sockets now. */
  get bufferedBytes(): number {
    return this.total;
  }

  /** The most bytes ever queued at once (for tests and metrics). */
  get peakBufferedBytes(): number {
    return this.peak;
  }

  /** Subscribers cut for not reading. */
  get cutSubscribers(): number {
    return this.cuts;
  }

  /** Accounts one subscriber; `onStall` is called (once) when it stops taking data. */
  open(onStall: () => void): SubscriberBuffer {
    return new SubscriberBuffer(this, () => {
      this.cuts++;
      this.observer?.cut();
      onStall();
    });
  }

  /** @internal */
  adjust(bytes: number): void {
    this.total += bytes;
    this.peak = Math.max(this.peak, this.total);
    this.observer?.bufferedBytes(this.total);
    if (bytes < 0) this.notify();
  }

  private notify(): void {
    this.released.fire();
  }
}

export class SubscriberBuffer {
  private queued = 0;
  private closed = false;
  private stallTimer: NodeJS.Timeout | undefined;
  private readonly drained = new Broadcast();

  constructor(private readonly buffers: SubscriberBuffers, private readonly onStall: () => void) {}

  /** Whether a write may go out now: this subscriber under its bound and all of them under theirs. */
  hasRoom(): boolean {
    const limits = this.buffers.limits;
    return this.queued < limits.perSubscriberBytes && this.buffers.bufferedBytes < limits.totalBytes;
  }

  /** Waits until hasRoom() (or the subscriber is gone); read nothing for a subscriber before this resolves. */
  async waitForRoom(signal: AbortSignal): Promise<void> {
    while (!this.hasRoom() && !signal.aborted && !this.closed) await this.roomChange(signal);
  }

  /**
   * Waits for room, then encodes and writes in one synchronous step (no await
   * between the last check and the write, so concurrent subscribers cannot all
   * pass one check). Returns false, writing nothing, if the subscriber went away first.
   */
  async send(encode: () => Buffer, write: SocketWrite, signal: AbortSignal): Promise<boolean> {
    while (!this.hasRoom() && !signal.aborted && !this.closed) await this.roomChange(signal);
    if (signal.aborted || this.closed) return false;
    const data = encode();
    this.queued += data.length;
    this.buffers.adjust(data.length);
    if (!this.stallTimer) this.stallTimer = setTimeout(() => this.stalled(), this.buffers.limits.stallTimeoutMs).unref();
    let done = false;
    write(data, () => {
      if (done) return;
      done = true;
      this.flushed(data.length);
    });
    return true;
  }

  private roomChange(signal: AbortSignal): Promise<void> {
    const change = this.queued >= this.buffers.limits.perSubscriberBytes ? this.drained : this.buffers.released;
    return change.after(change.generation, signal);
  }

  /** The socket is gone: what it still held is no longer held by the broker. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.stallTimer);
    this.buffers.adjust(-this.queued);
    this.queued = 0;
    this.drained.fire();
  }

  private flushed(bytes: number): void {
    if (this.closed) return;
    this.queued -= bytes;
    this.buffers.adjust(-bytes);
    // Progress: the stall clock starts again, or stops when nothing is left.
    if (this.queued > 0) this.stallTimer?.refresh();
    else {
      clearTimeout(this.stallTimer);
      this.stallTimer = undefined;
    }
    if (this.queued < this.buffers.limits.perSubscriberBytes) this.drained.fire();
  }

  private stalled(): void {
    this.stallTimer = undefined;
    if (this.closed || this.queued === 0) return;
    this.onStall();
  }
}
