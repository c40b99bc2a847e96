// The TypeScript client of Flo's public HTTP/WebSocket API (docs/api.md): the
// same API any other language uses. Options are one typed object with named
// defaults; every failure is a FloError with the broker's stable code.
import { DEFAULT_MAX_EVENT_BYTES } from '../common/bounds.js';
import { FloError } from '../common/errors.js';
import { isEventId } from '../common/ids.js';
import { validateNamespace } from '../common/namespace.js';
import type { FloEvent } from '../common/event.js';
import type { EventInput } from '../common/wire.js';
import { normalizeBrokerUrl, requestJson } from './http.js';
import { Producer } from './producer.js';
import { Subscription, type SubscribeOptions } from './subscription.js';

export interface ClientOptions {
  /** Bearer token, sent as `Authorization: Bearer <token>` on every HTTP request and WebSocket upgrade. Default: none. */
  token?: string;
  /** Time to wait for a connection or an HTTP answer. Default 10 s. */
  timeoutMs?: number;
  /** Events queued for sending before produce() refuses more. Default 100,000. */
  maxQueuedEvents?: number;
  /** Produce batches sent and not yet acknowledged. Default 16. */
  maxInFlightBatches?: number;
  /**
   * Most events in one produce batch. Default 256: small enough that several
   * batches are in flight and the broker's group commits overlap with the
   * client's work, large enough to keep per-batch costs negligible.
   */
  maxBatchEvents?: number;
  /** Decoded events a subscription holds for a slow consumer before pausing its socket. Default 20,000. */
  subscriptionHighWaterEvents?: number;
  /** Payload bytes a subscription holds for a slow consumer before pausing its socket. Default 16 MiB. */
  subscriptionHighWaterBytes?: number;
  /** Largest payload produce() accepts, checked before sending so one bad event cannot fail its batch. Default 1 MiB (the broker's default). */
  maxEventBytes?: number;
  /** Wait at most this long in close() for acknowledgements. Default 10 s. */
  closeTimeoutMs?: number;
}

export const CLIENT_DEFAULTS = {
  token: '',
  timeoutMs: 10_000,
  maxQueuedEvents: 100_000,
  maxInFlightBatches: 16,
  maxBatchEvents: 256,
  maxEventBytes: DEFAULT_MAX_EVENT_BYTES,
  closeTimeoutMs: 10_000,
  subscriptionHighWaterEvents: 20_000,
  subscriptionHighWaterBytes: 16 * 1024 * 1024,
} as const satisfies Required<ClientOptions>;

export interface ProduceRequest {
  namespace: string;
  /** Payload: bytes, or text sent as UTF-8. */
  data?: Uint8Array | string;
  /** Payload encoded as JSON (the client's JSON codec); read back with event.json(). */
  json?: unknown;
  parentId?: string;
}

export interface ClusterInfo {
  mode: string;
  nodeId: string;
  replicationFactor: number;
  durability: string;
  brokers: Array<{ nodeId: string; url?: string; ready: boolean }>;
  partitions: Array<{
    partition: number; leader: string; replicas: string[]; nextOffset: number; events: number; bytes: number;
    /** The partition's Raft group as the answering broker sees it (absent from brokers before issue 9). */
    raft?: { group: number; member: number; role: string; term: number; leader: number | null; commitIndex: number; appliedIndex: number; voters: number[] };
  }>;
}

export interface RetentionRuleSpec {
  namespace: string;
  maxAge?: string | number;
  maxEvents?: number;
  maxBytes?: number | string;
}

export class FloClient {
  private readonly options: Required<ClientOptions>;
  private readonly producer: Producer;
  private readonly subscriptions = new Set<Subscription>();

  /** The broker URL, normalised: `localhost:3000` becomes `http://localhost:3000`. */
  readonly url: string;

  constructor(url: string, options: ClientOptions = {}) {
    this.url = normalizeBrokerUrl(url);
    this.options = { ...CLIENT_DEFAULTS, ...options };
    this.producer = new Producer(this.url, {
      maxQueuedEvents: this.options.maxQueuedEvents,
      maxInFlightBatches: this.options.maxInFlightBatches,
      maxBatchEvents: this.options.maxBatchEvents,
      maxBatchBytes: 1024 * 1024,
      connectTimeoutMs: this.options.timeoutMs,
      token: this.options.token,
    });
  }

  /** Appends one event; resolves with its id once the broker has made it durable. */
  produce(request: ProduceRequest): Promise<string> {
    let input: EventInput;
    try {
      input = toInput(request, this.options.maxEventBytes);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    return this.producer.produce(input);
  }

  /** Appends several events, pipelined with any other produce calls; resolves with their ids in order. */
  produceBatch(requests: readonly ProduceRequest[]): Promise<string[]> {
    return Promise.all(requests.map((request) => this.produce(request)));
  }

  /** Answers an event: produces a new one whose parentId is the request's id. */
  respond(to: FloEvent | { id: string }, response: Omit<ProduceRequest, 'parentId'>): Promise<string> {
    return this.produce({ ...response, parentId: to.id });
  }

  /** Replays matching events from `from`, then tails them (unless follow is false). */
  subscribe(options: SubscribeOptions = {}): Subscription {
    const subscription = new Subscription(this.url, options, {
      highWaterEvents: this.options.subscriptionHighWaterEvents,
      highWaterBytes: this.options.subscriptionHighWaterBytes,
      reconnectDelayMs: 100,
      maxReconnectDelayMs: 5_000,
      connectTimeoutMs: this.options.timeoutMs,
      token: this.options.token,
    });
    this.subscriptions.add(subscription);
    subscription.whenClosed(() => this.subscriptions.delete(subscription));
    return subscription;
  }

  /** One page of events over plain HTTP, with the cursor to continue from. */
  read(options: { namespace?: string; from?: string; limit?: number } = {}): Promise<{ events: Array<Record<string, string>>; cursor: string; endOfStream: boolean }> {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(options)) if (value !== undefined) query.set(key, String(value));
    return requestJson(this.url, `/v1/events?${query}`, this.requestOptions());
  }

  cluster(): Promise<ClusterInfo> {
    return requestJson(this.url, '/v1/cluster', this.requestOptions());
  }

  getRetention(): Promise<{ rules: RetentionRuleSpec[] }> {
    return requestJson(this.url, '/v1/admin/retention', this.requestOptions());
  }

  setRetention(rules: RetentionRuleSpec[]): Promise<{ rules: RetentionRuleSpec[] }> {
    return requestJson(this.url, '/v1/admin/retention', { ...this.requestOptions(), method: 'PUT', body: { rules } });
  }

  /** Checks that the broker answers. */
  async ping(): Promise<void> {
    await requestJson(this.url, '/healthz', this.requestOptions());
  }

  private requestOptions(): { timeoutMs: number; token: string } {
    return { timeoutMs: this.options.timeoutMs, token: this.options.token };
  }

  /** Waits for acknowledgements of produce calls already made, then closes every connection. */
  async close(): Promise<void> {
    for (const subscription of this.subscriptions) subscription.close();
    await this.producer.close(this.options.closeTimeoutMs);
  }
}

/** Creates a client and checks that the broker answers. */
export async function connect(url = 'http://127.0.0.1:3000', options: ClientOptions = {}): Promise<FloClient> {
  const client = new FloClient(url, options);
  await client.ping();
  return client;
}

/** Checks what the broker would refuse, so a bad event fails alone instead of failing the batch it shares. */
function toInput(request: ProduceRequest, maxEventBytes: number): EventInput {
  validateNamespace(request?.namespace);
  if (request.json !== undefined && request.data !== undefined) throw new FloError('FLO_ERR_REQUEST_INVALID', 'pass either data or json, not both');
  if (request.parentId !== undefined && !isEventId(request.parentId)) throw new FloError('FLO_ERR_EVENT_ID_INVALID', 'parentId must be an event id, e.g. 0003-00000000001a2');
  const data = request.json !== undefined ? Buffer.from(JSON.stringify(request.json), 'utf8')
    : typeof request.data === 'string' ? Buffer.from(request.data, 'utf8')
    : request.data ?? new Uint8Array(0);
  if (data.length > maxEventBytes) throw new FloError('FLO_ERR_EVENT_TOO_LARGE', `event data is ${data.length} bytes; the limit is ${maxEventBytes}`);
  return { namespace: request.namespace, data, parentId: request.parentId };
}
