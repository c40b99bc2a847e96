// The client's copy of a cluster's routing table (GET /v1/cluster): which broker
// leads each partition, and which brokers exist. Learned from the first seed URL
// that answers, then refreshed when a broker says it is not the leader, is
// unavailable or cannot be reached, and periodically. Refreshes are coalesced
// and at least minRefreshIntervalMs apart, so a storm of refusals costs one
// request a second. A broker that failed is skipped for downForMs, not forgotten.
import { FloError } from '../common/errors.js';
import { partitionOf } from '../common/namespace.js';
import { normalizeBrokerUrl } from './http.js';

/** The parts of GET /v1/cluster the client routes by (older brokers may omit some). */
export interface ClusterAnswer {
  mode?: string;
  brokers?: Array<{ nodeId?: string; url?: string | null; self?: boolean }>;
  partitions?: Array<{ partition: number; leader?: string | null; leaderUrl?: string | null; raft?: { term?: number } }>;
}

export interface RoutingTable {
  readonly mode: 'cluster' | 'single-node';
  /** How many partitions the cluster has; 0 when the answer named none (then any broker takes any produce). */
  readonly partitions: number;
  /** Partition -> URL of its leader, undefined while it has none (an election) or its URL is unknown. */
  readonly leaders: ReadonlyArray<string | undefined>;
  /** Partition -> the Raft term the leader was seen in, so an older answer cannot undo a newer one. */
  readonly terms: readonly number[];
  /** Every broker URL the cluster advertises, the answering broker's as the client reached it. */
  readonly brokers: readonly string[];
  readonly answeredBy: string;
}

export interface TopologyOptions {
  /** The URLs the client was given, in order of preference. */
  readonly seeds: readonly string[];
  /** Asks one broker for its view of the cluster. */
  readonly fetchCluster: (url: string) => Promise<ClusterAnswer>;
  /** Refresh at least this often while the client is open. Default 30 s. */
  readonly refreshIntervalMs?: number;
  /** Never ask more often than this, however many failures ask for it. Default 1 s. */
  readonly minRefreshIntervalMs?: number;
  /** How long a broker that failed is tried only after every other. Default 3 s. */
  readonly downForMs?: number;
  readonly now?: () => number;
}

export const TOPOLOGY_DEFAULTS = { refreshIntervalMs: 30_000, minRefreshIntervalMs: 1_000, downForMs: 3_000 } as const;

/** Codes after which the table is probably stale: the partition moved, or the broker we used is gone. */
const STALE_TABLE_CODES: ReadonlySet<string> = new Set(['FLO_ERR_NOT_LEADER', 'FLO_ERR_UNAVAILABLE', 'FLO_ERR_CONNECTION', 'FLO_ERR_SHUTTING_DOWN']);
/** Codes that say the broker itself is unusable for now (not that the request was wrong). */
const BROKER_DOWN_CODES: ReadonlySet<string> = new Set(['FLO_ERR_CONNECTION', 'FLO_ERR_SHUTTING_DOWN', 'FLO_ERR_TIMEOUT']);

export class Topology {
  private current: RoutingTable | undefined;
  private refreshing: Promise<RoutingTable> | undefined;
  private lastStartedAt = -Infinity;
  private readonly downUntil = new Map<string, number>();
  private periodic: NodeJS.Timeout | undefined;
  private followUp: NodeJS.Timeout | undefined;
  private readonly refreshIntervalMs: number;
  private readonly minRefreshIntervalMs: number;
  private readonly downForMs: number;
  private readonly now: () => number;
  /** Why the last refresh failed, shown in errors when no broker answers. */
  lastRefreshError: Error | undefined;
  /** Refreshes sent so far (for tests and diagnostics). */
  refreshes = 0;
  private stopped = false;

  constructor(private readonly options: TopologyOptions) {
    if (options.seeds.length === 0) throw new FloError('FLO_ERR_REQUEST_INVALID', 'give at least one broker URL, e.g. http://127.0.0.1:3000');
    this.refreshIntervalMs = options.refreshIntervalMs ?? TOPOLOGY_DEFAULTS.refreshIntervalMs;
    this.minRefreshIntervalMs = options.minRefreshIntervalMs ?? TOPOLOGY_DEFAULTS.minRefreshIntervalMs;
    this.downForMs = options.downForMs ?? TOPOLOGY_DEFAULTS.downForMs;
    this.now = options.now ?? ((): number => Date.now());
  }

  get table(): RoutingTable | undefined {
    return this.current;
  }

  /** The table, asking for it first if the client has none yet. */
  load(): Promise<RoutingTable> {
    return this.current ? Promise.resolve(this.current) : this.refresh();
  }

  /** Starts the periodic refresh; unreferenced, so an idle client never keeps a process alive. */
  startPeriodicRefresh(): void {
    if (this.periodic) return;
    this.periodic = setInterval(() => {
      if (this.now() - this.lastStartedAt >= this.refreshIntervalMs) this.refreshInBackground();
    }, this.refreshIntervalMs);
    this.periodic.unref();
  }

  stop(): void {
    clearInterval(this.periodic);
    clearTimeout(this.followUp);
    this.periodic = undefined;
    this.stopped = true;
  }

  /**
   * Asks the brokers (reachable ones first) for the table. Concurrent callers share one request;
   * one started less than minRefreshIntervalMs after the last waits for the rest of that interval.
   */
  refresh(): Promise<RoutingTable> {
    this.refreshing ??= this.refreshAfterInterval().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private refreshInBackground(): void {
    // Failures are kept in lastRefreshError and surface with the next request that finds no broker.
    this.refresh().catch((error: unknown) => (this.lastRefreshError = error as Error));
  }

  private async refreshAfterInterval(): Promise<RoutingTable> {
    const waitMs = this.lastStartedAt + this.minRefreshIntervalMs - this.now();
    if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
    this.lastStartedAt = this.now();
    const failures: Error[] = [];
    for (const url of this.candidates()) {
      let answer: ClusterAnswer;
      try {
        this.refreshes++;
        answer = await this.options.fetchCluster(url);
      } catch (error) {
        if (error instanceof FloError && !BROKER_DOWN_CODES.has(error.code) && error.status < 500) throw error; // e.g. 401: another broker would say the same
        this.markDown(url);
        failures.push(error as Error);
        continue;
      }
      this.markUp(url);
      this.current = buildTable(url, answer, this.current);
      this.lastRefreshError = undefined;
      this.followUpWhileStale();
      return this.current;
    }
    // One broker asked: its own error says it all. Several: each reason once, the hint once at the end.
    const hint = /; is it running\? \(set --url or FLO_URL\)$/;
    const error = failures.length === 1 && failures[0] instanceof FloError ? failures[0]
      : new FloError('FLO_ERR_CONNECTION', `no broker answered (${failures.map((failure) => failure.message.replace(hint, '')).join('; ')}); is the cluster running? (set --url or FLO_URL)`);
    this.lastRefreshError = error;
    throw error;
  }

  /**
   * The answer still names a broker we just failed to reach as a leader: its peers have not
   * noticed yet (an election takes a few heartbeats). Ask again once the rate bound allows.
   */
  private followUpWhileStale(): void {
    if (this.stopped || this.followUp !== undefined) return;
    if (!this.current!.leaders.some((leader) => leader !== undefined && this.isDown(leader))) return;
    this.followUp = setTimeout(() => {
      this.followUp = undefined;
      this.refreshInBackground();
    }, this.minRefreshIntervalMs);
    this.followUp.unref();
  }

  /** The partition a namespace belongs to, or -1 while the partitioning is unknown. */
  partitionOf(namespace: string): number {
    const partitions = this.current?.partitions ?? 0;
    return partitions > 0 ? partitionOf(namespace, partitions) : -1;
  }

  /**
   * Where a produce for the partition should go: its leader when known and up, else the first
   * usable broker (which forwards). `avoid` is a broker that just refused this partition's batch:
   * another is chosen while there is one, until the table says otherwise.
   */
  produceTarget(partition: number, avoid?: string): string {
    const leader = partition >= 0 ? this.current?.leaders[partition] : undefined;
    if (leader !== undefined && leader !== avoid && !this.isDown(leader)) return leader;
    const candidates = this.candidates();
    return candidates.find((url) => url !== avoid) ?? candidates[0]!;
  }

  /**
   * Every known broker, in order of preference: the seeds, then the brokers the cluster
   * advertises; brokers that failed recently go last, the soonest to be retried first.
   */
  candidates(): string[] {
    const all = [...new Set([...this.options.seeds, ...(this.current?.brokers ?? [])])];
    const up = all.filter((url) => !this.isDown(url));
    const down = all.filter((url) => this.isDown(url)).sort((a, b) => this.downUntil.get(a)! - this.downUntil.get(b)!);
    return [...up, ...down];
  }

  /**
   * A request to `url` failed with `error`: a broker that cannot serve is skipped for a while,
   * and a failure that says the table may be stale asks for a new one (within the rate bound).
   */
  noteFailure(url: string, error: unknown): void {
    const code = error instanceof FloError ? error.code : 'FLO_ERR_CONNECTION';
    if (BROKER_DOWN_CODES.has(code)) this.markDown(url);
    if (STALE_TABLE_CODES.has(code)) this.refreshInBackground();
  }

  markDown(url: string): void {
    this.downUntil.set(url, this.now() + this.downForMs);
  }

  markUp(url: string): void {
    this.downUntil.delete(url);
  }

  isDown(url: string): boolean {
    const until = this.downUntil.get(url);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.downUntil.delete(url);
    return false;
  }
}

/**
 * The table from one broker's answer. Leaders are named by node id and mapped to URLs through the
 * broker list; the answering broker is reached at the URL the client used, whatever it advertises.
 * A partition whose known leader was seen in a later term than the answer's keeps it.
 */
export function buildTable(answeredBy: string, answer: ClusterAnswer, previous: RoutingTable | undefined): RoutingTable {
  const urlOf = new Map<string, string>();
  const brokers: string[] = [];
  for (const broker of answer.brokers ?? []) {
    const url = broker.self ? answeredBy : broker.url ? safeUrl(broker.url) : undefined;
    if (url === undefined) continue;
    brokers.push(url);
    if (broker.nodeId !== undefined) urlOf.set(broker.nodeId, url);
  }
  if (!brokers.includes(answeredBy)) brokers.unshift(answeredBy);
  const singleNode = answer.mode !== 'cluster';
  const partitions = answer.partitions ?? [];
  const count = partitions.reduce((most, p) => Math.max(most, p.partition + 1), 0);
  const leaders: Array<string | undefined> = new Array<string | undefined>(count).fill(undefined);
  const terms: number[] = new Array<number>(count).fill(0);
  for (const p of partitions) {
    const term = p.raft?.term ?? 0;
    let leader = singleNode ? answeredBy : p.leader == null ? undefined : urlOf.get(p.leader) ?? (p.leaderUrl ? safeUrl(p.leaderUrl) : undefined);
    const before = previous?.partitions === count ? previous : undefined;
    if (before && before.terms[p.partition]! > term && before.leaders[p.partition] !== undefined) leader = before.leaders[p.partition];
    leaders[p.partition] = leader;
    terms[p.partition] = Math.max(term, before?.terms[p.partition] ?? 0);
  }
  return { mode: singleNode ? 'single-node' : 'cluster', partitions: count, leaders, terms, brokers, answeredBy };
}

function safeUrl(url: string): string | undefined {
  try {
    return normalizeBrokerUrl(url);
  } catch {
    return undefined; // a broker advertising junk is simply not used
  }
}
