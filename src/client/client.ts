// The TypeScript client of Flo's public HTTP/WebSocket API (docs/api.md): the
// same API any other language uses. Options are one typed object with named
// defaults; every failure is a FloError with the broker's stable code. Given
// several brokers of a cluster it routes by the cluster's table (topology.ts):
// produce to each partition's leader, reads and admin calls to any broker.
import { DEFAULT_MAX_EVENT_BYTES } from '../common/bounds.js';
import { FloError } from '../common/errors.js';
import { isEventId } from '../common/ids.js';
import { validateNamespace } from '../common/namespace.js';
import type { FloEvent } from '../common/event.js';
import type { EventInput } from '../common/wire.js';
import { normalizeBrokerUrls, requestJson, type RequestOptions } from './http.js';
import { Producer } from './producer.js';
import { Subscription, type SubscribeOptions, type SubscriptionBrokers } from './subscription.js';
import { Topology, TOPOLOGY_DEFAULTS, type ClusterAnswer } from './topology.js';

export interface ClientOptions {
  /** Bearer token, sent as `Authorization: Bearer <token>` on every HTTP request and WebSocket upgrade. Default: none. */
  token?: string;
  /** Time to wait for a connection or an HTTP answer. Default 10 s. */
  timeoutMs?: number;
  /**
   * How long a produce batch, once sent, waits for the broker's acknowledgement before its outcome
   * counts as unknown (an idempotent producer then sends it again, elsewhere if the table says so;
   * otherwise it fails with ProduceOutcomeUnknownError). Default 30 s, above the broker's own bounds.
   */
  ackTimeoutMs?: number;
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
  /**
   * Sends of one produce batch, the first included, while each provably stored nothing
   * (broker down before sending, or refused with NOT_LEADER, UNAVAILABLE, SHUTTING_DOWN,
   * OVERLOADED). Default 8 (about 4 s of backoff besides the brokers' own waits).
   */
  maxProduceAttempts?: number;
  /** Ask a broker for the cluster's routing table at least this often. Default 30 s. */
  topologyRefreshMs?: number;
  /**
   * Exactly once on retry (default true): produce batches carry a producer id and sequence, so one
   * whose outcome is unknown (a broker lost mid-request) is sent again and stored once. false: such
   * a batch fails with ProduceOutcomeUnknownError instead.
   */
  idempotent?: boolean;
}

export const CLIENT_DEFAULTS = {
  token: '',
  timeoutMs: 10_000,
  ackTimeoutMs: 30_000,
  maxQueuedEvents: 100_000,
  maxInFlightBatches: 16,
  maxBatchEvents: 256,
  maxEventBytes: DEFAULT_MAX_EVENT_BYTES,
  closeTimeoutMs: 10_000,
  maxProduceAttempts: 8,
  topologyRefreshMs: TOPOLOGY_DEFAULTS.refreshIntervalMs,
  idempotent: true,
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
  brokers: Array<{
    nodeId: string; url?: string | null; ready: boolean | null;
    /** Raft member id, peer address, whether the answering broker reaches it, and which one answered (issue 9 on). */
    member?: number; peer?: string | null; reachable?: boolean; self?: boolean;
    /** From the controller's table (issue 10 on): joining | active | draining | removed, partitions held and led. */
    state?: MemberSummary['state']; partitions?: number; leaders?: number;
  }>;
  /** The member leading the controller group, if known (cluster mode). */
  controllerLeader?: number | null;
  partitions: Array<{
    /** leader is null during an election; leaderUrl is the leader's advertised URL (cluster mode). */
    partition: number; leader: string | null; leaderUrl?: string | null; replicas: string[]; nextOffset: number; events: number; bytes: number;
    /** The partition's Raft group as the answering broker sees it (absent from brokers before issue 9). */
    raft?: { group: number; member: number; role: string; term: number; leader: number | null; commitIndex: number; appliedIndex: number; voters: number[] };
  }>;
}

export interface ClusterHealth {
  healthy: boolean;
  controllerLeader: number | null;
  partitions: { total: number; leaderless: number; underReplicated: number };
  /** What is not healthy, one line each. */
  problems: string[];
}

export interface MemberSummary {
  member: number;
  state: 'joining' | 'active' | 'draining' | 'removed';
  self: boolean;
  peer: string;
  url: string | null;
  reachable: boolean;
  partitions: number;
  leaders: number;
}

export interface RestartCheck {
  member: number;
  safe: boolean;
  problems: string[];
  caughtUp: boolean | null;
}

function memberId(id: number): string {
  if (!Number.isSafeInteger(id) || id < 1) throw new FloError('FLO_ERR_REQUEST_INVALID', `a member id is a positive whole number, not ${String(id)}`);
  return String(id);
}

export interface RetentionRuleSpec {
  namespace: string;
  maxAge?: string | number;
  maxEvents?: number;
  maxBytes?: number | string;
}

/** Codes after which an admin or read call may go to another broker: it was not served. */
const TRY_ELSEWHERE_CODES: ReadonlySet<string> = new Set(['FLO_ERR_CONNECTION', 'FLO_ERR_TIMEOUT', 'FLO_ERR_NOT_LEADER', 'FLO_ERR_UNAVAILABLE', 'FLO_ERR_SHUTTING_DOWN', 'FLO_ERR_OVERLOADED']);

export class FloClient {
  private readonly options: Required<ClientOptions>;
  private readonly producer: Producer;
  private readonly subscriptions = new Set<Subscription>();
  private readonly subscriptionBrokers: SubscriptionBrokers;
  /** The cluster's routing table as this client knows it. */
  readonly topology: Topology;

  /** The first broker URL given, normalised: `localhost:3000` becomes `http://localhost:3000`. */
  readonly url: string;
  /** Every broker URL given (an array, or one string of comma-separated URLs), normalised. */
  readonly urls: readonly string[];

  constructor(urls: string | readonly string[], options: ClientOptions = {}) {
    this.urls = normalizeBrokerUrls(urls);
    this.url = this.urls[0]!;
    this.options = { ...CLIENT_DEFAULTS, ...options };
    // setTimeout takes NaN, 0 or a negative delay as "at once": every batch would time out as it is sent.
    const ack = this.options.ackTimeoutMs;
    if (!Number.isFinite(ack) || ack < 1 || ack > 2 ** 31 - 1) throw new FloError('FLO_ERR_REQUEST_INVALID', `ackTimeoutMs must be a number of milliseconds from 1 to ${2 ** 31 - 1}, not ${String(ack)}`);
    this.topology = new Topology({
      seeds: this.urls,
      fetchCluster: (url) => requestJson<ClusterAnswer>(url, '/v1/cluster', this.requestOptions()),
      refreshIntervalMs: this.options.topologyRefreshMs,
    });
    this.producer = new Producer(this.topology, {
      maxQueuedEvents: this.options.maxQueuedEvents,
      maxInFlightBatches: this.options.maxInFlightBatches,
      maxBatchEvents: this.options.maxBatchEvents,
      maxBatchBytes: 1024 * 1024,
      maxSendAttempts: this.options.maxProduceAttempts,
      connectTimeoutMs: this.options.timeoutMs,
      ackTimeoutMs: this.options.ackTimeoutMs,
      token: this.options.token,
      idempotent: this.options.idempotent,
    });
    // Unreferenced: an idle client never keeps the process alive; close() stops it.
    this.topology.startPeriodicRefresh();
    this.subscriptionBrokers = {
      next: () => this.topology.candidates()[0]!,
      // Whatever failed there (down, behind, refusing), the next attempt tries the other brokers first;
      // but a consumer too slow for its broker would be as slow for any other.
      failed: (url, error) => {
        this.topology.noteFailure(url, error);
        if (error.code !== 'FLO_ERR_SUBSCRIBER_TOO_SLOW') this.topology.markDown(url);
      },
      commitGroup: async (group, cursor) => {
        await this.requestAnyBroker(`/v1/groups/${encodeURIComponent(group)}`, { method: 'PUT', body: { cursor } });
      },
    };
  }

  /** Learns the cluster's routing table from the first broker that answers (connect() calls it). */
  async start(): Promise<void> {
    await this.topology.load();
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

  /** Replays matching events from `from`, then tails them (unless follow is false); moves to another broker if its broker fails. */
  subscribe(options: SubscribeOptions = {}): Subscription {
    const subscription = new Subscription(this.subscriptionBrokers, options, {
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
    return this.requestAnyBroker(`/v1/events?${query}`);
  }

  /** The cluster as one broker sees it (the first reachable one). */
  cluster(): Promise<ClusterInfo> {
    return this.requestAnyBroker('/v1/cluster');
  }

  /** Every member answering, every partition led and fully replicated, a controller leader (GET /v1/cluster/health). */
  clusterHealth(): Promise<ClusterHealth> {
    return this.requestAnyBroker('/v1/cluster/health');
  }

  /** Starts draining a member: its replicas and leaderships move off it (idempotent; watch cluster() for progress). */
  drainMember(id: number): Promise<{ member: MemberSummary }> {
    return this.requestAnyBroker(`/v1/admin/members/${memberId(id)}/drain`, { method: 'POST' });
  }

  /** Removes a drained member; `force` removes one that is gone for good while it still holds replicas. */
  removeMember(id: number, options: { force?: boolean } = {}): Promise<{ member: MemberSummary }> {
    return this.requestAnyBroker(`/v1/admin/members/${memberId(id)}${options.force ? '?force=true' : ''}`, { method: 'DELETE' });
  }

  /** Whether restarting member `id` now keeps every group's quorum; `caughtUp` is judged best by the member itself. */
  restartCheck(id: number): Promise<RestartCheck> {
    return this.requestAnyBroker(`/v1/admin/members/${memberId(id)}/restart-check`);
  }

  getRetention(): Promise<{ rules: RetentionRuleSpec[] }> {
    return this.requestAnyBroker('/v1/admin/retention');
  }

  setRetention(rules: RetentionRuleSpec[]): Promise<{ rules: RetentionRuleSpec[] }> {
    return this.requestAnyBroker('/v1/admin/retention', { method: 'PUT', body: { rules } });
  }

  /** Checks that a broker answers. */
  async ping(): Promise<void> {
    await this.requestAnyBroker('/healthz');
  }

  /**
   * One HTTP call to the first broker that serves it, in the table's order. Every call sent this
   * way is a read or an idempotent write (a retention rule set, a group cursor stored), so one
   * whose outcome is unknown may be sent again to the next broker.
   */
  private async requestAnyBroker<T>(path: string, request: Pick<RequestOptions, 'method' | 'body'> = {}): Promise<T> {
    let lastError: unknown;
    for (const url of this.topology.candidates()) {
      try {
        return await requestJson<T>(url, path, { ...this.requestOptions(), ...request });
      } catch (error) {
        if (!(error instanceof FloError) || !TRY_ELSEWHERE_CODES.has(error.code)) throw error;
        this.topology.noteFailure(url, error);
        lastError = error;
      }
    }
    throw lastError;
  }

  private requestOptions(): { timeoutMs: number; token: string } {
    return { timeoutMs: this.options.timeoutMs, token: this.options.token };
  }

  /** Waits for acknowledgements of produce calls already made, then closes every connection. */
  async close(): Promise<void> {
    this.topology.stop();
    for (const subscription of this.subscriptions) subscription.close();
    await this.producer.close(this.options.closeTimeoutMs);
  }
}

/**
 * Creates a client, learns the cluster from the first broker that answers and keeps its table
 * fresh. `urls` is one broker URL, several (an array), or one string of comma-separated URLs.
 */
export async function connect(urls: string | readonly string[] = 'http://127.0.0.1:3000', options: ClientOptions = {}): Promise<FloClient> {
  const client = new FloClient(urls, options);
  await client.start();
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
