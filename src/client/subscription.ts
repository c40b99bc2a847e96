// A subscription as an async iterator. Frames are decoded into events as they
// arrive; when the consumer falls behind, the socket is paused (TCP then paces
// the broker) rather than buffering without bound. The cursor advances per
// event handed to the consumer, and a dropped connection resubscribes from it,
// so nothing is lost or repeated across reconnects. Ids and cursors mean the same
// on every broker of a cluster, so a reconnect goes to whichever broker the
// client's table offers next: a broker that dies is replaced by another. Connecting
// (the first time too) is retried with bounded exponential backoff on a referenced
// timer, so a program whose only work is `for await` over a tail waits for a
// broker to come back instead of exiting — for at most reconnectTimeoutMs.
import WebSocket from 'ws';
import { MAX_FRAME_BYTES } from '../common/bounds.js';
import { FloError } from '../common/errors.js';
import { FloEvent, forEachRecordEvent } from '../common/event.js';
import { decodeRecordsFrame, frameText, frameType, FrameType } from '../common/frames.js';
import { formatCursor, parseCursor } from '../common/ids.js';
import { authHeaders, connectionError, onUpgradeRefused, problemToError, toWebSocketUrl } from './http.js';

export interface SubscribeOptions {
  /** Namespace glob, e.g. "/orders/**"; all events when omitted. */
  namespace?: string;
  /** earliest (default), latest, a cursor, an event id, a Date or an ISO 8601 time. */
  from?: string | Date;
  /** Keep tailing after the replay (default true); false ends at the head as it was at the start. */
  follow?: boolean;
  /** Consumer group: start from the group's committed cursor (else from `from`); commit() stores progress. */
  group?: string;
  /**
   * Connection attempts in a row that may fail (broker unreachable, or a
   * retryable refusal such as shutting down) before the subscription fails with
   * the last error. Counts the first connection too; reset by every connection
   * the broker accepts. Default: unbounded (reconnectTimeoutMs bounds the wait).
   */
  maxConnectAttempts?: number;
  /**
   * How long the subscription may go without any broker accepting it (counted from
   * the first failed attempt in a row) before it fails with the last error.
   * Default 60 s; Infinity waits for as long as it takes (`flo consume -t`).
   */
  reconnectTimeoutMs?: number;
  /** Called before each retry, e.g. to tell the user: "broker unreachable, retrying in 2s". */
  onRetry?: (retry: SubscriptionRetry) => void;
  /** Called when the broker accepts a connection after one or more retries. */
  onResumed?: () => void;
}

export interface SubscriptionRetry {
  /** Failed attempts in a row so far (1 after the first failure). */
  readonly attempt: number;
  readonly delayMs: number;
  readonly error: FloError;
}

export interface SubscriptionLimits {
  /** Decoded events held for a slow consumer before the socket is paused. */
  readonly highWaterEvents: number;
  /** Payload bytes held for a slow consumer before the socket is paused. */
  readonly highWaterBytes: number;
  readonly reconnectDelayMs: number;
  readonly maxReconnectDelayMs: number;
  readonly connectTimeoutMs: number;
  /** Bearer token for the WebSocket upgrade. */
  readonly token?: string;
}

export const DEFAULT_RECONNECT_TIMEOUT_MS = 60_000;

/** Where a subscription connects: the client's brokers, in its order of preference. */
export interface SubscriptionBrokers {
  /** The broker to connect to next. */
  next(): string;
  /** Connecting to (or reading from) `url` failed: try others first for a while. */
  failed(url: string, error: FloError): void;
  /** Stores a group's cursor at any reachable broker. */
  commitGroup(group: string, cursor: string): Promise<void>;
}

export class Subscription implements AsyncIterable<FloEvent> {
  private readonly buffer: FloEvent[] = [];
  private bufferHead = 0;
  private bufferedBytes = 0;
  private offsets: number[] | undefined;
  private socket: WebSocket | undefined;
  private wake: (() => void) | undefined;
  private failure: Error | undefined;
  private ended = false;
  private closedByUser = false;
  private reconnectDelayMs: number;
  /** Connection attempts that failed in a row. */
  private failedAttempts = 0;
  /** Why the current connection attempt failed or ended, once known. */
  private attemptError: FloError | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  /** When the current run of failed attempts began (Date.now()), undefined while connected. */
  private failingSince: number | undefined;
  /** The brokers tried in the current run of failed attempts, named when giving up. */
  private readonly triedUrls = new Set<string>();
  /** The broker of the current connection attempt. */
  private url = '';
  /** The cursor the current attempt resumes from (our own), undefined on a first start. */
  private resumingFrom: string | undefined;
  private caughtUpOnce = false;
  private readonly closeCallbacks: Array<() => void> = [];

  constructor(private readonly brokers: SubscriptionBrokers, private readonly options: SubscribeOptions, private readonly limits: SubscriptionLimits) {
    this.reconnectDelayMs = limits.reconnectDelayMs;
    this.connect(typeof options.from === 'object' ? options.from.toISOString() : options.from);
  }

  /** Where to resume: pass it back as `from` to continue after the last event consumed. */
  get cursor(): string | undefined {
    return this.offsets ? formatCursor(this.offsets) : undefined;
  }

  /** Events received from the broker that the consumer has not taken yet: 0 means the next one has to be waited for. */
  get buffered(): number {
    return this.buffer.length - this.bufferHead;
  }

  /** True once the replay has reached the head of the log at least once. */
  get caughtUp(): boolean {
    return this.caughtUpOnce;
  }

  /** Stores the cursor of the last event consumed as the group's position. */
  async commit(): Promise<void> {
    if (this.options.group === undefined) throw new FloError('FLO_ERR_REQUEST_INVALID', 'commit() needs a subscription with a group');
    const cursor = this.cursor;
    if (cursor === undefined) return;
    await this.brokers.commitGroup(this.options.group, cursor);
  }

  close(): void {
    this.closedByUser = true;
    this.ended = true;
    clearTimeout(this.retryTimer);
    // terminate, not close: a paused socket would never read the broker's close reply.
    this.socket?.terminate();
    this.notify();
    for (const callback of this.closeCallbacks.splice(0)) callback();
  }

  /** Calls back once when the subscription is closed (by close(), break, or its end). */
  whenClosed(callback: () => void): void {
    if (this.closedByUser) callback();
    else this.closeCallbacks.push(callback);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<FloEvent> {
    try {
      for (;;) {
        while (this.bufferHead < this.buffer.length) {
          const event = this.buffer[this.bufferHead]!;
          this.buffer[this.bufferHead++] = undefined as unknown as FloEvent;
          this.bufferedBytes -= event.data.length;
          if (this.offsets) this.offsets[event.partition] = event.offset + 1;
          this.compact();
          yield event;
        }
        if (this.failure) throw this.failure;
        if (this.ended) return;
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
    } finally {
      if (!this.closedByUser) this.close();
    }
  }

  private compact(): void {
    const left = this.buffer.length - this.bufferHead;
    if (this.bufferHead > 4096 && left < this.bufferHead) {
      this.buffer.splice(0, this.bufferHead);
      this.bufferHead = 0;
    }
    if (this.socket?.isPaused && left < this.limits.highWaterEvents / 2 && this.bufferedBytes < this.limits.highWaterBytes / 2) this.socket.resume();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private connect(from: string | undefined): void {
    const follow = this.options.follow ?? true;
    // The group's stored cursor only decides the first start; a reconnect resumes from our own cursor.
    const group = this.offsets ? undefined : this.options.group;
    this.url = this.brokers.next();
    this.resumingFrom = this.offsets ? from : undefined;
    const url = toWebSocketUrl(this.url, '/v1/subscribe', { namespace: this.options.namespace, from, follow: String(follow), group });
    const socket = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: this.limits.connectTimeoutMs, maxPayload: MAX_FRAME_BYTES, headers: authHeaders(this.limits.token) });
    socket.binaryType = 'nodebuffer';
    this.socket = socket;
    this.attemptError = undefined;
    socket.on('message', (data: Buffer) => this.onFrame(data));
    onUpgradeRefused(socket, (error) => this.fail(error));
    socket.on('error', (error) => {
      if (this.socket === socket) this.attemptError ??= connectionError(this.url, error);
    });
    socket.on('close', () => this.onClose(socket));
  }

  private onFrame(frame: Buffer): void {
    if (this.closedByUser) return;
    try {
      const type = frameType(frame);
      if (type === FrameType.RECORDS) {
        for (const record of decodeRecordsFrame(frame)) {
          forEachRecordEvent(record, (event) => {
            this.buffer.push(event);
            this.bufferedBytes += event.data.length;
          });
        }
        if (this.buffer.length - this.bufferHead >= this.limits.highWaterEvents || this.bufferedBytes >= this.limits.highWaterBytes) this.socket?.pause();
      } else if (type === FrameType.START) {
        this.offsets ??= parseCursor(frameText(frame));
        this.onAccepted();
      } else if (type === FrameType.CAUGHT_UP || type === FrameType.END) {
        this.advanceTo(parseCursor(frameText(frame)));
        this.caughtUpOnce = true;
        if (type === FrameType.END) this.ended = true;
      } else if (type === FrameType.ERROR) {
        this.fail(problemToError(frameText(frame), 400));
      }
    } catch (error) {
      this.fail(error as Error);
    }
    this.notify();
  }

  /** A caught-up marker moves the cursor over what the broker examined; only once the consumer has every buffered event. */
  private advanceTo(scanned: number[]): void {
    if (!this.offsets || this.bufferHead < this.buffer.length) return;
    for (let i = 0; i < scanned.length; i++) this.offsets[i] = Math.max(this.offsets[i]!, scanned[i]!);
  }

  /** The broker accepted the subscription: the backoff starts over. */
  private onAccepted(): void {
    const resumed = this.failedAttempts > 0;
    this.failedAttempts = 0;
    this.failingSince = undefined;
    this.triedUrls.clear();
    this.reconnectDelayMs = this.limits.reconnectDelayMs;
    if (resumed) this.options.onResumed?.();
  }

  private onClose(socket: WebSocket): void {
    if (this.socket !== socket || this.ended || this.failure || this.closedByUser) return this.notify();
    // Unexpected: resubscribe from the last consumed position, with bounded backoff.
    const error = this.attemptError ?? new FloError('FLO_ERR_CONNECTION', `the connection to the broker at ${this.url} closed`);
    this.brokers.failed(this.url, error);
    this.failedAttempts++;
    this.failingSince ??= Date.now();
    this.triedUrls.add(this.url);
    if (this.failedAttempts >= (this.options.maxConnectAttempts ?? Infinity)) {
      this.failure = error;
      return this.notify();
    }
    const waitedMs = Date.now() - this.failingSince;
    const timeoutMs = this.options.reconnectTimeoutMs ?? DEFAULT_RECONNECT_TIMEOUT_MS;
    if (waitedMs >= timeoutMs) {
      this.failure = new FloError(error.code, `no broker accepted the subscription for ${Math.round(waitedMs / 1000)} s (${this.failedAttempts} attempts at ${[...this.triedUrls].join(', ')}; reconnectTimeoutMs is ${timeoutMs}); last: ${error.message}`, { cause: error });
      return this.notify();
    }
    const delayMs = this.reconnectDelayMs;
    this.reconnectDelayMs = Math.min(this.reconnectDelayMs * 2, this.limits.maxReconnectDelayMs);
    this.options.onRetry?.({ attempt: this.failedAttempts, delayMs, error });
    // Referenced on purpose: while the user iterates a tail, waiting for the broker is the program's work.
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.closedByUser) return;
      this.dropUnconsumed();
      this.connect(this.offsets ? formatCursor(this.offsets) : typeof this.options.from === 'object' ? this.options.from.toISOString() : this.options.from);
    }, delayMs);
  }

  /** Events buffered but not consumed are dropped: the resubscription delivers them again from the cursor. */
  private dropUnconsumed(): void {
    this.buffer.length = this.bufferHead;
    this.bufferedBytes = 0;
  }

  private fail(error: Error): void {
    if (this.closedByUser) return;
    // A retryable refusal (overloaded, shutting down, unreachable) means: come back later, from the cursor.
    // So does a refusal of our own cursor on a resume: it came from a broker of this cluster, so this
    // broker's replica is behind it (the one we lost was ahead); another broker, or this one a moment
    // later, has caught up. A data dir really replaced still fails, once reconnectTimeoutMs has passed.
    const behindCursor = error instanceof FloError && error.code === 'FLO_ERR_POSITION_INVALID' && this.resumingFrom !== undefined;
    if (error instanceof FloError && (error.retryable || behindCursor)) {
      this.attemptError = behindCursor ? new FloError('FLO_ERR_POSITION_INVALID', `the broker at ${this.url} is behind the cursor ${this.resumingFrom} (${error.message})`, { cause: error }) : error;
      this.socket?.terminate();
      return;
    }
    this.failure = error instanceof FloError ? error : new FloError('FLO_ERR_PROTOCOL', error.message, { cause: error });
    this.socket?.terminate();
    this.notify();
  }
}
