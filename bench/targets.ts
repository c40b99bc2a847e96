// The targets issue 2 sets for a single broker and issue 9 for a 3-broker cluster,
// checked against the summarized tables so every bench prints which are met and by how
// much any is missed.

import { type Summary } from './report.js';

function median(summaries: readonly Summary[], workload: string, metric: string, system: string): number {
  return summaries.find((s) => s.workload === workload && s.metric === metric)?.bySystem[system]?.median ?? Number.NaN;
}

/** The worst run, for figures that must hold in every run rather than in the median one. */
function worst(summaries: readonly Summary[], workload: string, metric: string, system: string): number {
  return summaries.find((s) => s.workload === workload && s.metric === metric)?.bySystem[system]?.max ?? Number.NaN;
}

interface Target {
  readonly name: string;
  readonly value: (summaries: readonly Summary[]) => number;
  readonly limit: number;
  readonly atLeast: boolean;
  readonly unit: string;
  /** Decimals printed (default 2). */
  readonly digits?: number;
}

const TARGETS: readonly Target[] = [
  { name: 'W1 ≥ 1.0× JetStream', unit: '×', limit: 1, atLeast: true,
    value: (s) => median(s, 'W1 produce', 'events/s', 'flo') / median(s, 'W1 produce', 'events/s', 'jetstream') },
  { name: 'W2 ≥ 2× JetStream', unit: '×', limit: 2, atLeast: true,
    value: (s) => median(s, 'W2 replay', 'events/s', 'flo') / median(s, 'W2 replay', 'events/s', 'jetstream') },
  { name: 'W3 p99 ≤ 1.5 ms', unit: ' ms', limit: 1.5, atLeast: false,
    value: (s) => median(s, 'W3 tail latency', 'p99 ms', 'flo') },
  { name: 'W5 reads ≤ 10% of W2 bytes', unit: '%', limit: 10, atLeast: false,
    value: (s) => median(s, 'W5 selective replay', 'log bytes read, % of W2', 'flo') },
  { name: 'Flo RSS under W1 ≤ 300 MB', unit: ' MB', limit: 300, atLeast: false,
    value: (s) => median(s, 'W1 produce', 'server peak RSS MB', 'flo') },
  { name: 'W4 ≥ 1.0× JetStream R3 (issue 9)', unit: '×', limit: 1, atLeast: true,
    value: (s) => median(s, 'W4 replicated produce', 'events/s', 'flo-r3') / median(s, 'W4 replicated produce', 'events/s', 'jetstream-r3') },
  { name: 'W7 idle CPU < 3% of a core per broker (issue 9)', unit: ' cores', digits: 3, limit: 0.03, atLeast: false,
    value: (s) => median(s, 'W7 idle cluster', 'CPU per node, max (cores)', 'flo-r3') },
  { name: 'W8 acknowledged events lost = 0 (issue 9)', unit: '', digits: 0, limit: 0, atLeast: false,
    value: (s) => worst(s, 'W8 failover', 'acknowledged events lost', 'flo-r3') },
  { name: 'W8 duplicates stored = 0 (issue 9)', unit: '', digits: 0, limit: 0, atLeast: false,
    value: (s) => worst(s, 'W8 failover', 'duplicates stored', 'flo-r3') },
];

/** One line per target that could be evaluated in this run. */
export function targetNotes(summaries: readonly Summary[]): string[] {
  const lines: string[] = [];
  for (const target of TARGETS) {
    const value = target.value(summaries);
    if (!Number.isFinite(value)) continue;
    const met = target.atLeast ? value >= target.limit : value <= target.limit;
    lines.push(`- target ${target.name}: ${value.toFixed(target.digits ?? 2)}${target.unit} — ${met ? 'met' : 'MISSED'}`);
  }
  return lines.length > 0 ? ['Targets (issue 2 unless marked):', ...lines] : [];
}
