// One chaos run: brokers up, workload and live subscribers on, the seeded
// nemesis schedule carried out, then heal, final reads, the checker on every
// log, and the run folder written. With more than one broker they form one
// cluster through the proxy mesh (cluster-campaign.ts): one log, one history,
// a final read from every broker, one verdict (folder cluster/). With
// `independent`, each broker is its own single-node log with its own
// namespaces, history and verdict (folder b<i>/). A failing run prints the
// command that replays its seed.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SeededRandom } from '../../src/broker/raft/random.js';
import { RUN_FILES, checkRunFolder, writeRunArtifacts } from './artifacts.js';
import { BrokerProcess, killAllBrokers, snapshotCli } from './brokers.js';
import { summarize, ANOMALY_KINDS, type AnomalyKind, type Verdict } from './checker.js';
import { HistoryRecorder, type AppendOp } from './history.js';
import { Nemesis, type TimelineEntry } from './nemesis.js';
import { availableKinds, buildSchedule, type FaultKind, type Topology } from './schedule.js';
import { openInvokes, settlesWithin } from './bounded.js';
import { finishClusterRig, startClusterRig, type ClusterRig } from './cluster-campaign.js';
import { LiveSubscriber, readEverything, Workload, type WorkloadOptions } from './workload.js';

export const CHAOS_ROOT = fileURLToPath(new URL('../../.tmp/chaos/', import.meta.url));

/** Where a run keeps its copy of dist/: always below the repository (node_modules), whatever the run folder. */
function cliSnapshotDir(runDir: string): string {
  return join(CHAOS_ROOT, 'dist-snapshots', basename(runDir));
}

export interface CampaignOptions {
  seed: number;
  durationMs: number;
  brokers: number;
  /** Several brokers as independent single-node logs instead of one cluster. */
  independent?: boolean;
  kinds?: readonly FaultKind[];
  /** The built dist/ to run (copied first); default the repository's. A build of a clean checkout keeps others' unfinished work out of a run. */
  distDir?: string;
  /** Where run folders go. Default .tmp/chaos/ in the repository. */
  root?: string;
  workload?: Partial<Pick<WorkloadOptions, 'httpWriters' | 'idempotentHttpWriters' | 'clientWriters' | 'clientInFlight' | 'pauseBetweenAppendsMs' | 'maxAppendsPerWriter' | 'pointReaders'>>;
  subscribersPerBroker?: number;
  namespacesPerBroker?: number;
  /** Progress lines; default: none. */
  log?: (line: string) => void;
}

export interface CampaignFigures {
  seed: number;
  minutes: number;
  brokers: number;
  faults: Partial<Record<FaultKind, number>>;
  invoked: number;
  acknowledged: number;
  unknown: number;
  unseen: number;
  failed: number;
  delivered: number;
  pointReads: number;
  anomalies: Record<AnomalyKind, number>;
  /** Longest time between two acknowledgements of one broker (of the whole cluster in a cluster run): the worst write outage. */
  longestWriteGapMs: number;
  /** Cluster runs: idempotent writers' retries, those answered, those refused as stale, those given up (unknown). */
  idempotent?: { retries: number; answeredAfterRetry: number; staleOnRetry: number; gaveUp: number };
  /** Restarts a broker refused (store failed verification); the harness then rebuilt it (--rebuild-when-damaged --join). A finding, not a checker anomaly. */
  refusedRestarts: string[];
  liveness: string[];
}

export interface CampaignResult {
  dir: string;
  valid: boolean;
  verdicts: Array<{ log: string; verdict: Verdict }>;
  figures: CampaignFigures;
  replayCommand: string;
}

export function replayCommand(options: Pick<CampaignOptions, 'seed' | 'durationMs' | 'brokers' | 'kinds' | 'independent'>): string {
  const kinds = options.kinds ? ` --kinds ${options.kinds.join(',')}` : '';
  const independent = options.independent && options.brokers > 1 ? ' --independent' : '';
  return `npm run chaos -- --minutes ${+(options.durationMs / 60_000).toFixed(3)} --brokers ${options.brokers} --seed ${options.seed}${kinds}${independent}`;
}

/** A run's topology: one cluster unless there is one broker or the run asks for independent ones. */
export function topologyOf(options: Pick<CampaignOptions, 'brokers' | 'independent'>): Topology {
  // Every broker the harness starts notes its fsyncs (BrokerProcess.syncLedger), so its unsynced writes can be lost.
  const replicated = options.brokers > 1 && options.independent !== true;
  return { brokers: options.brokers, replicated, loseUnsyncedHook: true, ...(replicated ? { spareSlot: true } : {}) };
}

/**
 * Kinds a run uses unless told otherwise: every kind the topology supports. Damage joined the
 * default once a refused member was rebuilt from the others (`--rebuild-when-damaged --join`)
 * and damage runs on that build were judged valid (seeds 512, 901, 902; docs/chaos.md).
 */
export function defaultKinds(topology: Topology): FaultKind[] {
  return availableKinds(topology);
}

interface BrokerRig {
  broker: BrokerProcess;
  recorder: HistoryRecorder;
  workload: Workload;
  subscribers: LiveSubscriber[];
  glob: string;
}

/** How long the writers may take to stop after the heal: an idempotent writer's retries last at most 45 s. */
const WRITERS_STOP_MS = 90_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

function longestGapMs(history: readonly AppendOp[]): number {
  let last = 0;
  let longest = 0;
  for (const op of history) {
    if (op.type !== 'ok') continue;
    longest = Math.max(longest, op.timeMs - last);
    last = op.timeMs;
  }
  return longest;
}

/** Appends a broker's history may hold at about most, so a long run stays bounded in memory (history, reads, deliveries). */
const TARGET_APPENDS_PER_BROKER = 600_000;

/** Pause between one writer's appends: 5 ms, longer for long runs, so 7 writers stay near the target. */
function pacingMs(durationMs: number): number {
  return Math.max(5, Math.ceil((durationMs * 7) / TARGET_APPENDS_PER_BROKER));
}

/** Starts the brokers, adding each to `rigs` as soon as it runs, so a failed start still stops the others. */
async function startRigs(options: CampaignOptions, dir: string, random: SeededRandom, rigs: BrokerRig[]): Promise<void> {
  await mkdir(join(dir, 'logs'), { recursive: true });
  const cliPath = await snapshotCli(cliSnapshotDir(dir), options.distDir);
  for (let index = 0; index < options.brokers; index++) {
    const broker = new BrokerProcess({ index, dataDir: join(dir, 'data', `b${index}`), logPath: join(dir, 'logs', `b${index}.log`), cliPath });
    await broker.start().catch(async (error: unknown) => {
      await broker.kill();
      throw error;
    });
    const recorder = new HistoryRecorder();
    const namespaces = Array.from({ length: options.namespacesPerBroker ?? 6 }, (_, k) => `/chaos/b${index}/n${k}`);
    const workload = new Workload({
      name: broker.name, url: broker.url, namespaces, recorder, random: random.fork(),
      httpWriters: 2, clientWriters: 1, clientInFlight: 4, pauseBetweenAppendsMs: pacingMs(options.durationMs), requestTimeoutMs: 5_000, maxAppendsPerWriter: 200_000, pointReaders: 1,
      ...options.workload,
    });
    const glob = `/chaos/b${index}/**`;
    const subscribers = Array.from({ length: options.subscribersPerBroker ?? 2 }, (_, s) => new LiveSubscriber(`${broker.name}-sub${s}`, broker.name, broker.url, glob));
    rigs.push({ broker, recorder, workload, subscribers, glob });
  }
}

/** Waits (bounded) until each live subscriber has delivered as many events as the final read holds. */
async function awaitSubscribers(rig: BrokerRig, expected: number, liveness: string[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (const subscriber of rig.subscribers) {
    while ((subscriber.current?.deliveries.length ?? 0) < expected && Date.now() < deadline) await sleep(50);
    const got = subscriber.current?.deliveries.length ?? 0;
    if (got < expected) liveness.push(`${subscriber.current?.subscriber} delivered ${got} of ${expected} events within 30 s of the heal`);
  }
}

async function finishRig(rig: BrokerRig, dir: string, liveness: string[]): Promise<Verdict> {
  // Pages can be short (the broker bounds each page's scan), so allow one per event at worst.
  const maxPages = 100 + rig.recorder.ops.length;
  const events = await readEverything(rig.broker.url, rig.glob, maxPages);
  await awaitSubscribers(rig, events.length, liveness);
  for (const subscriber of rig.subscribers) await subscriber.close();
  const logDir = join(dir, rig.broker.name);
  await writeRunArtifacts(logDir, {
    history: rig.recorder.ops,
    finalReads: [{ broker: rig.broker.name, events }],
    subscriptions: rig.subscribers.flatMap((subscriber) => subscriber.records),
    pointReads: rig.workload.pointReads,
  });
  return checkRunFolder(logDir);
}

export async function runCampaign(options: CampaignOptions): Promise<CampaignResult> {
  const log = options.log ?? (() => undefined);
  const dir = join(options.root ?? CHAOS_ROOT, `${new Date().toISOString().replace(/[:.]/g, '-')}-seed${options.seed}`);
  const topology = topologyOf(options);
  const schedule = buildSchedule({ seed: options.seed, durationMs: options.durationMs, topology, kinds: options.kinds ?? defaultKinds(topology) });
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'run.json'), JSON.stringify({ options: { ...options, log: undefined }, topology, schedule }, null, 2) + '\n');
  log(`chaos: seed ${options.seed}, ${options.brokers} broker(s), ${(options.durationMs / 60_000).toFixed(2)} min, ${schedule.steps.length} faults planned; run folder ${dir}`);

  const timeline: TimelineEntry[] = [];
  const liveness: string[] = [];
  let aborted = false;
  const onSignal = (): void => {
    aborted = true;
    killAllBrokers();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const random = new SeededRandom(options.seed ^ 0x5eed);
  if (topology.replicated) return runClusterCampaign({ options, dir, schedule, timeline, liveness, random, log, isAborted: () => aborted, offSignals: () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  } });
  const rigs: BrokerRig[] = [];
  try {
    await startRigs(options, dir, random, rigs);
    const startedAtMs = Date.now();
    const nemesis = new Nemesis({ schedule, brokers: rigs.map((rig) => rig.broker), startedAtMs, timeline, aborted: () => aborted });
    timeline.push({ timeMs: 0, kind: 'run', phase: 'start', targets: rigs.map((rig) => rig.broker.name) });
    for (const rig of rigs) {
      rig.workload.start();
      for (const subscriber of rig.subscribers) subscriber.start();
    }
    await nemesis.run();
    await sleep(startedAtMs + options.durationMs - Date.now());
    await nemesis.heal();
    await Promise.all(rigs.map((rig) => rig.workload.stop()));
    timeline.push({ timeMs: Date.now() - startedAtMs, kind: 'run', phase: 'end', targets: [] });
    const verdicts: CampaignResult['verdicts'] = [];
    for (const rig of rigs) verdicts.push({ log: rig.broker.name, verdict: await finishRig(rig, dir, liveness) });
    for (const entry of timeline) if (entry.phase === 'error') liveness.push(`${entry.kind} on ${entry.targets.join(',')}: ${entry.detail}`);
    for (const rig of rigs) await rig.broker.stop(); // before finish() removes their data dirs
    return await finish({ options, dir, verdicts, liveness, timeline, histories: rigs.map((rig) => rig.recorder.ops), executed: nemesis.executed, log });
  } catch (error) {
    // A broker that cannot restart, or a final read that fails, is a failed run too: say how to replay it.
    throw new Error(`chaos run failed (${(error as Error).message}); run folder ${dir}; replay with: ${replayCommand(options)}`, { cause: error });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const rig of rigs) await rig.broker.stop();
    await writeFile(join(dir, RUN_FILES.timeline), timeline.map((entry) => JSON.stringify(entry)).join('\n') + '\n');
  }
}

interface ClusterRunInput {
  options: CampaignOptions;
  dir: string;
  schedule: ReturnType<typeof buildSchedule>;
  timeline: TimelineEntry[];
  liveness: string[];
  random: SeededRandom;
  log: (line: string) => void;
  isAborted: () => boolean;
  offSignals: () => void;
}

async function runClusterCampaign(input: ClusterRunInput): Promise<CampaignResult> {
  const { options, dir, timeline, liveness } = input;
  const started: BrokerProcess[] = [];
  let rig: ClusterRig | undefined;
  try {
    await mkdir(join(dir, 'logs'), { recursive: true });
    const cliPath = await snapshotCli(cliSnapshotDir(dir), options.distDir);
    const spare = input.schedule.steps.some((step) => step.kind === 'member-replace');
    rig = await startClusterRig(options, dir, cliPath, input.random, started, pacingMs(options.durationMs) * options.brokers, spare);
    const startedAtMs = Date.now();
    const { cluster } = rig;
    const nemesis = new Nemesis({ schedule: input.schedule, brokers: rig.cluster.brokers, mesh: rig.cluster.mesh, slots: cluster, startedAtMs, timeline, aborted: input.isAborted,
      rejoinSeed: (broker) => {
        const seed = cluster.brokers.find((other) => other !== broker && other.running);
        return seed === undefined ? undefined : cluster.mesh.address(broker.index, seed.index);
      },
    });
    timeline.push({ timeMs: 0, kind: 'run', phase: 'start', targets: rig.cluster.brokers.map((broker) => broker.name) });
    for (const workload of rig.workloads) workload.start();
    for (const subscriber of rig.subscribers) subscriber.start();
    await nemesis.run();
    await sleep(startedAtMs + options.durationMs - Date.now());
    await nemesis.heal();
    // Idempotent writers finish their retries (at most 45 s each); beyond that a writer is hung.
    if (!(await settlesWithin(Promise.all(rig.workloads.map((workload) => workload.stop())), WRITERS_STOP_MS))) {
      const open = openInvokes(rig.recorder.ops);
      liveness.push(`writers still waiting ${WRITERS_STOP_MS / 1000} s after the heal on ${open.length} append(s): ${open.slice(0, 5).map((op) => `${op.value} (invoked at ${op.timeMs} ms)`).join(', ')}`);
    }
    timeline.push({ timeMs: Date.now() - startedAtMs, kind: 'run', phase: 'end', targets: [] });
    const verdict = await finishClusterRig(rig, dir, liveness);
    // Stopped before finish() removes their data dirs; a broker that fails its clean stop is a finding too.
    await Promise.all(started.map((broker) => broker.stop()));
    for (const broker of started) if (/ERROR: shutdown failed/.test(broker.logTail(64_000))) liveness.push(`${broker.name} failed its clean shutdown (logs/${broker.name}.log)`);
    for (const entry of timeline) if (entry.phase === 'error') liveness.push(`${entry.kind} on ${entry.targets.join(',')}: ${entry.detail}`);
    const idempotent = { retries: 0, answeredAfterRetry: 0, staleOnRetry: 0, gaveUp: 0 };
    for (const workload of rig.workloads) for (const key of Object.keys(idempotent) as Array<keyof typeof idempotent>) idempotent[key] += workload.idempotent[key];
    return await finish({ options, dir, verdicts: [{ log: 'cluster', verdict }], liveness, timeline, histories: [rig.recorder.ops], executed: nemesis.executed, log: input.log, idempotent, refusedRestarts: nemesis.refusedRestarts });
  } catch (error) {
    throw new Error(`chaos run failed (${(error as Error).message}); run folder ${dir}; replay with: ${replayCommand(options)}`, { cause: error });
  } finally {
    input.offSignals();
    for (const subscriber of rig?.subscribers ?? []) await settlesWithin(subscriber.close(), 10_000);
    await Promise.all(started.map((broker) => broker.stop()));
    await rig?.cluster.close();
    await writeFile(join(dir, RUN_FILES.timeline), timeline.map((entry) => JSON.stringify(entry)).join('\n') + '\n');
  }
}

interface FinishInput {
  options: CampaignOptions;
  dir: string;
  verdicts: CampaignResult['verdicts'];
  liveness: string[];
  timeline: TimelineEntry[];
  /** One per log: each broker's in an independent run, the cluster's in a cluster run. */
  histories: ReadonlyArray<readonly AppendOp[]>;
  executed: Partial<Record<FaultKind, number>>;
  log: (line: string) => void;
  idempotent?: CampaignFigures['idempotent'];
  refusedRestarts?: readonly string[];
}

async function finish(input: FinishInput): Promise<CampaignResult> {
  const { options, dir, verdicts, liveness } = input;
  const sum = (pick: (verdict: Verdict) => number): number => verdicts.reduce((total, entry) => total + pick(entry.verdict), 0);
  const anomalies = Object.fromEntries(ANOMALY_KINDS.map((kind) => [kind, sum((verdict) => verdict.counts[kind])])) as Record<AnomalyKind, number>;
  const figures: CampaignFigures = {
    seed: options.seed,
    minutes: options.durationMs / 60_000,
    brokers: options.brokers,
    faults: input.executed,
    invoked: sum((verdict) => verdict.stats.invoked),
    acknowledged: sum((verdict) => verdict.stats.acknowledged),
    unknown: sum((verdict) => verdict.stats.unknown),
    unseen: sum((verdict) => verdict.stats.unseen),
    failed: sum((verdict) => verdict.stats.failed),
    delivered: sum((verdict) => verdict.stats.deliveries),
    pointReads: sum((verdict) => verdict.stats.pointReads),
    anomalies,
    longestWriteGapMs: Math.max(0, ...input.histories.map((history) => longestGapMs(history))),
    ...(input.idempotent ? { idempotent: input.idempotent } : {}),
    refusedRestarts: [...(input.refusedRestarts ?? [])],
    liveness,
  };
  const valid = verdicts.every((entry) => entry.verdict.valid) && liveness.length === 0;
  const result: CampaignResult = { dir, valid, verdicts, figures, replayCommand: replayCommand(options) };
  await writeFile(join(dir, RUN_FILES.verdict), JSON.stringify({ valid, figures, replay: result.replayCommand }, null, 2) + '\n');
  for (const entry of verdicts) input.log(`${entry.log}: ${summarize(entry.verdict)}`);
  for (const line of liveness) input.log(`liveness: ${line}`);
  for (const line of figures.refusedRestarts) input.log(`refused restart (then rebuilt with --rebuild-when-damaged --join): ${line}`);
  input.log(`faults: ${JSON.stringify(figures.faults)}; longest write gap ${figures.longestWriteGapMs} ms${figures.idempotent ? `; idempotent ${JSON.stringify(figures.idempotent)}` : ''}`);
  if (valid) for (const kept of [join(dir, 'data'), cliSnapshotDir(dir)]) await rm(kept, { recursive: true, force: true });
  else input.log(`chaos run FAILED; data kept in ${dir} (the broker build in ${cliSnapshotDir(dir)}); replay with:\n  ${result.replayCommand}`);
  return result;
}
