// The workloads of WORKLOADS.md written once against SystemDriver: W1 produce, W2 replay,
// W5 selective replay, W3 tail latency, W6 fan-out. Each returns its figures plus the
// client CPU (process.cpuUsage) and server CPU (/proc/<pid>/stat) spent while it ran.
// Every wait is bounded by a deadline; a workload that misses events throws rather than
// reporting a rate over fewer events than it claims.

import { performance } from 'node:perf_hooks';
import { type ServerCounters, type SystemDriver } from './drivers/driver.js';
import { NAMESPACE_COUNT } from './drivers/driver.js';
import { ageMs, isWarmup, PAYLOAD_BYTES, randomPayload, timedPayload, warmupPayload } from './lib/events.js';
import { machineBusySeconds, processCpuSeconds, RssSampler, waitUntil } from './lib/proc.js';
import { summarizeLatency } from './lib/stats.js';

/** Upper bound on any one workload phase; past it the run fails instead of hanging. */
export const WORKLOAD_TIMEOUT_MS = 180_000;
/** Interval between warm-up events while waiting for live subscriptions to be in place. */
export const WARMUP_INTERVAL_MS = 100;
export const WARMUP_TIMEOUT_MS = 20_000;

export interface Cost {
  readonly seconds: number;
  readonly clientCpuSeconds: number;
  readonly serverCpuSeconds: number;
  /** CPU seconds used by everything else on the machine meanwhile (other users' work). */
  readonly otherCpuSeconds: number;
}

/** Flo's group commits during a workload (NaN for systems that do not report them). */
export interface CommitStats {
  readonly commitsPerSecond: number;
  readonly eventsPerCommit: number;
  readonly commitMeanMs: number;
}

export interface ProduceResult extends Cost, CommitStats {
  readonly events: number;
  readonly eventsPerSecond: number;
  readonly megabytesPerSecond: number;
  readonly ackP50Ms: number;
  readonly ackP99Ms: number;
  readonly ackMaxMs: number;
  readonly serverPeakRssBytes: number;
}

export interface ReplayResult extends Cost {
  readonly events: number;
  readonly eventsPerSecond: number;
  /** Server-reported log bytes read during the replay (Flo only). */
  readonly logReadBytes: number;
}

export interface TailResult extends Cost, CommitStats {
  readonly events: number;
  readonly ratePerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export interface FanoutResult extends Cost {
  readonly subscribers: number;
  readonly deliveries: number;
  readonly deliveriesPerSecond: number;
  readonly produce: ProduceResult;
}

/** What W1 needs of a system: the cluster drivers are adapted to it for W4. */
export type ProduceTarget = Pick<SystemDriver, 'system' | 'serverPid' | 'openProducer' | 'counters'>;

const NO_COUNTERS: ServerCounters = { logReadBytes: Number.NaN, commits: Number.NaN, commitSeconds: Number.NaN, commitEvents: Number.NaN };

async function counters(driver: ProduceTarget): Promise<ServerCounters> {
  return driver.counters ? driver.counters() : NO_COUNTERS;
}

function commitStats(before: ServerCounters, after: ServerCounters, seconds: number): CommitStats {
  const commits = after.commits - before.commits;
  return {
    commitsPerSecond: commits / seconds,
    eventsPerCommit: (after.commitEvents - before.commitEvents) / commits,
    commitMeanMs: (1000 * (after.commitSeconds - before.commitSeconds)) / commits,
  };
}

/** Runs `body` and adds the wall time and both sides' CPU time it took. */
async function measured<T>(driver: ProduceTarget, body: () => Promise<T>): Promise<T & Cost> {
  const pid = driver.serverPid();
  const serverBefore = processCpuSeconds(pid);
  const machineBefore = machineBusySeconds();
  const clientBefore = process.cpuUsage();
  const startedAt = performance.now();
  const result = await body();
  const seconds = (performance.now() - startedAt) / 1000;
  const client = process.cpuUsage(clientBefore);
  const clientCpuSeconds = (client.user + client.system) / 1e6;
  const serverCpuSeconds = processCpuSeconds(pid) - serverBefore;
  const otherCpuSeconds = Math.max(0, machineBusySeconds() - machineBefore - clientCpuSeconds - serverCpuSeconds);
  return { ...result, seconds, clientCpuSeconds, serverCpuSeconds, otherCpuSeconds };
}

function deadline<T>(what: string, promise: Promise<T>, timeoutMs = WORKLOAD_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no completion within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, expiry]).finally(() => clearTimeout(timer));
}

/** W1: `events` random payloads from one connection, at most `window` unacknowledged. */
export async function produceWorkload(driver: ProduceTarget, events: number, window: number): Promise<ProduceResult> {
  const sentAt = new Float64Array(events);
  const latency = new Float64Array(events);
  const rss = new RssSampler(driver.serverPid());
  let next = 0;
  let acked = 0;
  let failure: Error | undefined;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => { finish = resolve; });
  const producer = await driver.openProducer((index, error) => {
    latency[index] = performance.now() - (sentAt[index] as number);
    if (error) failure ??= error;
    acked += 1;
    if (acked === events) finish();
    else pump();
  });
  const pump = (): void => {
    while (next < events && next - acked < window) {
      const index = next;
      next += 1;
      sentAt[index] = performance.now();
      producer.send(index, index % NAMESPACE_COUNT, randomPayload(index));
    }
  };
  try {
    const countersBefore = await counters(driver);
    const cost = await measured(driver, async () => {
      pump();
      await deadline(`${driver.system} produce`, done);
      return {};
    });
    if (failure) throw failure;
    const ack = summarizeLatency(latency);
    return {
      ...cost,
      ...commitStats(countersBefore, await counters(driver), cost.seconds),
      events,
      eventsPerSecond: events / cost.seconds,
      megabytesPerSecond: (events * PAYLOAD_BYTES) / 1e6 / cost.seconds,
      ackP50Ms: ack.p50Ms, ackP99Ms: ack.p99Ms, ackMaxMs: ack.maxMs,
      serverPeakRssBytes: rss.stop(),
    };
  } finally {
    rss.stop();
    await producer.close();
  }
}

/** W2 (namespaceIndex null) and W5 (one namespace): read everything stored from the start. */
export async function replayWorkload(driver: SystemDriver, namespaceIndex: number | null, expected: number): Promise<ReplayResult> {
  const readBefore = (await counters(driver)).logReadBytes;
  let bytes = 0;
  const cost = await measured(driver, async () => {
    const events = await deadline(`${driver.system} replay`, driver.replay(namespaceIndex, expected, (data) => { bytes += data.length; }));
    return { events };
  });
  const readAfter = (await counters(driver)).logReadBytes;
  if (cost.events !== expected || bytes !== expected * PAYLOAD_BYTES) {
    throw new Error(`${driver.system} replay read ${cost.events} events (${bytes} bytes), expected ${expected}`);
  }
  return { ...cost, eventsPerSecond: cost.events / cost.seconds, logReadBytes: readAfter - readBefore };
}

/** Sends warm-up events until `ready()` holds: proves live subscriptions are in place. */
async function warmUp(driver: SystemDriver, ready: () => boolean): Promise<void> {
  let pending = 0;
  let failure: Error | undefined;
  const producer = await driver.openProducer((_, error) => {
    pending -= 1;
    if (error) failure ??= error;
  });
  try {
    await waitUntil(`${driver.system} live subscriptions`, () => {
      if (failure) throw failure;
      if (ready()) return true;
      pending += 1;
      producer.send(0, 0, warmupPayload());
      return false;
    }, WARMUP_TIMEOUT_MS, WARMUP_INTERVAL_MS);
    await waitUntil(`${driver.system} warm-up acks`, () => pending === 0, WARMUP_TIMEOUT_MS);
  } finally {
    await producer.close();
  }
}

/** W3: one live subscriber on everything; a producer at `ratePerSecond` for `durationMs`. */
export async function tailWorkload(driver: SystemDriver, ratePerSecond: number, durationMs: number): Promise<TailResult> {
  const total = Math.round((ratePerSecond * durationMs) / 1000);
  const latency = new Float64Array(total);
  let received = 0;
  let warm = false;
  const subscription = await driver.subscribeLive((data) => {
    if (isWarmup(data)) warm = true;
    else if (received < total) latency[received++] = ageMs(data);
  });
  try {
    await warmUp(driver, () => warm);
    let failure: Error | undefined;
    const producer = await driver.openProducer((_, error) => { if (error) failure ??= error; });
    try {
      const countersBefore = await counters(driver);
      const cost = await measured(driver, async () => {
        await deadline(`${driver.system} paced produce`, pacedSend(total, ratePerSecond, (index) => producer.send(index, index % NAMESPACE_COUNT, timedPayload(index))));
        await waitUntil(`${driver.system} tail deliveries`, () => received >= total, WORKLOAD_TIMEOUT_MS, 5);
        return {};
      });
      if (failure) throw failure;
      const summary = summarizeLatency(latency, received);
      return { ...cost, ...commitStats(countersBefore, await counters(driver), cost.seconds), events: received, ratePerSecond, ...summary };
    } finally {
      await producer.close();
    }
  } finally {
    await subscription.close();
  }
}

/** Calls `send(i)` for i in 0..total-1 at a fixed rate, catching up in small bursts per timer tick. */
function pacedSend(total: number, ratePerSecond: number, send: (index: number) => void): Promise<void> {
  return new Promise((resolve) => {
    const startedAt = performance.now();
    let sent = 0;
    const tick = (): void => {
      const due = Math.min(total, Math.floor(((performance.now() - startedAt) * ratePerSecond) / 1000) + 1);
      while (sent < due) send(sent++);
      if (sent < total) setTimeout(tick, 1);
      else resolve();
    };
    tick();
  });
}

/** W6: `subscribers` live subscribers on everything while W1 runs. */
export async function fanoutWorkload(driver: SystemDriver, subscribers: number, events: number, window: number): Promise<FanoutResult> {
  const delivered = new Array<number>(subscribers).fill(0);
  const warm = new Array<boolean>(subscribers).fill(false);
  let lastDeliveryAt = 0;
  const subscriptions = await Promise.all(delivered.map((_, s) => driver.subscribeLive((data) => {
    if (isWarmup(data)) {
      warm[s] = true;
      return;
    }
    delivered[s] = (delivered[s] as number) + 1;
    lastDeliveryAt = performance.now();
  })));
  try {
    await warmUp(driver, () => warm.every(Boolean));
    const startedAt = performance.now();
    const cost = await measured(driver, async () => {
      const produce = await produceWorkload(driver, events, window);
      await waitUntil(`${driver.system} fan-out deliveries`, () => delivered.every((count) => count >= events), WORKLOAD_TIMEOUT_MS, 10);
      return { produce };
    });
    const deliveries = delivered.reduce((sum, count) => sum + count, 0);
    if (deliveries !== subscribers * events) throw new Error(`${driver.system} fan-out delivered ${deliveries}, expected ${subscribers * events}`);
    return { ...cost, subscribers, deliveries, deliveriesPerSecond: deliveries / ((lastDeliveryAt - startedAt) / 1000) };
  } finally {
    await Promise.all(subscriptions.map((subscription) => subscription.close()));
  }
}
