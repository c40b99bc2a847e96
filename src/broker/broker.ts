// A broker: the event log plus the HTTP/WebSocket API, listening or not. The
// server command and the embedded entry point both start one of these, so an
// application embedding Flo runs exactly the code a `flo server` runs.
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { FloEvent, forEachRecordEvent } from '../common/event.js';
import { formatEventId } from '../common/ids.js';
import { createLogger } from '../common/logger.js';
import { compileGlob } from '../common/namespace.js';
import { asBuffer } from '../common/wire.js';
import { buildApp } from './api/app.js';
import { EventLog, type EventLogOptions } from './event-log.js';
import { parseRetentionRules, type RetentionRule, type RetentionRuleInput } from './partitions/retention.js';
import { resolvePosition } from './positions.js';
import { subscribe } from './subscription.js';

export interface BrokerOptions extends Omit<EventLogOptions, 'logger' | 'metrics' | 'retention'> {
  /** Rules to enforce; when given they replace (and are saved over) the rules stored in the data dir. */
  retention?: RetentionRuleInput[] | RetentionRule[] | undefined;
  /** Port to listen on (0 = any free port); leave undefined to serve in-process only. */
  port?: number | undefined;
  host?: string | undefined;
  logger?: Logger | undefined;
}

export interface ProduceInput {
  namespace: string;
  data?: Uint8Array | string | undefined;
  parentId?: string | undefined;
}

const RETENTION_SETTING = 'retention';

export class Broker {
  private listeningUrl: string | undefined;

  private constructor(readonly log: EventLog, readonly app: FastifyInstance, readonly logger: Logger) {}

  static async start(options: BrokerOptions): Promise<Broker> {
    const logger = options.logger ?? createLogger({ level: 'warn' });
    const explicitRules = options.retention === undefined ? undefined : toRules(options.retention);
    const log = await EventLog.open({ ...options, retention: explicitRules, logger: logger.child({ component: 'log' }) });
    try {
      const rules = explicitRules ?? parseRetentionRules((await log.store.readSetting<RetentionRuleInput[]>(RETENTION_SETTING)) ?? []);
      if (explicitRules) await log.store.writeSetting(RETENTION_SETTING, explicitRules.map((rule) => rule.input));
      else if (rules.length > 0) await log.setRetentionRules(rules);
      const started: { broker?: Broker } = {};
      const app = await buildApp({
        log,
        logger,
        saveRetention: (next) => log.store.writeSetting(RETENTION_SETTING, next.map((rule) => rule.input)),
        advertisedUrl: () => started.broker?.url,
      });
      const broker = (started.broker = new Broker(log, app, logger));
      if (options.port !== undefined) await broker.listen(options.port, options.host ?? '127.0.0.1');
      return broker;
    } catch (error) {
      await log.close();
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
    const closingApp = this.app.close();
    await this.log.close();
    await closingApp;
  }

  private async listen(port: number, host: string): Promise<void> {
    await this.app.listen({ port, host });
    const address = this.app.server.address();
    const actualPort = typeof address === 'object' && address ? address.port : port;
    this.listeningUrl = `http://${host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host}:${actualPort}`;
    this.logger.info({ url: this.listeningUrl, nodeId: this.log.nodeId }, 'broker listening');
  }
}

function toRules(input: RetentionRuleInput[] | RetentionRule[]): RetentionRule[] {
  return input.every((rule) => 'selector' in rule) ? (input as RetentionRule[]) : parseRetentionRules(input);
}
