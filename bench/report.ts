// Turns the per-run results into the tables the bench prints: per system the median of
// its runs with the min–max range, and Flo's ratio to each peer. Also the shapes of the
// JSON written to bench/results/ (the cluster table's rows are in cluster-report.ts).

import { type FanoutResult, type ProduceResult, type ReplayResult, type TailResult } from './workloads.js';
import { spread, type Spread } from './lib/stats.js';

export interface SystemRun {
  readonly system: string;
  readonly run: number;
  w1?: ProduceResult;
  w2?: ReplayResult;
  w5?: ReplayResult;
  w3?: TailResult;
  w6?: FanoutResult;
  error?: string;
}

export interface SystemInfo {
  readonly system: string;
  readonly version: string;
  readonly durability: string;
}

export type Unit = 'rate' | 'ms' | 'plain' | 'mb' | 'percent' | 'cores' | 'count';

/** One line of a table: a figure read from each run of a system. */
export interface Row<R = SystemRun> {
  readonly workload: string;
  readonly metric: string;
  readonly unit: Unit;
  readonly value: (run: R) => number | undefined;
}

const perEvent = (cpuSeconds: number, events: number): number => (cpuSeconds * 1e6) / events;

const ROWS: readonly Row[] = [
  { workload: 'W1 produce', metric: 'events/s', unit: 'rate', value: (r) => r.w1?.eventsPerSecond },
  { workload: 'W1 produce', metric: 'MB/s (payload)', unit: 'mb', value: (r) => r.w1?.megabytesPerSecond },
  { workload: 'W1 produce', metric: 'ack p50 ms', unit: 'ms', value: (r) => r.w1?.ackP50Ms },
  { workload: 'W1 produce', metric: 'ack p99 ms', unit: 'ms', value: (r) => r.w1?.ackP99Ms },
  { workload: 'W1 produce', metric: 'client CPU µs/event', unit: 'plain', value: (r) => r.w1 && perEvent(r.w1.clientCpuSeconds, r.w1.events) },
  { workload: 'W1 produce', metric: 'server CPU µs/event', unit: 'plain', value: (r) => r.w1 && perEvent(r.w1.serverCpuSeconds, r.w1.events) },
  { workload: 'W1 produce', metric: 'server peak RSS MB', unit: 'mb', value: (r) => r.w1 && r.w1.serverPeakRssBytes / 1e6 },
  { workload: 'W1 produce', metric: 'group commits/s (Flo)', unit: 'plain', value: (r) => r.w1?.commitsPerSecond },
  { workload: 'W1 produce', metric: 'events per commit (Flo)', unit: 'plain', value: (r) => r.w1?.eventsPerCommit },
  { workload: 'W1 produce', metric: 'commit write+fsync mean ms (Flo)', unit: 'ms', value: (r) => r.w1?.commitMeanMs },
  { workload: 'W2 replay', metric: 'events/s', unit: 'rate', value: (r) => r.w2?.eventsPerSecond },
  { workload: 'W2 replay', metric: 'client CPU µs/event', unit: 'plain', value: (r) => r.w2 && perEvent(r.w2.clientCpuSeconds, r.w2.events) },
  { workload: 'W2 replay', metric: 'server CPU µs/event', unit: 'plain', value: (r) => r.w2 && perEvent(r.w2.serverCpuSeconds, r.w2.events) },
  { workload: 'W5 selective replay', metric: 'events/s delivered', unit: 'rate', value: (r) => r.w5?.eventsPerSecond },
  { workload: 'W5 selective replay', metric: 'log bytes read, % of W2', unit: 'percent', value: (r) => r.w5 && r.w2 && (100 * r.w5.logReadBytes) / r.w2.logReadBytes },
  { workload: 'W5 selective replay', metric: 'server CPU µs/event', unit: 'plain', value: (r) => r.w5 && perEvent(r.w5.serverCpuSeconds, r.w5.events) },
  { workload: 'W3 tail latency', metric: 'p50 ms', unit: 'ms', value: (r) => r.w3?.p50Ms },
  { workload: 'W3 tail latency', metric: 'p99 ms', unit: 'ms', value: (r) => r.w3?.p99Ms },
  { workload: 'W3 tail latency', metric: 'max ms', unit: 'ms', value: (r) => r.w3?.maxMs },
  { workload: 'W3 tail latency', metric: 'commit write+fsync mean ms (Flo)', unit: 'ms', value: (r) => r.w3?.commitMeanMs },
  { workload: 'W3 tail latency', metric: 'client CPU µs/event', unit: 'plain', value: (r) => r.w3 && perEvent(r.w3.clientCpuSeconds, r.w3.events) },
  { workload: 'W3 tail latency', metric: 'server CPU µs/event', unit: 'plain', value: (r) => r.w3 && perEvent(r.w3.serverCpuSeconds, r.w3.events) },
  { workload: 'W6 fan-out', metric: 'deliveries/s (all subscribers)', unit: 'rate', value: (r) => r.w6?.deliveriesPerSecond },
  { workload: 'W6 fan-out', metric: 'W1 events/s during fan-out', unit: 'rate', value: (r) => r.w6?.produce.eventsPerSecond },
  { workload: 'W6 fan-out', metric: 'W1 throughput drop %', unit: 'percent', value: (r) => r.w6 && r.w1 && 100 * (1 - r.w6.produce.eventsPerSecond / r.w1.eventsPerSecond) },
  { workload: 'W6 fan-out', metric: 'client CPU µs/delivery', unit: 'plain', value: (r) => r.w6 && perEvent(r.w6.clientCpuSeconds, r.w6.deliveries) },
  { workload: 'W6 fan-out', metric: 'server CPU µs/delivery', unit: 'plain', value: (r) => r.w6 && perEvent(r.w6.serverCpuSeconds, r.w6.deliveries) },
];

function formatValue(value: number, unit: Unit): string {
  if (!Number.isFinite(value)) return '–';
  if (unit === 'cores') return value.toFixed(3);
  if (unit === 'count') return value.toFixed(0);
  if (unit === 'rate') return value >= 1e6 ? `${(value / 1e6).toFixed(2)}M` : `${(value / 1e3).toFixed(1)}k`;
  if (unit === 'ms') return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
  if (unit === 'percent') return value.toFixed(1);
  return value >= 100 ? value.toFixed(0) : value.toFixed(1);
}

function formatSpread(s: Spread, unit: Unit): string {
  if (s.runs === 0) return '–';
  const median = formatValue(s.median, unit);
  return s.runs === 1 ? median : `${median} (${formatValue(s.min, unit)}–${formatValue(s.max, unit)})`;
}

export interface Summary {
  readonly workload: string;
  readonly metric: string;
  readonly unit: Unit;
  readonly bySystem: Record<string, Spread>;
  /** The reference system's median divided by each other system's. */
  readonly floRatio: Record<string, number>;
}

/** Median/min/max per row and system, and the reference's (Flo's) median divided by each peer's. */
export function summarizeRows<R extends { readonly system: string }>(rows: readonly Row<R>[], runs: readonly R[], systems: readonly string[], reference: string): Summary[] {
  return rows.map((row) => {
    const bySystem: Record<string, Spread> = {};
    for (const system of systems) {
      const values = runs.filter((run) => run.system === system).map((run) => row.value(run) ?? Number.NaN);
      bySystem[system] = spread(values);
    }
    const floRatio: Record<string, number> = {};
    const flo = bySystem[reference]?.median ?? Number.NaN;
    for (const system of systems) {
      if (system !== reference) floRatio[system] = flo / (bySystem[system]?.median ?? Number.NaN);
    }
    return { workload: row.workload, metric: row.metric, unit: row.unit, bySystem, floRatio };
  }).filter((summary) => Object.values(summary.bySystem).some((s) => s.runs > 0));
}

export function summarize(runs: readonly SystemRun[], systems: readonly string[]): Summary[] {
  return summarizeRows(ROWS, runs, systems, 'flo');
}

/** One markdown table: a column per system, then the reference's ratio to each peer ('–' where either lacks the figure). */
export function markdownTable(summaries: readonly Summary[], systems: readonly string[], reference = 'flo'): string {
  const peers = systems.includes(reference) ? systems.filter((system) => system !== reference) : [];
  const header = ['workload', 'metric', ...systems, ...peers.map((peer) => `Flo ÷ ${peer}`)];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const summary of summaries) {
    const unit = summary.unit;
    const cells = systems.map((system) => formatSpread(summary.bySystem[system] as Spread, unit));
    const ratios = peers.map((peer) => {
      const ratio = summary.floRatio[peer] ?? Number.NaN;
      return Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : '–';
    });
    lines.push(`| ${[summary.workload, summary.metric, ...cells, ...ratios].join(' | ')} |`);
  }
  return lines.join('\n');
}

/** Cores' worth of CPU that other processes used during the measured phases (median over system-runs). */
export function otherLoadCores(runs: readonly SystemRun[]): Spread {
  const perRun = runs.map((run) => {
    const costs = [run.w1, run.w2, run.w5, run.w3, run.w6].filter((cost) => cost !== undefined);
    const seconds = costs.reduce((sum, cost) => sum + cost.seconds, 0);
    return seconds > 0 ? costs.reduce((sum, cost) => sum + cost.otherCpuSeconds, 0) / seconds : Number.NaN;
  });
  return spread(perRun);
}
