// The targets issue 2 sets for a single broker, checked against the summarized table so
// every bench prints which are met and by how much any is missed.

import { type Summary } from './report.js';

function median(summaries: readonly Summary[], workload: string, metric: string, system: string): number {
  return summaries.find((s) => s.workload === workload && s.metric === metric)?.bySystem[system]?.median ?? Number.NaN;
}

interface Target {
  readonly name: string;
  readonly value: (summaries: readonly Summary[]) => number;
  readonly limit: number;
  readonly atLeast: boolean;
  readonly unit: string;
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
];

/** One line per target that could be evaluated in this run. */
export function targetNotes(summaries: readonly Summary[]): string[] {
  const lines: string[] = [];
  for (const target of TARGETS) {
    const value = target.value(summaries);
    if (!Number.isFinite(value)) continue;
    const met = target.atLeast ? value >= target.limit : value <= target.limit;
    lines.push(`- target ${target.name}: ${value.toFixed(2)}${target.unit} — ${met ? 'met' : 'MISSED'}`);
  }
  return lines.length > 0 ? ['Targets (issue 2):', ...lines] : [];
}
