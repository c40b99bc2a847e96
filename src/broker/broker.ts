// A broker: the event log plus the HTTP/WebSocket API, listening or not. The
// server command and the embedded entry point both start one of these, so an
// application embedding Flo runs exactly the code a `flo server` runs.
import { createServer } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { FloEvent, forEachRecordEvent } from '../common/event.js';
import { formatEventId } from '../common/ids.js';
import { createLogger } from '../common/logger.js';
import { compileGlob } from '../common/namespace.js';
import { asBuffer } from '../common/wire.js';
import { DEFAULT_PARTITIONS } from '../common/bounds.js';
import { FloError } from '../common/errors.js';
import { buildApp, type AppOptions } from './api/app.js';
import { readMembership } from './cluster/founding.js';
import { rejoinAfterRefusal } from './cluster/rejoin.js';
import { Peering, type ClusterOptions } from './cluster/peering.js';
import { checkLimits } from './api/limits.js';
import { listenError } from './listen-error.js';
import { isLoopbackHost } from './api/origin.js';
import { EventLog, type EventLogOptions } from './event-log.js';
import { parseRetentionRules, type RetentionRule, type RetentionRuleInput } from './partitions/retention.js';
import { resolvePosition } from './positions.js';
import { subscribe } from './subscription.js';

/** Who may connect and how much they may hold: tokens, origins, timeouts, the connection cap (docs/api.md). */
type AccessOptions = Pick<AppOptions, 'authTokens' | 'allowedOrigins' | 'allowedHosts' | 'requestTimeoutMs' | 'headersTimeoutMs' | 'keepAliveTimeoutMs' | 'maxConnections' | 'maxBodyBytesInFlight' | 'subscriberLimits'>;

export interface BrokerOptions extends Omit<EventLogOptions, 'logger' | 'metrics' | 'retention'>, AccessOptions {
  /** Rules to enforce; when given they replace (and are saved over) the rules stored in the data dir. */
  retention?: RetentionRuleInput[] | RetentionRule[] | undefined;
  /** Port to listen on (0 = any free port); leave undefined to serve in-process only. */
  port?: number | undefined;
  host?: string | undefined;
  logger?: Logger | undefined;
  /** Run as a member of a cluster (--peers); without it the broker is a one-member cluster. */
  cluster?: ClusterOptions | undefined;
  /** The URL clients reach this broker at, shown in /v1/cluster (--advertise-url); a cluster's own takes precedence. */
  advertiseUrl?: string | undefined;
}

export interface ProduceInput {
  namespace: string;
  data?: Uint8Array | string | undefined;
  parentId?: string | undefined;
}

const RETENTION_SETTING = 'retention';

export class Broker {
  private listeningUrl: string | undefined;

  private constructor(readonly log: EventLog, readonly app: FastifyInstance, readonly logger: Logger, private readonly peering: Peering | undefined) {}

  static async start(options: BrokerOptions): Promise<Broker> {
    try {
      return await Broker.startOnce(options);
    } catch (error) {
      const again = await rejoinAfterRefusal(error, options.dataDir, options.cluster, options.logger ?? createLogger({ level: 'warn' }));
      if (again === undefined) throw error;
      return Broker.startOnce({ ...options, cluster: again });
    }
  }

  private static async startOnce(options: BrokerOptions): Promise<Broker> {
    const logger = options.logger ?? createLogger({ level: 'warn' });
    const host = options.host ?? '127.0.0.1';
    // Before the data dir is created or opened: a start that cannot listen leaves nothing behind.
    checkLimits(options);
    if (options.port !== undefined && options.port !== 0) await checkPortFree(options.port, host);
    const explicitRules = options.retention === undefined ? undefined : toRules(options.retention);
    const started: { broker?: Broker; app?: FastifyInstance } = {};
    const peering = options.cluster === undefined ? undefined
      : await Peering.start({ ...options.cluster, dataDir: options.dataDir, host, logger, url: () => started.broker?.url, partitions: options.partitions ?? DEFAULT_PARTITIONS });
    if (peering === undefined) await refuseClusterData(options.dataDir);
    let log: EventLog;
    try {
      log = await EventLog.open({
        ...options, retention: explicitRules, logger: logger.child({ component: 'log' }),
        ...(peering === undefined ? {} : { nodeId: String(peering.nodeId), partitions: peering.partitions ?? options.partitions, replication: peering.replication() }),
      });
    } catch (error) {
      await peering?.close();
      throw error;
    }
    peering?.serve(log);
    try {
      const rules = explicitRules ?? storedRules(await log.store.readSetting<RetentionRuleInput[]>(RETENTION_SETTING));
      if (explicitRules) await log.store.writeSetting(RETENTION_SETTING, explicitRules.map((rule) => rule.input));
      // Not awaited: a restart serves (and answers /healthz) at once, however long the first pass takes.
      else if (rules.length > 0) void log.setRetentionRules(rules).catch((error: unknown) => logger.error({ err: error }, 'retention pass failed'));
      const app = started.app = await buildApp({
        ...options,
        listenHost: options.port === undefined ? undefined : host,
        log,
        logger,
        saveRetention: (next) => log.store.writeSetting(RETENTION_SETTING, next.map((rule) => rule.input)),
        advertisedUrl: () => options.cluster?.advertiseUrl ?? options.advertiseUrl ?? started.broker?.url,
        cluster: peering?.view(),
      });
      const broker = (started.broker = new Broker(log, app, logger, peering));
      if (options.port !== undefined) await broker.listen(options.port, host, (options.authTokens?.length ?? 0) > 0);
      peering?.announce();
      return broker;
    } catch (error) {
      // Close what was opened, app first: a failed listen must not leave its WebSocket server or timers behind.
      await started.app?.close().catch(() => undefined);
      await log.close();
      await peering?.close();
      throw error;
    }
  }

  /** The base URL clients use, once listening. */
  get url(): string | undefined {
    return this.listeningUrl;
  }

  /** Appends events in-process; resolves with their ids once durable. */
  async produce(events: ProduceInput | ProduceInput[]): Promise<string[]> {
    const list = Array.isArray(events) ? events : [events];
    const result = await this.log.append(list.map((event) => ({
      namespace: event.namespace,
      data: typeof event.data === 'string' ? Buffer.from(event.data, 'utf8') : event.data ? asBuffer(event.data) : Buffer.alloc(0),
      parentId: event.parentId,
    })));
    return Array.from(result.offsets, (offset, i) => formatEventId(result.partitions[i]!, offset));
  }

  /** Replays then tails matching events in-process (follow defaults to true, as in the client and the API); `break` ends it. */
  async *subscribe(options: { namespace?: string; from?: string; follow?: boolean } = {}): AsyncGenerator<FloEvent> {
    const aborter = new AbortController();
    const selector = compileGlob(options.namespace);
    const start = await resolvePosition(this.log, options.from);
    try {
      for await (const item of subscribe(this.log, { selector, start, follow: options.follow ?? true, maxBytesPerPage: 256 * 1024, maxEventsPerPage: 4096, signal: aborter.signal })) {
        if (item.kind !== 'records') continue;
        const events: FloEvent[] = [];
        for (const record of item.records) forEachRecordEvent(record, (event) => events.push(event));
        yield* events;
      }
    } finally {
      aborter.abort();
    }
  }

  /** Stops accepting requests, lets accepted appends commit, closes subscriptions and storage. */
  async close(): Promise<void> {
    // Leadership first, while requests are still served: what waits at this broker moves to the new leaders.
    await this.peering?.prepareStop().catch((error: unknown) => this.logger.warn({ err: error }, 'leadership hand-off failed; stopping anyway'));
    const closingApp = this.app.close();
    await this.log.close();
    await this.peering?.close();
    await closingApp;
  }

  private async listen(port: number, host: string, authenticated: boolean): Promise<void> {
    // Only a listen failure is an address problem: an error of the data dir with a code like EACCES is not.
    await this.app.listen({ port, host }).catch((error: unknown) => { throw listenError(error, port, host); });
    const address = this.app.server.address();
    const actualPort = typeof address === 'object' && address ? address.port : port;
    this.listeningUrl = `http://${host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host}:${actualPort}`;
    this.logger.info({ url: this.listeningUrl, nodeId: this.log.nodeId, authentication: authenticated }, 'broker listening');
    if (!authenticated && !isLoopbackHost(host)) {
      this.logger.warn({ host }, 'broker listens beyond loopback WITHOUT authentication: anyone who can reach it may read, write and delete events (set FLO_AUTH_TOKENS_FILE, see docs/api.md)');
    }
  }
}

/** A cluster member's data dir started without --peers would run its partitions as one-voter groups: a second history. */
async function refuseClusterData(dataDir: string): Promise<void> {
  const membership = await readMembership(dataDir);
  if (membership === undefined) return;
  throw new FloError('FLO_ERR_DATA_DIR_MISMATCH',
    `${dataDir} belongs to cluster "${membership.clusterId}" (members ${membership.members.map((m) => m.id).join(', ')}): start it with its --node-id and --peers`);
}

/** Binds and releases the port, so a busy port is reported before anything touches the data dir. */
async function checkPortFree(port: number, host: string): Promise<void> {
  const probe = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen({ port, host, exclusive: true }, resolve);
    });
  } catch (error) {
    throw listenError(error, port, host);
  } finally {
    await new Promise<void>((resolve) => probe.close(() => resolve()));
  }
}

/** Rules saved by an older version may break a bound added since: say so, and how to replace them, rather than guess. */
function storedRules(saved: RetentionRuleInput[] | undefined): RetentionRule[] {
  try {
    return parseRetentionRules(saved ?? []);
  } catch (error) {
    throw new FloError('FLO_ERR_RETENTION_INVALID', `the retention rules stored in the data dir are no longer accepted (${(error as Error).message}); start once with --retention (FLO_RETENTION, or the retention option) to replace them`);
  }
}

function toRules(input: RetentionRuleInput[] | RetentionRule[]): RetentionRule[] {
  return input.every((rule) => 'selector' in rule) ? (input as RetentionRule[]) : parseRetentionRules(input);
}
