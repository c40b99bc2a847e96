// The client's produce path: produce() calls made in the same turn of the event
// loop are coalesced into one binary batch and sent on one WebSocket, with many
// batches in flight, each acked by request id once durable. A lost connection
// fails the batches in flight (the broker may or may not have committed them)
// and the next produce reconnects.
import WebSocket from 'ws';
import { FloError } from '../common/errors.js';
import { decodeProduceReply, encodeProduceRequest } from '../common/frames.js';
import { formatEventId } from '../common/ids.js';
import { MAX_FRAME_BYTES } from '../common/bounds.js';
import { encodeBatch, type EventInput } from '../common/wire.js';
import { authHeaders, connectionError, onUpgradeRefused, problemToError, toWebSocketUrl } from './http.js';

export interface ProducerLimits {
  /** Events waiting to be sent before produce() refuses more. */
  readonly maxQueuedEvents: number;
  /** Batches sent and not yet acked. */
  readonly maxInFlightBatches: number;
  /** Most events in one batch. */
  readonly maxBatchEvents: number;
  /** Most payload bytes in one batch (a single larger event still goes alone). */
  readonly maxBatchBytes: number;
  readonly connectTimeoutMs: number;
  /** Bearer token for the WebSocket upgrade. */
  readonly token?: string;
}

interface Waiting {
  events: EventInput[];
  resolvers: Array<(id: string) => void>;
  rejecters: Array<(error: Error) => void>;
}

export class Producer {
  private socket: WebSocket | undefined;
  private opening: Promise<WebSocket> | undefined;
  private queue: Waiting = { events: [], resolvers: [], rejecters: [] };
  private readonly inFlight = new Map<number, Waiting>();
  private nextRequestId = 1;
  private flushScheduled = false;
  private closed = false;
  private onIdle: (() => void) | undefined;

  constructor(private readonly baseUrl: string, private readonly limits: ProducerLimits) {}

  produce(event: EventInput): Promise<string> {
    if (this.closed) return Promise.reject(new FloError('FLO_ERR_CLOSED', 'the client is closed'));
    if (this.queue.events.length >= this.limits.maxQueuedEvents) {
      return Promise.reject(new FloError('FLO_ERR_OVERLOADED', `more than ${this.limits.maxQueuedEvents} events are waiting to be sent; await earlier produce() calls`));
    }
    return new Promise<string>((resolve, reject) => {
      this.queue.events.push(event);
      this.queue.resolvers.push(resolve);
      this.queue.rejecters.push(reject);
      this.scheduleFlush();
    });
  }

  /** Waits (at most `timeoutMs`) for what was already produced to be acknowledged, then closes. */
  async close(timeoutMs: number): Promise<void> {
    this.closed = true;
    if (this.queue.events.length > 0 || this.inFlight.size > 0) {
      const idle = new Promise<void>((resolve) => (this.onIdle = resolve));
      // A referenced timer: close() always settles, even if the last socket is gone and nothing else keeps the process alive.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([idle, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
      clearTimeout(timer);
    }
    this.socket?.close(1000);
    this.failAll(new FloError('FLO_ERR_CLOSED', 'the client was closed before the broker acknowledged'));
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.queue.events.length === 0 || this.inFlight.size >= this.limits.maxInFlightBatches) return;
    let socket: WebSocket;
    try {
      socket = await this.connection();
    } catch (error) {
      this.failQueued(error as Error);
      return;
    }
    // The socket may have closed between opening and now; a send on it would be dropped silently and its batch never settled.
    if (socket.readyState !== WebSocket.OPEN) {
      this.failQueued(new FloError('FLO_ERR_CONNECTION', 'connection to the broker closed before the events were sent'));
      return;
    }
    while (this.queue.events.length > 0 && this.inFlight.size < this.limits.maxInFlightBatches) {
      const batch = this.takeBatch();
      const requestId = this.nextRequestId++;
      this.inFlight.set(requestId, batch);
      socket.send(encodeProduceRequest(requestId, encodeBatch(batch.events)), (error) => {
        if (error && this.inFlight.delete(requestId)) this.settleFailed(batch, connectionError(this.baseUrl, error));
      });
    }
  }

  private takeBatch(): Waiting {
    let take = 0;
    let bytes = 0;
    const events = this.queue.events;
    while (take < events.length && take < this.limits.maxBatchEvents && (take === 0 || bytes + events[take]!.data.length <= this.limits.maxBatchBytes)) {
      bytes += events[take]!.data.length;
      take++;
    }
    if (take === this.queue.events.length) {
      const whole = this.queue;
      this.queue = { events: [], resolvers: [], rejecters: [] };
      return whole;
    }
    return {
      events: this.queue.events.splice(0, take),
      resolvers: this.queue.resolvers.splice(0, take),
      rejecters: this.queue.rejecters.splice(0, take),
    };
  }

  private connection(): Promise<WebSocket> {
    if (this.socket?.readyState === WebSocket.OPEN) return Promise.resolve(this.socket);
    this.opening ??= this.open().finally(() => (this.opening = undefined));
    return this.opening;
  }

  private open(): Promise<WebSocket> {
    return new Promise<WebSocket>((resolve, reject) => {
      const socket = new WebSocket(toWebSocketUrl(this.baseUrl, '/v1/produce', {}), {
        perMessageDeflate: false,
        handshakeTimeout: this.limits.connectTimeoutMs,
        maxPayload: MAX_FRAME_BYTES,
        headers: authHeaders(this.limits.token),
      });
      socket.binaryType = 'nodebuffer';
      socket.once('open', () => {
        this.socket = socket;
        resolve(socket);
      });
      // on, not once: a second error (a reset after a failed upgrade) must not become an uncaught exception.
      socket.on('error', (error) => reject(connectionError(this.baseUrl, error)));
      onUpgradeRefused(socket, reject);
      socket.on('message', (data: Buffer) => this.onReply(data));
      socket.on('close', () => {
        if (this.socket === socket) this.socket = undefined;
        this.failInFlight(new FloError('FLO_ERR_CONNECTION', 'connection to the broker closed before it acknowledged; the events may or may not be stored'));
        if (this.queue.events.length > 0) this.scheduleFlush();
      });
    });
  }

  private onReply(data: Buffer): void {
    const reply = decodeProduceReply(data);
    const batch = this.inFlight.get(reply.requestId);
    if (!batch) return;
    this.inFlight.delete(reply.requestId);
    if (reply.ok) {
      for (let i = 0; i < batch.resolvers.length; i++) batch.resolvers[i]!(formatEventId(reply.partitions[i]!, reply.offsets[i]!));
    } else {
      this.settleFailed(batch, problemToError(reply.problemJson, 400));
    }
    if (this.queue.events.length > 0) void this.flush();
    else if (this.inFlight.size === 0) this.onIdle?.();
  }

  private settleFailed(batch: Waiting, error: Error): void {
    for (const reject of batch.rejecters) reject(error);
    if (this.queue.events.length === 0 && this.inFlight.size === 0) this.onIdle?.();
  }

  private failQueued(error: Error): void {
    const queued = this.queue;
    this.queue = { events: [], resolvers: [], rejecters: [] };
    for (const reject of queued.rejecters) reject(error);
  }

  private failInFlight(error: Error): void {
    for (const batch of this.inFlight.values()) for (const reject of batch.rejecters) reject(error);
    this.inFlight.clear();
  }

  private failAll(error: Error): void {
    this.failQueued(error);
    this.failInFlight(error);
    this.onIdle?.();
  }
}
