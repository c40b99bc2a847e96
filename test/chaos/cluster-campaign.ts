// The cluster half of a chaos run: N brokers forming one cluster through the
// proxy mesh, one log (namespaces /chaos/n<k>, one history) written through
// every broker — idempotent and plain HTTP writers on each, a cluster-aware
// TypeScript client bootstrapped from each — live subscribers that may move
// between brokers, and at the end a final read from every broker, once the
// healed replicas have converged, all judged together: what one broker
// acknowledged must be on all of them, at the same id, in the same order.
import { join } from 'node:path';
import type { SeededRandom } from '../../src/broker/raft/random.js';
import { checkRunFolder, writeRunArtifacts } from './artifacts.js';
import { settlesWithin } from './bounded.js';
import type { BrokerProcess } from './brokers.js';
import type { CampaignOptions } from './campaign.js';
import type { Verdict } from './checker.js';
import { ChaosCluster } from './cluster.js';
import { HistoryRecorder, type FinalRead, type ObservedEvent } from './history.js';
import { LiveSubscriber, readEverything, Workload } from './workload.js';

export const CLUSTER_GLOB = '/chaos/**';

export interface ClusterRig {
  cluster: ChaosCluster;
  recorder: HistoryRecorder;
  workloads: Workload[];
  subscribers: LiveSubscriber[];
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** The brokers' URLs with broker `first` first: where a client bootstraps, and what it moves to. */
function rotated(urls: readonly string[], first: number): string[] {
  return [...urls.slice(first), ...urls.slice(0, first)];
}

export async function startClusterRig(options: CampaignOptions, dir: string, cliPath: string, random: SeededRandom, started: BrokerProcess[], pacingMs: number, spare = false): Promise<ClusterRig> {
  const cluster = await ChaosCluster.start({ brokers: options.brokers, dir, cliPath, spare }, started);
  const recorder = new HistoryRecorder();
  const namespaces = Array.from({ length: options.namespacesPerBroker ?? 8 }, (_, k) => `/chaos/n${k}`);
  // Producer ids distinct per run and per writer (a run never shares a data dir with another).
  const producerIdBase = (1 + random.fork().nextInt(1 << 30)) * 64;
  // Writers and subscribers on the founders; a slot that joins later is reached through the clients' topology.
  const workloads = cluster.members.map((broker, index) => new Workload({
    name: broker.name, url: broker.url, namespaces, recorder, random: random.fork(), clientUrls: rotated(cluster.urls, index),
    httpWriters: 1, idempotentHttpWriters: 2, clientWriters: 1, clientInFlight: 2, pauseBetweenAppendsMs: pacingMs, requestTimeoutMs: 5_000,
    maxAppendsPerWriter: 200_000, pointReaders: 1, producerIdBase: producerIdBase + index * 8,
    ...options.workload,
  }));
  const subscribers = cluster.members.flatMap((broker, index) => Array.from({ length: options.subscribersPerBroker ?? 1 }, (_, s) =>
    new LiveSubscriber(`${broker.name}-sub${s}`, broker.name, rotated(cluster.urls, index), CLUSTER_GLOB)));
  return { cluster, recorder, workloads, subscribers };
}

/** Namespace → "id=value" list: what must be equal on every broker. */
function perNamespace(events: readonly ObservedEvent[]): string {
  const byNamespace = new Map<string, string[]>();
  for (const event of events) {
    let list = byNamespace.get(event.namespace);
    if (!list) byNamespace.set(event.namespace, (list = []));
    list.push(`${event.id}=${event.value}`);
  }
  return JSON.stringify([...byNamespace].sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * The brokers a final read can be asked: those running. One that is not (it could not restart)
 * is a liveness failure of the run, and the others are still read and judged.
 */
export function finalReadBrokers(brokers: readonly BrokerProcess[], liveness: string[]): BrokerProcess[] {
  for (const broker of brokers) if (!broker.running) liveness.push(`${broker.name} is not running after the heal: no final read from it`);
  return brokers.filter((broker) => broker.running);
}

/** One broker's final read, or why it could not be read (a 503 while it catches up, a refused socket). */
type FinalReadAttempt = FinalRead | { broker: string; error: string };

/**
 * Final reads from every running broker, repeated (bounded) until they all answer and agree: a follower
 * may still be applying what was committed just before the heal. What is left different is divergence;
 * a broker that still cannot be read at the deadline is a liveness failure, and the others are judged.
 */
export async function convergedReads(brokers: readonly { name: string; url: string }[], maxPages: number, liveness: string[], timeoutMs = 30_000): Promise<FinalRead[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const attempts: FinalReadAttempt[] = await Promise.all(brokers.map((broker) => readEverything(broker.url, CLUSTER_GLOB, maxPages).then(
      (events) => ({ broker: broker.name, events }),
      (error: unknown) => ({ broker: broker.name, error: (error as Error).message }))));
    const reads = attempts.filter((attempt): attempt is FinalRead => 'events' in attempt);
    const failed = attempts.filter((attempt) => 'error' in attempt);
    if (failed.length === 0 && new Set(reads.map((read) => perNamespace(read.events))).size <= 1) return reads;
    if (Date.now() > deadline) {
      for (const attempt of failed) if ('error' in attempt) liveness.push(`${attempt.broker} could not be read ${timeoutMs / 1000} s after the heal: ${attempt.error}`);
      if (new Set(reads.map((read) => perNamespace(read.events))).size > 1) {
        liveness.push(`the brokers' final reads still differ ${timeoutMs / 1000} s after the heal (${reads.map((read) => `${read.broker}: ${read.events.length}`).join(', ')})`);
      }
      return reads;
    }
    await sleep(500);
  }
}

async function awaitSubscribers(rig: ClusterRig, expected: number, liveness: string[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (const subscriber of rig.subscribers) {
    while ((subscriber.current?.deliveries.length ?? 0) < expected && Date.now() < deadline) await sleep(50);
    const got = subscriber.current?.deliveries.length ?? 0;
    if (got < expected) liveness.push(`${subscriber.current?.subscriber} delivered ${got} of ${expected} events within 30 s of the heal`);
  }
}

export async function finishClusterRig(rig: ClusterRig, dir: string, liveness: string[]): Promise<Verdict> {
  await rig.cluster.waitAgreed(30_000).catch((error: unknown) => liveness.push(`after the heal: ${(error as Error).message}`));
  const finalReads = await convergedReads(finalReadBrokers(rig.cluster.members, liveness), 100 + rig.recorder.ops.length, liveness);
  await awaitSubscribers(rig, Math.max(0, ...finalReads.map((read) => read.events.length)), liveness);
  for (const subscriber of rig.subscribers) {
    if (!(await settlesWithin(subscriber.close(), 10_000))) liveness.push(`${subscriber.current?.subscriber ?? 'a subscriber'} did not close within 10 s`);
  }
  const logDir = join(dir, 'cluster');
  await writeRunArtifacts(logDir, {
    history: rig.recorder.ops,
    finalReads,
    subscriptions: rig.subscribers.flatMap((subscriber) => subscriber.records),
    pointReads: rig.workloads.flatMap((workload) => workload.pointReads),
  });
  return checkRunFolder(logDir);
}
