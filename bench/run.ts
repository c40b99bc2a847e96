// `npm run bench`: W1, W2, W5, W3, W6 (bench/../shared WORKLOADS.md) against a single Flo
// broker, NATS JetStream (R1, file) and Redis Streams (AOF everysec and always), then W4,
// W7, W8 against 3-node clusters (Flo RF 3, JetStream R3, etcd for W4), in one run, each
// from fresh servers per run, runs interleaved across systems so drift hits all alike.
// Prints one markdown table per part (median, min–max, Flo's ratios) and writes JSON to
// bench/results/. Flags: --quick, --only flo,nats,redis,etcd, --workloads W1,W4, --runs N.

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type ClusterDriver } from './drivers/cluster.js';
import { type SystemDriver } from './drivers/driver.js';
import { NAMESPACE_COUNT } from './drivers/driver.js';
import { NatsDriver } from './drivers/nats.js';
import { RedisDriver } from './drivers/redis.js';
import { ensurePeers, ETCD_SERVER, NATS_SERVER, REDIS_SERVER, type PeerBinary } from './lib/install.js';
import { clusterOtherCores, CLUSTER_REFERENCE, summarizeCluster, type ClusterRun } from './cluster-report.js';
import { CLUSTER_WORKLOADS, clusterParameters, clusterProgressLine, runClusterSystem, type ClusterParameters, type ClusterWorkload } from './cluster-run.js';
import { spread } from './lib/stats.js';
import { probeFsyncLatency } from './lib/disk.js';
import { installExitHandlers } from './lib/proc.js';
import { markdownTable, otherLoadCores, summarize, type SystemInfo, type SystemRun } from './report.js';
import { targetNotes } from './targets.js';
import { fanoutWorkload, produceWorkload, replayWorkload, tailWorkload } from './workloads.js';

const SINGLE_WORKLOADS = ['W1', 'W2', 'W3', 'W5', 'W6'] as const;
const WORKLOADS = [...SINGLE_WORKLOADS, ...CLUSTER_WORKLOADS] as const;
type Workload = (typeof WORKLOADS)[number];
const SYSTEM_GROUPS = ['flo', 'nats', 'redis', 'etcd'] as const;
type SystemGroup = (typeof SYSTEM_GROUPS)[number];

export interface BenchParameters {
  readonly runs: number;
  readonly events: number;
  readonly payloadBytes: number;
  readonly namespaces: number;
  readonly maxInFlight: number;
  readonly tailRatePerSecond: number;
  readonly tailDurationMs: number;
  readonly fanoutSubscribers: number;
  readonly selectiveNamespace: string;
  readonly cluster: ClusterParameters;
}

interface Options {
  readonly parameters: BenchParameters;
  readonly only: readonly SystemGroup[];
  readonly workloads: ReadonlySet<Workload>;
  readonly profileDir: string | undefined;
}

function parseList<T extends string>(value: string | undefined, allowed: readonly T[], flag: string): T[] {
  if (value === undefined) return [...allowed];
  const items = value.split(',').map((item) => item.trim()).filter(Boolean);
  for (const item of items) {
    if (!allowed.includes(item as T)) throw new Error(`${flag}: unknown "${item}" (choose from ${allowed.join(', ')})`);
  }
  return items as T[];
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      workloads: { type: 'string' },
      runs: { type: 'string' },
      'profile-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write('usage: npm run bench -- [--quick] [--only flo,nats,redis,etcd] [--workloads W1,W2,W3,W4,W5,W6,W7,W8] [--runs N] [--profile-dir DIR]\n'
      + '  W1–W6 run against one server per system; W4, W7, W8 against 3-node clusters (etcd: W4 only)\n'
      + '  --profile-dir DIR  run the Flo broker(s) under node --cpu-prof, writing one .cpuprofile per process and run into DIR\n');
    process.exit(0);
  }
  const quick = values.quick === true;
  const runs = values.runs === undefined ? (quick ? 1 : 3) : Number(values.runs);
  const events = quick ? 20_000 : 200_000;
  const maxInFlight = 1_000;
  if (!Number.isInteger(runs) || runs < 1 || runs > 20) throw new Error('--runs: an integer from 1 to 20');
  return {
    only: parseList(values.only, SYSTEM_GROUPS, '--only'),
    workloads: new Set(parseList(values.workloads?.toUpperCase(), WORKLOADS, '--workloads')),
    profileDir: values['profile-dir'] === undefined ? undefined : resolve(values['profile-dir']),
    parameters: {
      runs,
      events,
      payloadBytes: 256,
      namespaces: NAMESPACE_COUNT,
      maxInFlight,
      tailRatePerSecond: 5_000,
      tailDurationMs: quick ? 2_000 : 10_000,
      fanoutSubscribers: 10,
      selectiveNamespace: '/orders/eu/3 (JetStream orders.eu.3)',
      cluster: clusterParameters(quick, events, maxInFlight),
    },
  };
}

function wantsSingle(workloads: ReadonlySet<Workload>): boolean {
  return SINGLE_WORKLOADS.some((workload) => workloads.has(workload));
}

function clusterWorkloads(workloads: ReadonlySet<Workload>): Set<ClusterWorkload> {
  return new Set(CLUSTER_WORKLOADS.filter((workload) => workloads.has(workload)));
}

function installPeers(options: Options): void {
  const { only, workloads } = options;
  const peers: PeerBinary[] = [];
  if (only.includes('nats')) peers.push(NATS_SERVER);
  if (only.includes('redis') && wantsSingle(workloads)) peers.push(REDIS_SERVER);
  if (only.includes('etcd') && workloads.has('W4')) peers.push(ETCD_SERVER);
  ensurePeers(peers);
}

async function createDrivers(options: Options): Promise<SystemDriver[]> {
  const { only, profileDir } = options;
  if (!wantsSingle(options.workloads)) return [];
  const drivers: SystemDriver[] = [];
  if (only.includes('flo')) {
    // Loaded only when asked for, so the peers can be measured without a built broker.
    const { FloDriver } = await import('./drivers/flo.js');
    drivers.push(new FloDriver(profileDir));
  }
  if (only.includes('nats')) drivers.push(new NatsDriver());
  if (only.includes('redis')) drivers.push(new RedisDriver('everysec'), new RedisDriver('always'));
  return drivers;
}

async function createClusterDrivers(options: Options): Promise<ClusterDriver[]> {
  const { only } = options;
  const workloads = clusterWorkloads(options.workloads);
  if (workloads.size === 0) return [];
  const drivers: ClusterDriver[] = [];
  if (only.includes('flo')) {
    const { FloClusterDriver } = await import('./drivers/flo-cluster.js');
    drivers.push(new FloClusterDriver(options.profileDir));
  }
  if (only.includes('nats')) {
    const { NatsClusterDriver } = await import('./drivers/nats-cluster.js');
    drivers.push(new NatsClusterDriver());
  }
  if (only.includes('etcd') && workloads.has('W4')) {
    const { EtcdClusterDriver } = await import('./drivers/etcd-cluster.js');
    drivers.push(new EtcdClusterDriver());
  }
  return drivers;
}

/** One run of the selected workloads on a fresh server. W2/W5 replay W1's data, so they imply W1. */
async function runSystem(driver: SystemDriver, run: number, options: Options): Promise<SystemRun> {
  const { parameters: p, workloads } = options;
  const result: SystemRun = { system: driver.system, run };
  await driver.start();
  try {
    const needsData = workloads.has('W1') || workloads.has('W2') || workloads.has('W5');
    if (needsData) result.w1 = await produceWorkload(driver, p.events, p.maxInFlight);
    if (workloads.has('W2')) result.w2 = await replayWorkload(driver, null, p.events);
    if (workloads.has('W5')) {
      const expected = Math.floor((p.events - 1 - 3) / NAMESPACE_COUNT) + 1;
      result.w5 = await replayWorkload(driver, 3, expected);
    }
    if (workloads.has('W3')) result.w3 = await tailWorkload(driver, p.tailRatePerSecond, p.tailDurationMs);
    if (workloads.has('W6')) result.w6 = await fanoutWorkload(driver, p.fanoutSubscribers, p.events, p.maxInFlight);
    if (!workloads.has('W1')) delete result.w1;
  } catch (error) {
    result.error = error instanceof Error ? error.message : String(error);
  } finally {
    await driver.stop();
  }
  return result;
}

function progressLine(result: SystemRun): string {
  const k = (value: number | undefined): string => (value === undefined ? '–' : `${(value / 1e3).toFixed(1)}k/s`);
  const parts = [
    `W1 ${k(result.w1?.eventsPerSecond)}`, `W2 ${k(result.w2?.eventsPerSecond)}`, `W5 ${k(result.w5?.eventsPerSecond)}`,
    `W3 p99 ${result.w3 ? result.w3.p99Ms.toFixed(2) : '–'} ms`, `W6 ${k(result.w6?.deliveriesPerSecond)}`,
  ];
  return `bench: run ${result.run} ${result.system}: ${parts.join(', ')}${result.error ? ` ERROR ${result.error}` : ''}\n`;
}

function machineNote(loadStart: readonly number[], loadEnd: readonly number[], runs: readonly SystemRun[], clusterRuns: readonly ClusterRun[]): string {
  const cpu = cpus();
  const load = (values: readonly number[]): string => values.map((value) => value.toFixed(2)).join(' ');
  const range = (s: { median: number; min: number; max: number }): string => `${s.median.toFixed(2)} cores (${s.min.toFixed(2)}–${s.max.toFixed(2)})`;
  const others = otherLoadCores(runs);
  const clusterOthers = spread(clusterOtherCores(clusterRuns));
  return `${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}; `
    + `load average (1/5/15 min) ${load(loadStart)} at start, ${load(loadEnd)} at end; `
    + `other processes used ${others.runs > 0 ? range(others) : '–'} of ${cpu.length} while single-server workloads ran, `
    + `${clusterOthers.runs > 0 ? range(clusterOthers) : '–'} during W4/W7`;
}

interface Described {
  readonly system: string;
  readonly version: string;
  readonly durability: string;
}

const describe = (d: Described): SystemInfo => ({ system: d.system, version: d.version, durability: d.durability });

async function main(): Promise<number> {
  installExitHandlers();
  const options = parseOptions();
  installPeers(options);
  const drivers = await createDrivers(options);
  const clusterDrivers = await createClusterDrivers(options);
  const chosenCluster = clusterWorkloads(options.workloads);
  const startedAt = new Date();
  const loadStart = loadavg();
  const fsyncBefore = probeFsyncLatency();
  const runs: SystemRun[] = [];
  const clusterRuns: ClusterRun[] = [];
  for (let run = 1; run <= options.parameters.runs; run += 1) {
    for (const driver of drivers) {
      const result = await runSystem(driver, run, options);
      process.stderr.write(progressLine(result));
      runs.push(result);
    }
    for (const driver of clusterDrivers) {
      const result = await runClusterSystem(driver, run, chosenCluster, options.parameters.cluster);
      process.stderr.write(clusterProgressLine(result));
      clusterRuns.push(result);
    }
  }
  const systems = drivers.map((driver) => driver.system);
  const clusterSystems = clusterDrivers.map((driver) => driver.system);
  const infos: SystemInfo[] = [...drivers.map(describe), ...clusterDrivers.map(describe)];
  const summaries = summarize(runs, systems);
  const clusterSummaries = summarizeCluster(clusterRuns, clusterSystems);
  const fsyncAfter = probeFsyncLatency();
  const machine = `${machineNote(loadStart, loadavg(), runs, clusterRuns)}; disk append+fdatasync of 16 KiB p50/p99 `
    + `${fsyncBefore.p50Ms.toFixed(2)}/${fsyncBefore.p99Ms.toFixed(2)} ms before the runs, ${fsyncAfter.p50Ms.toFixed(2)}/${fsyncAfter.p99Ms.toFixed(2)} ms after`;
  const tables = [
    ...(drivers.length > 0 ? [markdownTable(summaries, systems), ''] : []),
    ...(clusterDrivers.length > 0 ? ['### 3-node clusters (W4, W7, W8)', '', markdownTable(clusterSummaries, clusterSystems, CLUSTER_REFERENCE), ''] : []),
  ];
  const failed = [...runs, ...clusterRuns].filter((run) => run.error);
  const output = [
    `## Flo benchmark, ${startedAt.toISOString()}`, '',
    ...tables,
    `Median of ${options.parameters.runs} run(s) per system, (min–max) across runs; ratios are Flo's median ÷ the peer's `
      + '(above 1 is better for rates, below 1 better for latency, CPU and RSS).',
    ...(clusterDrivers.length > 0 ? [CLUSTER_NOTE] : []),
    `Parameters: ${JSON.stringify(options.parameters)}`,
    ...infos.map((info) => `- ${info.system} ${info.version}: ${info.durability}`),
    `Machine: ${machine}`,
    ...targetNotes([...summaries, ...clusterSummaries]),
    ...failed.map((run) => `- ERROR run ${run.run} ${run.system}: ${run.error}`),
  ].join('\n');
  process.stdout.write(`${output}\n`);
  const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `bench-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  const json = { startedAt, finishedAt: new Date(), machine, parameters: options.parameters, systems: infos, summaries, clusterSummaries, runs, clusterRuns };
  writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);
  process.stderr.write(`bench: results written to ${file}\n`);
  return failed.length > 0 ? 1 : 0;
}

const CLUSTER_NOTE = 'Clusters: every node on this machine\'s 2 cores, on loopback. W4: Flo\'s client, given all 3 brokers, produces to each '
  + 'partition\'s leader; JetStream\'s and etcd\'s clients attach to node 1, which passes writes to the leader; nodes are ranked by CPU within each run. W7: 64 Raft groups (Flo partitions; JetStream 64 R3 streams). '
  + 'W8: producer and subscriber attach to a node that is not killed; the producer re-sends after an error (backoff 100 ms doubling to 1 s), '
  + 'and JetStream also after 2 s without a PubAck (with Nats-Msg-Id dedupe); Flo has no idempotent producer, so a re-send whose first try '
  + 'was stored after all is a duplicate. "lost" compares acknowledged events with a replay of the store afterwards.';

// Exit explicitly: a failed run can leave a client's timers behind, and the servers are
// already stopped (the exit handler kills any that are not).
main().then((code) => process.exit(code), (error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exit(1);
});
