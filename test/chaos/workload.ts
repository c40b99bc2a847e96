// The chaos workload against one broker: writers over plain HTTP (one request
// per append) and through the TypeScript client (pipelined over its WebSocket),
// each append recorded as invoke + ok/fail/info with a value unique in the run;
// live subscribers recording every delivery; and the final read of everything.
// An outcome is `fail` only when the broker definitely refused the write (a 4xx
// problem); timeouts, dropped connections and 5xx are `info`: it may be stored.
import { SeededRandom } from '../../src/broker/raft/random.js';
import { FloClient } from '../../src/client/client.js';
import { FloError } from '../../src/common/errors.js';
import type { HistoryRecorder, ObservedEvent, PointRead, SubscriptionRecord } from './history.js';

export interface WorkloadOptions {
  /** Prefix of process and subscriber names, e.g. the broker's name. */
  name: string;
  url: string;
  namespaces: readonly string[];
  recorder: HistoryRecorder;
  random: SeededRandom;
  /** Writers doing one HTTP request at a time. */
  httpWriters: number;
  /** TypeScript clients, each with `clientInFlight` appends in flight. */
  clientWriters: number;
  clientInFlight: number;
  /** Each writer waits this long between its appends, so a long run stays bounded in memory. */
  pauseBetweenAppendsMs: number;
  requestTimeoutMs: number;
  /** Appends per writer at most (a bound, whatever the duration). */
  maxAppendsPerWriter: number;
  /** Readers fetching a recently acknowledged id by GET /v1/events/{id}, one read at a time. */
  pointReaders: number;
  /**
   * Writers over plain HTTP with Flo-Producer-Id / Flo-Producer-Sequence: an unknown outcome is
   * retried with the same sequence (bounded), so each must end acknowledged once, never twice.
   */
  idempotentHttpWriters?: number;
  /** Producer ids are `producerIdBase + k`: distinct across every workload of a run. */
  producerIdBase?: number;
  /**
   * Brokers the TypeScript clients bootstrap from (cluster-aware: they route to leaders).
   * When given, point reads use only acknowledgements from `url` itself, since a read is
   * current only on the broker that answered the write (reads are local).
   */
  clientUrls?: readonly string[];
}

/** An idempotent writer retries one request at most this often, and for at most this long, before it gives up (unknown). */
const IDEMPOTENT_MAX_ATTEMPTS = 40;
const IDEMPOTENT_MAX_RETRY_MS = 45_000;

/** Recent acknowledgements the point readers pick from. */
const RECENT_ACKS = 256;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export type Outcome = ({ type: 'ok'; id: string } | { type: 'fail' | 'info'; error: string }) & { attempts?: string[] };

function classify(error: unknown): Outcome {
  if (error instanceof FloError) {
    const definite = error.status >= 400 && error.status < 500 && !error.retryable && error.code !== 'FLO_ERR_CLOSED' && error.code !== 'FLO_ERR_TIMEOUT';
    return { type: definite ? 'fail' : 'info', error: error.code };
  }
  return { type: 'info', error: error instanceof Error ? error.name + ': ' + error.message : String(error) };
}

export interface ProducerStamp {
  id: number;
  sequence: number;
}

export async function appendOverHttp(url: string, namespace: string, value: string, timeoutMs: number, producer?: ProducerStamp): Promise<Outcome> {
  let response: Response;
  const stamp: Record<string, string> = producer ? { 'flo-producer-id': String(producer.id), 'flo-producer-sequence': String(producer.sequence) } : {};
  try {
    response = await fetch(`${url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...stamp },
      body: JSON.stringify({ namespace, data: value }),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    // Refused at connect: no byte of the request left, so it is definitely not stored.
    const code = ((error as Error).cause as NodeJS.ErrnoException | undefined)?.code;
    return { type: code === 'ECONNREFUSED' ? 'fail' : 'info', error: code ?? (error as Error).name };
  }
  const text = await response.text().catch(() => '');
  if (response.status === 201) {
    try {
      return { type: 'ok', id: (JSON.parse(text) as { id: string }).id };
    } catch {
      return { type: 'info', error: 'unparsable 201 body' };
    }
  }
  const definite = response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429;
  let code = `HTTP ${response.status}`;
  try {
    code = (JSON.parse(text) as { code?: string }).code ?? code;
  } catch {
    // Keep the status as the reason.
  }
  return { type: definite ? 'fail' : 'info', error: code };
}

async function readById(url: string, id: string, timeoutMs: number): Promise<Pick<PointRead, 'result' | 'got' | 'error'>> {
  try {
    const response = await fetch(`${url}/v1/events/${id}`, { signal: AbortSignal.timeout(timeoutMs) });
    const text = await response.text();
    if (response.status === 404) return { result: 'missing', error: text.slice(0, 200) };
    if (!response.ok) return { result: 'unknown', error: `HTTP ${response.status}` };
    const event = JSON.parse(text) as { namespace: string; data?: string; dataBase64?: string };
    return { result: 'found', got: { namespace: event.namespace, value: eventValue(event) } };
  } catch (error) {
    return { result: 'unknown', error: (error as Error).name };
  }
}

function eventValue(event: { data?: string; dataBase64?: string }): string {
  return event.data ?? Buffer.from(event.dataBase64 ?? '', 'base64').toString('utf8');
}

export class Workload {
  readonly pointReads: PointRead[] = [];
  /** Idempotent retries answered with an id, and retries refused as stale (the broker forgot the first attempt). */
  readonly idempotent = { retries: 0, answeredAfterRetry: 0, staleOnRetry: 0, gaveUp: 0 };
  private stopping = false;
  private readonly running: Array<Promise<void>> = [];
  private readonly clients: FloClient[] = [];
  private readonly recentAcks: string[] = [];
  private recentAcksNext = 0;

  constructor(private readonly options: WorkloadOptions) {}

  start(): void {
    const { options } = this;
    for (let w = 0; w < options.httpWriters; w++) {
      this.running.push(this.writer(`${options.name}-http${w}`, (namespace, value) => appendOverHttp(options.url, namespace, value, options.requestTimeoutMs)));
    }
    for (let w = 0; w < (options.idempotentHttpWriters ?? 0); w++) this.running.push(this.idempotentWriter(`${options.name}-idem${w}`, (options.producerIdBase ?? 1) + w));
    for (let c = 0; c < options.clientWriters; c++) {
      // No acknowledgement deadline: a broker that never answers a batch must stay visible to the liveness check, not be resent.
      const client = new FloClient(options.clientUrls ?? options.url, { timeoutMs: options.requestTimeoutMs, closeTimeoutMs: options.requestTimeoutMs, ackTimeoutMs: 24 * 3_600_000 });
      this.clients.push(client);
      for (let k = 0; k < options.clientInFlight; k++) {
        const remember = options.clientUrls === undefined;
        this.running.push(this.writer(`${options.name}-client${c}.${k}`, (namespace, value) => client.produce({ namespace, data: value }).then((id): Outcome => ({ type: 'ok', id }), classify), remember));
      }
    }
    for (let r = 0; r < options.pointReaders; r++) this.running.push(this.pointReader(`${options.name}-reader${r}`));
  }

  private rememberAck(id: string): void {
    if (this.recentAcks.length < RECENT_ACKS) this.recentAcks.push(id);
    else this.recentAcks[this.recentAcksNext++ % RECENT_ACKS] = id;
  }

  private async pointReader(process: string): Promise<void> {
    const random = this.options.random.fork();
    const { recorder, url, requestTimeoutMs } = this.options;
    for (let n = 0; n < this.options.maxAppendsPerWriter && !this.stopping; n++) {
      if (this.recentAcks.length > 0) {
        const id = this.recentAcks[random.nextInt(this.recentAcks.length)]!;
        const invokedAt = recorder.now;
        const read: Omit<PointRead, 'completedAt'> = { process, broker: this.options.name, id, invokedAt, ...(await readById(url, id, requestTimeoutMs)) };
        this.pointReads.push({ ...read, completedAt: recorder.now });
      }
      await sleep(10 * this.options.pauseBetweenAppendsMs + random.nextInt(20));
    }
  }

  private async writer(process: string, append: (namespace: string, value: string, n: number) => Promise<Outcome>, rememberAcks = true): Promise<void> {
    const random = this.options.random.fork();
    for (let n = 0; n < this.options.maxAppendsPerWriter && !this.stopping; n++) {
      const namespace = this.options.namespaces[random.nextInt(this.options.namespaces.length)]!;
      const value = `${process}:${n}`;
      this.options.recorder.record({ process, type: 'invoke', namespace, value });
      const outcome = await append(namespace, value, n);
      this.options.recorder.record({ process, namespace, value, ...outcome });
      if (outcome.type === 'ok' && rememberAcks) this.rememberAck(outcome.id);
      // Back off after a failure, so a broker that is down is not hammered with doomed requests.
      await sleep(outcome.type === 'ok' ? this.options.pauseBetweenAppendsMs : 50 + random.nextInt(100));
    }
  }

  /**
   * One request at a time, sequence n for its n-th event; an unknown outcome is sent again,
   * same sequence, until the broker answers or definitely refuses (bounded). Even after stop()
   * it finishes its retries, so what it leaves unknown is a real give-up.
   */
  private idempotentWriter(process: string, producerId: number): Promise<void> {
    const random = this.options.random.fork();
    const { url, requestTimeoutMs } = this.options;
    return this.writer(process, async (namespace, value, n) => {
      const startedAtMs = Date.now();
      let outcome = await appendOverHttp(url, namespace, value, requestTimeoutMs, { id: producerId, sequence: n });
      const attempts: string[] = [];
      const withAttempts = (final: Outcome): Outcome => (attempts.length > 0 ? { ...final, attempts } : final);
      for (let attempt = 1; outcome.type !== 'ok' && attempt < IDEMPOTENT_MAX_ATTEMPTS; attempt++) {
        attempts.push(`${outcome.type} ${outcome.error} at ${Date.now() - startedAtMs} ms`);
        const refusedAtConnect = outcome.type === 'fail' && outcome.error === 'ECONNREFUSED';
        if (outcome.type === 'fail' && !refusedAtConnect) break;
        if (Date.now() - startedAtMs > IDEMPOTENT_MAX_RETRY_MS) break;
        await sleep(100 + random.nextInt(200));
        this.idempotent.retries++;
        outcome = await appendOverHttp(url, namespace, value, requestTimeoutMs, { id: producerId, sequence: n });
        if (outcome.type === 'ok') this.idempotent.answeredAfterRetry++;
        if (outcome.type === 'fail' && outcome.error === 'FLO_ERR_SEQUENCE_STALE') {
          // A retry refused as stale: the broker lost track of the first attempt, which may be stored.
          this.idempotent.staleOnRetry++;
          return withAttempts({ type: 'info', error: 'FLO_ERR_SEQUENCE_STALE on a retry' });
        }
      }
      // Refused at connect is definite only if no earlier attempt might have been stored.
      const earlierUnknown = attempts.some((attempt) => attempt.startsWith('info '));
      if (outcome.type === 'fail' && outcome.error === 'ECONNREFUSED' && earlierUnknown) outcome = { type: 'info', error: 'ECONNREFUSED after an attempt of unknown outcome' };
      if (outcome.type === 'info') this.idempotent.gaveUp++;
      return withAttempts(outcome);
    });
  }

  /** Stops starting appends and waits for every one in flight to complete. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.running);
    await Promise.all(this.clients.map((client) => client.close()));
  }
}

/** A live subscription from `earliest` over `glob`; after an error it starts over as a new record. */
export class LiveSubscriber {
  readonly records: SubscriptionRecord[] = [];
  private client: FloClient | undefined;
  private closed = false;
  private loop: Promise<void> | undefined;

  /** `urls`: one broker, or a cluster's brokers (its own first), over which the client moves the subscription. */
  constructor(private readonly name: string, private readonly broker: string, private readonly url: string | readonly string[], private readonly glob: string, private readonly maxRestarts = 50) {}

  get current(): SubscriptionRecord | undefined {
    return this.records.at(-1);
  }

  start(): void {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    for (let attempt = 0; attempt <= this.maxRestarts && !this.closed; attempt++) {
      const record: SubscriptionRecord = { subscriber: attempt === 0 ? this.name : `${this.name}#${attempt}`, broker: this.broker, fromEarliest: true, deliveries: [] };
      this.records.push(record);
      this.client = new FloClient(this.url, { timeoutMs: 5_000 });
      try {
        for await (const event of this.client.subscribe({ namespace: this.glob, from: 'earliest' })) {
          record.deliveries.push({ id: event.id, namespace: event.namespace, value: event.text() });
        }
        if (this.closed) return;
        record.error = 'ended without being closed';
      } catch (error) {
        if (this.closed) return;
        record.error = error instanceof FloError ? error.code : String(error);
      } finally {
        await this.client.close();
      }
      await sleep(200);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.client?.close();
    await this.loop;
  }
}

interface ReadPage {
  events: Array<{ id: string; namespace: string; data?: string; dataBase64?: string }>;
  cursor: string;
  endOfStream: boolean;
}

/**
 * Reads every event matching `glob` over plain HTTP, page after page, in the order the
 * broker returns them, until the broker says the end is reached. A page may hold fewer
 * events than asked (or none) and still not be the end, e.g. across an offset gap.
 */
export async function readEverything(url: string, glob: string, maxPages: number): Promise<ObservedEvent[]> {
  const events: ObservedEvent[] = [];
  let from = 'earliest';
  for (let page = 0; page < maxPages; page++) {
    const query = new URLSearchParams({ namespace: glob, from, limit: '10000' });
    const response = await fetch(`${url}/v1/events?${query}`, { signal: AbortSignal.timeout(30_000) });
    if (!response.ok) throw new Error(`final read of ${url} failed: ${response.status} ${await response.text()}`);
    const body = (await response.json()) as ReadPage;
    for (const event of body.events) {
      events.push({ id: event.id, namespace: event.namespace, value: eventValue(event) });
    }
    if (body.endOfStream) return events;
    if (body.cursor === from) throw new Error(`final read of ${url} is stuck at ${from} before the end of the stream`);
    from = body.cursor;
  }
  throw new Error(`final read of ${url} did not end within ${maxPages} pages`);
}
