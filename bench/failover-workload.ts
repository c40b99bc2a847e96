// W8, failover: a producer at a fixed rate and one live subscriber on everything,
// both attached to a node that survives; at killAt the node leading the most groups is
// killed with SIGKILL, at restartAt it is started again, sending stops at endAt. The
// producer re-sends what failed or went unacknowledged (as any producer that must not
// lose events does), so what counts is: the longest silence between acks and between
// deliveries, how long until every group had a live leader, acknowledged events missing
// from the store afterwards (must be 0) and events stored or delivered twice.

import { performance } from 'node:perf_hooks';
import { type ClusterDriver, type FailoverControl } from './drivers/cluster.js';
import { NAMESPACE_COUNT } from './drivers/driver.js';
import { isWarmup, PAYLOAD_BYTES, timedPayload, warmupPayload } from './lib/events.js';
import { waitUntil } from './lib/proc.js';

export interface FailoverTimeline {
  readonly ratePerSecond: number;
  readonly killAtMs: number;
  readonly restartAtMs: number;
  readonly endAtMs: number;
}

export interface FailoverResult {
  readonly events: number;
  readonly victim: string;
  readonly longestAckGapMs: number;
  readonly longestDeliveryGapMs: number;
  /** Longest time from an event's first send to its first acknowledgement. */
  readonly longestAckWaitMs: number;
  /** From the SIGKILL until every group had a leader other than the killed node, in every live node's view. */
  readonly leaderlessMs: number;
  readonly ackedLost: number;
  readonly ackedNotDelivered: number;
  readonly duplicatesStored: number;
  readonly duplicatesDelivered: number;
  readonly resends: number;
  readonly produceErrors: number;
  /** Produce errors by the client's error code (or message), to tell refusals from lost connections. */
  readonly errorCodes: Record<string, number>;
  readonly idempotentProducer: boolean;
}

/** Pause before re-sending an event whose send failed, doubled per failed send up to the maximum. */
export const RETRY_DELAY_MS = 100;
export const MAX_RETRY_DELAY_MS = 1_000;
/** Sends of one event before the run fails instead of retrying for ever. */
export const MAX_SENDS_PER_EVENT = 500;
/** How often unacknowledged events are checked for a re-send. */
const SWEEP_INTERVAL_MS = 50;
/** After sending stops: time for the last acks, then for the subscriber to catch up. */
export const DRAIN_TIMEOUT_MS = 60_000;
/** After sending stops, a subscriber silent this long while missing acknowledged events is taken as never delivering them. */
export const DELIVERY_QUIET_MS = 5_000;
/** How often the leaders are polled after the kill. */
const LEADER_POLL_MS = 50;
const LEADER_TIMEOUT_MS = 60_000;
/** Byte offset of the event index inside a timed payload (after the send time, clear of the warm-up marker). */
const INDEX_OFFSET = 16;

function indexedPayload(index: number): Uint8Array {
  const payload = timedPayload(index) as Buffer;
  payload.writeUInt32LE(index, INDEX_OFFSET);
  return payload;
}

function indexOf(data: Uint8Array): number {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).readUInt32LE(INDEX_OFFSET);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Counts per index, and the longest gap between successive counted arrivals. */
class Arrivals {
  readonly counts: Uint16Array;
  longestGapMs = 0;
  private lastAt: number | undefined;

  constructor(total: number) {
    this.counts = new Uint16Array(total);
  }

  /** Records an event's arrival; returns false for data that is no event of this run. */
  add(data: Uint8Array): boolean {
    if (data.length !== PAYLOAD_BYTES || isWarmup(data)) return false;
    return this.addIndex(indexOf(data), performance.now());
  }

  addIndex(index: number, now: number): boolean {
    if (index >= this.counts.length) return false;
    this.counts[index] = Math.min(0xffff, (this.counts[index] as number) + 1);
    if (this.lastAt !== undefined) this.longestGapMs = Math.max(this.longestGapMs, now - this.lastAt);
    this.lastAt = now;
    return true;
  }

  lastArrivalAt(): number {
    return this.lastAt ?? Number.NEGATIVE_INFINITY;
  }

  duplicates(): number {
    let extra = 0;
    for (const count of this.counts) if (count > 1) extra += count - 1;
    return extra;
  }
}

export async function failoverWorkload(driver: ClusterDriver, timeline: FailoverTimeline): Promise<FailoverResult> {
  const failover = driver.failover;
  if (!failover) throw new Error(`${driver.system} has no failover control`);
  const total = Math.round((timeline.ratePerSecond * timeline.endAtMs) / 1000);
  const survivor = await failover.pickSurvivor();
  const delivered = new Arrivals(total);
  let warm = false;
  const subscription = await failover.subscribeLive(survivor, (data) => {
    if (isWarmup(data)) warm = true;
    else delivered.add(data);
  });
  const sender = new ResendingSender(total, failover.ackTimeoutMs);
  const producer = await driver.openProducer((index, error) => sender.settle(index, error), { attachTo: survivor, failover: true });
  sender.attach((index) => producer.send(index, index % NAMESPACE_COUNT, indexedPayload(index)));
  try {
    // Warm-up events carry negative indexes, each its own (JetStream would drop a repeated message id).
    let warmups = 0;
    await waitUntil(`${driver.system} live subscription`, () => {
      if (!warm) producer.send(-(++warmups), 0, warmupPayload());
      return warm;
    }, 20_000, 100);
    const leaderless = await runTimeline(failover, sender, timeline, total);
    await waitUntil(`${driver.system} last acks`, () => sender.allAcked(), DRAIN_TIMEOUT_MS, 20);
    sender.stop();
    // The subscriber has caught up once it holds every acknowledged event, or has given up once it stays silent.
    await waitUntil(`${driver.system} live deliveries`, () => sender.ackedMissingFrom(delivered.counts) === 0
      || performance.now() - delivered.lastArrivalAt() > DELIVERY_QUIET_MS, DRAIN_TIMEOUT_MS, 50);
    const stored = new Arrivals(total);
    await failover.replayAll(survivor, (data) => { stored.add(data); });
    return {
      events: total,
      victim: leaderless.victim,
      longestAckGapMs: sender.acks.longestGapMs,
      longestDeliveryGapMs: delivered.longestGapMs,
      longestAckWaitMs: sender.longestAckWaitMs,
      leaderlessMs: leaderless.ms,
      ackedLost: sender.ackedMissingFrom(stored.counts),
      ackedNotDelivered: sender.ackedMissingFrom(delivered.counts),
      duplicatesStored: stored.duplicates(),
      duplicatesDelivered: delivered.duplicates(),
      resends: sender.resends,
      produceErrors: sender.errors,
      errorCodes: Object.fromEntries(sender.errorCodes),
      idempotentProducer: failover.idempotentProducer,
    };
  } finally {
    sender.stop();
    await producer.close().catch(() => undefined);
    await subscription.close().catch(() => undefined);
  }
}

/** Paces sends until endAt while killing and restarting the victim on schedule; resolves with how long groups went leaderless. */
async function runTimeline(failover: FailoverControl, sender: ResendingSender, timeline: FailoverTimeline, total: number): Promise<{ victim: string; ms: number }> {
  const startedAt = performance.now();
  sender.startPacing(startedAt, timeline.ratePerSecond, total);
  await sleep(timeline.killAtMs);
  const victim = await failover.pickVictim();
  const victimName = failover.nodeName(victim);
  const killedAt = performance.now();
  await failover.kill(victim);
  let ledAt: number | undefined;
  const leaders = (async (): Promise<void> => {
    const deadline = killedAt + LEADER_TIMEOUT_MS;
    while (ledAt === undefined && performance.now() < deadline) {
      if (await failover.allGroupsLed(victim).catch(() => false)) ledAt = performance.now();
      else await sleep(LEADER_POLL_MS);
    }
  })();
  await sleep(Math.max(0, startedAt + timeline.restartAtMs - performance.now()));
  await failover.restart(victim);
  await sleep(Math.max(0, startedAt + timeline.endAtMs - performance.now()));
  await sender.paced;
  await leaders;
  return { victim: victimName, ms: ledAt === undefined ? Number.NaN : ledAt - killedAt };
}

/**
 * Sends each event, then again after an error (with backoff) or, where the system's
 * client may never answer, `ackTimeoutMs` of silence, until acknowledged; the first
 * acknowledgement counts. Indexes below 0 are
 * warm-up events, acknowledged without bookkeeping.
 */
class ResendingSender {
  readonly acks: Arrivals;
  resends = 0;
  errors = 0;
  readonly errorCodes = new Map<string, number>();
  longestAckWaitMs = 0;
  paced: Promise<void> = Promise.resolve();
  private send: (index: number) => void = () => undefined;
  private readonly acked: Uint8Array;
  private readonly firstSentAt: Float64Array;
  private readonly dueAt: Float64Array;
  private readonly sends: Uint16Array;
  private sent = 0;
  private lowestUnacked = 0;
  private sweeper: NodeJS.Timeout | undefined;
  private failure: Error | undefined;
  private stopped = false;

  constructor(private readonly total: number, private readonly ackTimeoutMs: number | undefined) {
    this.acks = new Arrivals(total);
    this.acked = new Uint8Array(total);
    this.firstSentAt = new Float64Array(total);
    this.dueAt = new Float64Array(total);
    this.sends = new Uint16Array(total);
  }

  attach(send: (index: number) => void): void {
    this.send = send;
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
  }

  startPacing(startedAt: number, ratePerSecond: number, total: number): void {
    this.paced = new Promise((resolve) => {
      const tick = (): void => {
        if (this.stopped) return resolve();
        const due = Math.min(total, Math.floor(((performance.now() - startedAt) * ratePerSecond) / 1000) + 1);
        while (this.sent < due) this.sendOne(this.sent++);
        if (this.sent < total) setTimeout(tick, 1);
        else resolve();
      };
      tick();
    });
  }

  private sendOne(index: number): void {
    const now = performance.now();
    if (this.sends[index] === 0) this.firstSentAt[index] = now;
    else this.resends += 1;
    this.sends[index] = (this.sends[index] as number) + 1;
    if ((this.sends[index] as number) > MAX_SENDS_PER_EVENT) {
      this.failure ??= new Error(`event ${index} sent ${MAX_SENDS_PER_EVENT} times without an acknowledgement`);
      return;
    }
    this.dueAt[index] = this.ackTimeoutMs === undefined ? Number.POSITIVE_INFINITY : now + this.ackTimeoutMs;
    this.send(index);
  }

  settle(index: number, error?: Error): void {
    if (index < 0 || this.acked[index] === 1) return;
    const now = performance.now();
    if (error) {
      this.errors += 1;
      const code = (error as { code?: unknown }).code;
      const key = `${typeof code === "string" ? code : ""} ${error.message.slice(0, 100)}`;
      this.errorCodes.set(key, (this.errorCodes.get(key) ?? 0) + 1);
      const delayMs = Math.min(MAX_RETRY_DELAY_MS, RETRY_DELAY_MS * 2 ** ((this.sends[index] as number) - 1));
      this.dueAt[index] = Math.min(this.dueAt[index] as number, now + delayMs);
      return;
    }
    this.acked[index] = 1;
    this.longestAckWaitMs = Math.max(this.longestAckWaitMs, now - (this.firstSentAt[index] as number));
    this.acks.addIndex(index, now);
  }

  private advanceLowestUnacked(): void {
    while (this.lowestUnacked < this.sent && this.acked[this.lowestUnacked] === 1) this.lowestUnacked += 1;
  }

  private sweep(): void {
    if (this.stopped) return;
    const now = performance.now();
    this.advanceLowestUnacked();
    for (let index = this.lowestUnacked; index < this.sent; index += 1) {
      if (this.acked[index] === 0 && (this.dueAt[index] as number) <= now) this.sendOne(index);
    }
  }

  allAcked(): boolean {
    if (this.failure) throw this.failure;
    this.advanceLowestUnacked();
    return this.lowestUnacked === this.total;
  }

  /** Acknowledged events counted 0 times in `counts`. */
  ackedMissingFrom(counts: Uint16Array): number {
    let missing = 0;
    for (let index = 0; index < this.total; index += 1) if (this.acked[index] === 1 && counts[index] === 0) missing += 1;
    return missing;
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.sweeper);
  }
}
