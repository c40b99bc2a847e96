// The client's produce path. produce() calls are queued per partition and
// coalesced into binary batches of one partition each, sent to that partition's
// leader (one WebSocket per broker, many batches in flight, each acked by request
// id once durable). One partition per batch keeps a broker's refusal about one
// leader, and lets each batch go where it is led. A batch that provably stored
// nothing goes back to the front of its queue and is sent again (to a fresh
// leader, after a backoff, a bounded number of times). The producer is idempotent
// by default: each batch carries a producer id and the sequence of its first event,
// so one whose outcome is unknown is sent again too, whole, and the broker answers
// the repeat with the first ids. Without idempotence, an unknown outcome fails with
// ProduceOutcomeUnknownError (see produce-outcome.ts).
import { FloError } from '../common/errors.js';
import type { EventInput } from '../common/wire.js';
import { ProduceConnection, SendFailure } from './produce-connection.js';
import { classifyFailure, NO_IDEMPOTENCE, ProduceOutcomeUnknownError, type UnknownOutcomePolicy } from './produce-outcome.js';
import type { Topology } from './topology.js';

export interface ProducerLimits {
  /** Events waiting to be sent before produce() refuses more. */
  readonly maxQueuedEvents: number;
  /** Batches sent and not yet acked, over all brokers. */
  readonly maxInFlightBatches: number;
  /** Most events in one batch. */
  readonly maxBatchEvents: number;
  /** Most payload bytes in one batch (a single larger event still goes alone). */
  readonly maxBatchBytes: number;
  /** Sends of one event, the first included, while each attempt provably stored nothing. */
  readonly maxSendAttempts: number;
  readonly connectTimeoutMs: number;
  /** How long a sent batch waits for its acknowledgement before its outcome counts as unknown. */
  readonly ackTimeoutMs: number;
  /** Bearer token for the WebSocket upgrade. */
  readonly token?: string;
  readonly unknownOutcomePolicy?: UnknownOutcomePolicy;
  /**
   * Idempotent (the default): every batch carries this producer's id and the sequence of its first
   * event, and is resent whole with the same ones after any failure, an unknown outcome included —
   * the broker answers a repeat with the first ids and stores nothing twice.
   */
  readonly idempotent?: boolean;
}

/** The broker remembers 32 batches per producer and partition: more in flight could outrun its window. */
const MAX_IDEMPOTENT_IN_FLIGHT = 32;
/** Sequences are 32-bit on the wire: a producer that would pass this takes a new id. */
const MAX_SEQUENCE = 0xffffffff;

function newProducerId(): number {
  // 1 .. 2^53-1: random enough that two clients never share one.
  return Math.floor(Math.random() * (Number.MAX_SAFE_INTEGER - 1)) + 1;
}

/** The wait before the n-th resend of a batch: 50 ms doubling to at most 1 s. */
export function resendDelayMs(attempt: number): number {
  return Math.min(50 * 2 ** Math.max(0, attempt - 1), 1_000);
}

interface Waiting {
  events: EventInput[];
  resolvers: Array<(id: string) => void>;
  rejecters: Array<(error: Error) => void>;
  /** Sends so far, per event. */
  attempts: number[];
  /** An idempotent batch's producer id and first sequence, fixed at its first send. */
  producer?: { readonly id: number; readonly sequence: number };
}

const emptyWaiting = (): Waiting => ({ events: [], resolvers: [], rejecters: [], attempts: [] });

export class Producer {
  /** Partition (-1 while the partitioning is unknown) -> events waiting, in produce order. */
  private readonly queues = new Map<number, Waiting>();
  /** Partition -> not before this time (ms, performance.now()), while a resend backs off. */
  private readonly backoffUntil = new Map<number, number>();
  /** Partition -> the broker that last refused its batch as not stored, tried last until one is acked. */
  private readonly refusedBy = new Map<number, string>();
  /**
   * Per partition, the last problem a broker itself answered with since the last success (a 503 "no
   * quorum"): when sends give up on a connection error to another broker, it says more than "cannot reach".
   */
  private readonly answeredProblem = new Map<number, FloError>();
  private readonly connections = new Map<string, ProduceConnection>();
  private queuedEvents = 0;
  private inFlightBatches = 0;
  private flushScheduled = false;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Set while the first routing table is being fetched: produce calls queue behind it, in order. */
  private tableLoading: Promise<void> | undefined;
  private closed = false;
  /** Set once close() stopped waiting: nothing is sent again after this. */
  private stopped = false;
  private onIdle: (() => void) | undefined;
  private readonly policy: UnknownOutcomePolicy;
  /** This producer's identity while idempotent; `next` is the sequence of the next batch's first event. */
  private identity: { id: number; next: number } | undefined;
  /** Partition -> idempotent batches to send again, whole and before anything newer of the partition. */
  private readonly resends = new Map<number, Waiting[]>();

  constructor(private readonly topology: Topology, private readonly limits: ProducerLimits) {
    const idempotent = limits.idempotent ?? true;
    this.identity = idempotent ? { id: newProducerId(), next: 0 } : undefined;
    this.policy = idempotent ? { mayResendAfterUnknownOutcome: (batch) => batch.firstSequence !== undefined } : limits.unknownOutcomePolicy ?? NO_IDEMPOTENCE;
  }

  private get maxInFlight(): number {
    return this.identity === undefined ? this.limits.maxInFlightBatches : Math.min(this.limits.maxInFlightBatches, MAX_IDEMPOTENT_IN_FLIGHT);
  }

  produce(event: EventInput): Promise<string> {
    if (this.closed) return Promise.reject(new FloError('FLO_ERR_CLOSED', 'the client is closed'));
    if (this.queuedEvents >= this.limits.maxQueuedEvents) {
      return Promise.reject(new FloError('FLO_ERR_OVERLOADED', `more than ${this.limits.maxQueuedEvents} events are waiting to be sent; await earlier produce() calls`));
    }
    this.queuedEvents++;
    if (this.topology.table === undefined || this.tableLoading !== undefined) return this.produceAfterTable(event);
    return new Promise<string>((resolve, reject) => this.enqueue(event, resolve, reject));
  }

  private produceAfterTable(event: EventInput): Promise<string> {
    this.tableLoading ??= this.topology.load().then(() => undefined).finally(() => setImmediate(() => (this.tableLoading = undefined)));
    return new Promise<string>((resolve, reject) => {
      this.tableLoading!.then(() => this.enqueue(event, resolve, reject), (error: unknown) => {
        this.queuedEvents--;
        reject(error as Error);
      });
    });
  }

  private enqueue(event: EventInput, resolve: (id: string) => void, reject: (error: Error) => void): void {
    const partition = this.topology.partitionOf(event.namespace);
    let queue = this.queues.get(partition);
    if (!queue) this.queues.set(partition, (queue = emptyWaiting()));
    queue.events.push(event);
    queue.resolvers.push(resolve);
    queue.rejecters.push(reject);
    queue.attempts.push(0);
    this.scheduleFlush();
  }

  /** Waits (at most `timeoutMs`) for what was already produced to be acknowledged, then closes. */
  async close(timeoutMs: number): Promise<void> {
    this.closed = true;
    if (!this.isIdle()) {
      const idle = new Promise<void>((resolve) => (this.onIdle = resolve));
      // A referenced timer: close() always settles, even if the last socket is gone and nothing else keeps the process alive.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([idle, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
      clearTimeout(timer);
    }
    this.stopped = true;
    clearTimeout(this.retryTimer);
    for (const connection of this.connections.values()) connection.close();
    this.failQueued(new FloError('FLO_ERR_CLOSED', 'the client was closed before the broker acknowledged'));
  }

  private isIdle(): boolean {
    return this.queuedEvents === 0 && this.inFlightBatches === 0;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    const now = performance.now();
    let nextRetryAt = Infinity;
    for (const partition of new Set([...this.resends.keys(), ...this.queues.keys()])) {
      const until = this.backoffUntil.get(partition) ?? 0;
      if (until > now) {
        nextRetryAt = Math.min(nextRetryAt, until);
        continue;
      }
      const again = this.resends.get(partition);
      while (again !== undefined && again.length > 0 && this.inFlightBatches < this.maxInFlight) this.send(partition, again.shift()!);
      if (again?.length === 0) this.resends.delete(partition);
      if (again !== undefined && again.length > 0) continue; // order: nothing newer before the resends
      const queue = this.queues.get(partition);
      if (queue === undefined) continue;
      while (queue.events.length > 0 && this.inFlightBatches < this.maxInFlight) this.send(partition, this.numbered(this.takeBatch(queue)));
      if (queue.events.length === 0) this.queues.delete(partition);
    }
    if (nextRetryAt !== Infinity && this.retryTimer === undefined) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        this.flush();
      }, nextRetryAt - now);
    }
  }

  private send(partition: number, batch: Waiting): void {
    const url = this.topology.produceTarget(partition, this.refusedBy.get(partition));
    let connection = this.connections.get(url);
    if (!connection) this.connections.set(url, (connection = new ProduceConnection(url, { connectTimeoutMs: this.limits.connectTimeoutMs, ackTimeoutMs: this.limits.ackTimeoutMs, token: this.limits.token })));
    this.inFlightBatches++;
    this.queuedEvents -= batch.events.length;
    for (let i = 0; i < batch.attempts.length; i++) batch.attempts[i]!++;
    connection.send(batch.events, batch.producer).then(
      (ids) => {
        for (let i = 0; i < batch.resolvers.length; i++) batch.resolvers[i]!(ids[i]!);
        this.topology.markUp(url);
        this.refusedBy.delete(partition);
        this.answeredProblem.delete(partition);
        this.afterBatch();
      },
      (failure: unknown) => {
        this.onFailure(partition, batch, failure instanceof SendFailure ? failure : new SendFailure(new FloError('FLO_ERR_INTERNAL', String(failure)), true, url));
        this.afterBatch();
      },
    );
  }

  private afterBatch(): void {
    this.inFlightBatches--;
    if (this.queuedEvents > 0) this.flush();
    else if (this.isIdle()) this.onIdle?.();
  }

  private onFailure(partition: number, batch: Waiting, failure: SendFailure): void {
    this.topology.noteFailure(failure.brokerUrl, failure.error);
    const kind = classifyFailure(failure);
    const attempts = Math.max(...batch.attempts);
    if (kind === 'unknown' && !this.policy.mayResendAfterUnknownOutcome({ firstSequence: batch.producer?.sequence })) {
      const error = new ProduceOutcomeUnknownError(failure.brokerUrl, failure.error);
      for (const reject of batch.rejecters) reject(error);
      return;
    }
    const unreachable = failure.error.code === 'FLO_ERR_CONNECTION' || failure.error.code === 'FLO_ERR_TIMEOUT';
    if (!unreachable) this.answeredProblem.set(partition, failure.error);
    if (kind === 'refused' || this.stopped || attempts >= this.limits.maxSendAttempts) {
      const answered = unreachable ? this.answeredProblem.get(partition) : undefined;
      const error = kind === 'refused' || attempts < this.limits.maxSendAttempts ? failure.error
        : answered !== undefined
          ? new FloError(answered.code, `${answered.message} (gave up after ${attempts} attempts; nothing was stored; the last attempt: ${failure.error.message})`, { cause: answered })
          : new FloError(failure.error.code, `${failure.error.message} (gave up after ${attempts} attempts; nothing was stored)`, { cause: failure.error });
      this.answeredProblem.delete(partition);
      for (const reject of batch.rejecters) reject(error);
      return;
    }
    if (kind === 'unknown' && attempts >= this.limits.maxSendAttempts) {
      const error = new ProduceOutcomeUnknownError(failure.brokerUrl, failure.error);
      for (const reject of batch.rejecters) reject(error);
      return;
    }
    this.refusedBy.set(partition, failure.brokerUrl);
    if (batch.producer === undefined) this.requeueFront(partition, batch);
    else {
      // Whole, with its sequence: a repeat must match what the broker may have stored.
      const again = this.resends.get(partition) ?? [];
      again.push(batch);
      again.sort((a, b) => a.producer!.sequence - b.producer!.sequence);
      this.resends.set(partition, again);
      this.queuedEvents += batch.events.length;
    }
    this.backoffUntil.set(partition, performance.now() + resendDelayMs(attempts));
  }

  /** Gives a new batch the producer's next sequence (a new producer id when sequences would run out). */
  private numbered(batch: Waiting): Waiting {
    const identity = this.identity;
    if (identity === undefined) return batch;
    if (identity.next + batch.events.length > MAX_SEQUENCE) this.identity = { id: newProducerId(), next: 0 };
    const current = this.identity!;
    batch.producer = { id: current.id, sequence: current.next };
    current.next += batch.events.length;
    return batch;
  }

  /** Back before anything produced later for the partition, so a resend keeps produce order within the queue. */
  private requeueFront(partition: number, batch: Waiting): void {
    const queue = this.queues.get(partition) ?? emptyWaiting();
    this.queues.set(partition, {
      events: batch.events.concat(queue.events),
      resolvers: batch.resolvers.concat(queue.resolvers),
      rejecters: batch.rejecters.concat(queue.rejecters),
      attempts: batch.attempts.concat(queue.attempts),
    });
    this.queuedEvents += batch.events.length;
  }

  private takeBatch(queue: Waiting): Waiting {
    let take = 0;
    let bytes = 0;
    const events = queue.events;
    while (take < events.length && take < this.limits.maxBatchEvents && (take === 0 || bytes + events[take]!.data.length <= this.limits.maxBatchBytes)) {
      bytes += events[take]!.data.length;
      take++;
    }
    if (take === events.length) {
      const whole = { ...queue };
      Object.assign(queue, emptyWaiting());
      return whole;
    }
    return {
      events: queue.events.splice(0, take),
      resolvers: queue.resolvers.splice(0, take),
      rejecters: queue.rejecters.splice(0, take),
      attempts: queue.attempts.splice(0, take),
    };
  }

  private failQueued(error: Error): void {
    for (const queue of this.queues.values()) for (const reject of queue.rejecters) reject(error);
    for (const batches of this.resends.values()) for (const batch of batches) for (const reject of batch.rejecters) reject(error);
    this.queues.clear();
    this.resends.clear();
    this.queuedEvents = 0;
    this.onIdle?.();
  }
}
