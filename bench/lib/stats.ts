// Summary statistics for benchmark samples: percentiles over one run's latencies,
// and the median/min/max across runs that the report prints.
// Percentiles use the nearest-rank method on a sorted copy; inputs are never mutated.

export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly runs: number;
}

/** Nearest-rank percentile (p in 0..100) of the first `count` samples. */
export function percentile(samples: Float64Array, p: number, count = samples.length): number {
  if (count === 0) return Number.NaN;
  const sorted = samples.slice(0, count).sort();
  const rank = Math.min(count - 1, Math.max(0, Math.ceil((p / 100) * count) - 1));
  return sorted[rank] ?? Number.NaN;
}

export interface LatencySummary {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/** p50, p99 and max of the first `count` samples (milliseconds), sorting once. */
export function summarizeLatency(samples: Float64Array, count = samples.length): LatencySummary {
  if (count === 0) return { p50Ms: Number.NaN, p99Ms: Number.NaN, maxMs: Number.NaN };
  const sorted = samples.slice(0, count).sort();
  const at = (p: number): number => sorted[Math.min(count - 1, Math.max(0, Math.ceil((p / 100) * count) - 1))] ?? Number.NaN;
  return { p50Ms: at(50), p99Ms: at(99), maxMs: sorted[count - 1] ?? Number.NaN };
}

/** Median and range across runs; NaN values (a workload that did not produce the figure) are skipped. */
export function spread(values: readonly number[]): Spread {
  const finite = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
  if (finite.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, runs: 0 };
  const middle = Math.floor(finite.length / 2);
  const median = finite.length % 2 === 1
    ? (finite[middle] as number)
    : ((finite[middle - 1] as number) + (finite[middle] as number)) / 2;
  return { median, min: finite[0] as number, max: finite[finite.length - 1] as number, runs: finite.length };
}
