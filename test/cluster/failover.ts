// Fails the leader of most partitions while a plain-HTTP producer keeps
// writing through a surviving broker and a subscriber tails on the other, then
// checks: no acknowledged event lost, each namespace in request order, the
// subscriber saw every acked event once, every failed request was a retryable
// 503 problem (never a 500 or a hang), and after the heal every broker holds
// the same partitions. Shared by the kill -9 and SIGSTOP tests.
import { expect } from 'vitest';
import { connect, type FloEvent } from '../../src/client/index.js';
import type { TestCluster } from '../support/cluster.js';
import { waitFor } from '../support/temp.js';
import { byPartition, failureLabel, isRetryableUnavailable, postEvents, readAll, type Answer } from './http.js';

/** Concurrent producers, each writing its own namespace one request at a time, so a namespace's order is the order of its requests. */
const WRITERS = 4;
const EVENTS_PER_REQUEST = 5;

export interface ProduceRun {
  acked: Map<string, string>;
  failures: Answer[];
  requests: number;
  /** The payloads of the requests that failed: their outcome is unknown, so they may be stored or not (never twice). */
  failedPayloads: string[];
  stop: () => Promise<void>;
}

export function produceContinuously(brokerUrl: string): ProduceRun {
  const run: ProduceRun = { acked: new Map(), failures: [], requests: 0, failedPayloads: [], stop: async () => undefined };
  let stopping = false;
  const writers = Array.from({ length: WRITERS }, async (_, writer) => {
    for (let seq = 0; !stopping && seq < 1_000_000; seq++) {
      const events = Array.from({ length: EVENTS_PER_REQUEST }, (_, i) => ({ namespace: `/failover/${writer}`, data: `${writer}:${seq}:${i}` }));
      run.requests++;
      const answer = await postEvents(brokerUrl, { events });
      if (answer.status === 201) (answer.body as { ids: string[] }).ids.forEach((id, i) => run.acked.set(id, events[i]!.data));
      else {
        run.failures.push(answer);
        run.failedPayloads.push(...events.map((e) => e.data));
      }
    }
  });
  run.stop = async () => {
    stopping = true;
    await Promise.all(writers);
  };
  return run;
}

/** Whether every acknowledged event is there with its payload (then checkStored says the rest). */
export function holdsEvery(events: readonly { id: string; data?: string }[], acked: Map<string, string>): boolean {
  const byId = new Map(events.map((e) => [e.id, e.data]));
  for (const [id, data] of acked) if (byId.get(id) !== data) return false;
  return true;
}

/** Every acked event stored with its payload; each namespace in request order; nothing twice. */
export function checkStored(events: readonly { id: string; namespace: string; data?: string }[], acked: Map<string, string>, where: string): void {
  const byId = new Map(events.map((e) => [e.id, e.data]));
  expect(byId.size, `${where}: ids are unique`).toBe(events.length);
  const missing = [...acked].filter(([id, data]) => byId.get(id) !== data);
  expect(missing, `${where}: acknowledged events missing or changed`).toEqual([]);
  const payloads = events.map((e) => e.data);
  expect(new Set(payloads).size, `${where}: no payload stored twice`).toBe(payloads.length);
  for (let writer = 0; writer < WRITERS; writer++) {
    const order = events.filter((e) => e.namespace === `/failover/${writer}`).map((e) => e.data!.split(':').slice(1).map(Number));
    const sorted = [...order].sort((x, y) => x[0]! - y[0]! || x[1]! - y[1]!);
    expect(order, `${where}: /failover/${writer} in request order`).toEqual(sorted);
  }
}

export function summarize(label: string, run: ProduceRun): void {
  const codes = new Map<string, number>();
  for (const failure of run.failures) codes.set(failureLabel(failure), (codes.get(failureLabel(failure)) ?? 0) + 1);
  const slowest = Math.max(0, ...run.failures.map((f) => f.elapsedMs));
  console.log(`${label}: ${run.requests} requests, ${run.acked.size} events acknowledged, ${run.failures.length} failed ${JSON.stringify(Object.fromEntries(codes))}, slowest failure ${slowest} ms`);
}

export async function tail(brokerUrl: string): Promise<{ events: FloEvent[]; close: () => Promise<void> }> {
  const client = await connect(brokerUrl);
  const events: FloEvent[] = [];
  const subscription = client.subscribe({ namespace: '/failover/**', from: 'earliest' });
  const done = (async () => {
    for await (const event of subscription) events.push(event);
  })();
  return {
    events,
    close: async () => {
      await client.close();
      await done.catch(() => undefined);
    },
  };
}

/** Fails the leader of most partitions mid-produce, heals it, and checks everything; `fail` does the harm, `heal` undoes it. */
export async function failLeaderWhileProducing(cluster: TestCluster, label: string, fail: (nodeId: number) => Promise<void>, heal: (nodeId: number) => Promise<void>): Promise<ProduceRun> {
  const leader = await cluster.leaderOfMost();
  const [entry, watcher] = cluster.brokers.filter((b) => b.nodeId !== leader.nodeId);
  const subscriber = await tail(watcher!.url);
  const run = produceContinuously(entry!.url);
  try {
    await waitFor(() => run.acked.size >= 500, 'events acknowledged before the failure', 20_000);
    const ackedBefore = run.acked.size;
    await fail(leader.nodeId);
    // Progress after the failure: the surviving pair elected new leaders and took appends.
    await waitFor(() => run.acked.size >= ackedBefore + 500, `appends acknowledged after broker ${leader.nodeId} failed`, 20_000);
  } finally {
    await run.stop();
  }
  summarize(`${label} (broker ${leader.nodeId} led partitions ${leader.partitions.join(',')})`, run);

  const unexpected = run.failures.filter((f) => !isRetryableUnavailable(f));
  expect(unexpected.map((f) => `${failureLabel(f)} after ${f.elapsedMs} ms: ${JSON.stringify(f.body)}`), `failures that are not 503 retryable problems; errors logged:\n${cluster.errors()}`).toEqual([]);

  for (const survivor of [entry!, watcher!]) {
    const stored = await waitFor(async () => {
      const page = await readAll(survivor.url, { namespace: '/failover/**' });
      return holdsEvery(page.events, run.acked) ? page.events : false;
    }, `broker ${survivor.nodeId} to hold every acknowledged event`).catch(async (error: Error) => (await readAll(survivor.url, { namespace: '/failover/**' }).catch(() => { throw error; })).events);
    checkStored(stored, run.acked, `broker ${survivor.nodeId}`);
    const payloads = new Set(stored.map((e) => e.data));
    console.log(`${label}: of ${run.failures.length} failed requests, ${run.failedPayloads.filter((p) => payloads.has(p)).length / EVENTS_PER_REQUEST} were stored anyway (broker ${survivor.nodeId})`);
  }

  await waitFor(() => {
    const seen = new Set(subscriber.events.map((e) => e.id));
    return [...run.acked.keys()].every((id) => seen.has(id));
  }, 'the subscriber to see every acknowledged event', 20_000)
    .catch((error: Error) => {
      const seen = new Set(subscriber.events.map((e) => e.id));
      throw new Error(`${error.message}: ${[...run.acked.keys()].filter((id) => !seen.has(id)).length} acked events never delivered`);
    });
  await subscriber.close();
  checkStored(subscriber.events.map((e) => ({ id: e.id, namespace: e.namespace, data: e.text() })), run.acked, `subscriber on broker ${watcher!.nodeId}`);

  await heal(leader.nodeId);
  await cluster.waitFormed();
  // Counting is not enough: requests that failed may be stored too, so a broker still catching up can hold as many events.
  const everywhere = await Promise.all(cluster.brokers.map((broker) => waitFor(async () => {
    const page = await readAll(broker.url, { namespace: '/failover/**' });
    return holdsEvery(page.events, run.acked) ? page.events : false;
  }, `broker ${broker.nodeId} to hold every acknowledged event after the heal`, 30_000)
    .catch(async (error: Error) => (await readAll(broker.url, { namespace: '/failover/**' }).catch(() => { throw error; })).events)));
  checkStored(everywhere[leader.nodeId - 1]!, run.acked, `healed broker ${leader.nodeId}`);
  // A page starts at a rotating partition, so brokers interleave partitions differently; each partition's sequence is the same.
  for (const events of everywhere) expect(byPartition(events)).toEqual(byPartition(everywhere[0]!));
  return run;
}

