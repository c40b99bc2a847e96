// The closed-loop load both Raft benchmark sides share: `inflight` operations
// always outstanding, each replaced as soon as it settles; a warm-up, then a
// measured window whose completions, latency percentiles and CPU are returned.

export interface ClosedLoopOptions {
  readonly inflight: number;
  readonly warmupSeconds: number;
  readonly seconds: number;
  /** Latency samples kept (the rest are counted, not sampled). */
  readonly maxSamples: number;
  /** Starts one operation; its settling frees the slot. */
  readonly operation: () => Promise<unknown>;
  /** Called as the measured window opens (after the warm-up). */
  readonly onMeasureStart?: () => void;
}

export interface ClosedLoopResult {
  readonly done: number;
  readonly errors: number;
  readonly elapsedMs: number;
  readonly p50: number;
  readonly p99: number;
  readonly cpuMs: number;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function runClosedLoop(options: ClosedLoopOptions): Promise<ClosedLoopResult> {
  const latencies = new Float64Array(options.maxSamples);
  let recorded = 0;
  let measuring = false;
  let stopping = false;
  let done = 0;
  let errors = 0;
  let outstanding = 0;
  const one = (): void => {
    const started = performance.now();
    outstanding++;
    options.operation().then(
      () => {
        outstanding--;
        if (measuring) {
          done++;
          if (recorded < latencies.length) latencies[recorded++] = performance.now() - started;
        }
        if (!stopping) one();
      },
      () => {
        outstanding--;
        errors++;
        if (!stopping) setTimeout(one, 10);
      },
    );
  };
  for (let i = 0; i < options.inflight; i++) one();
  await sleep(options.warmupSeconds * 1000);
  options.onMeasureStart?.();
  const cpuStart = process.cpuUsage();
  const t0 = performance.now();
  measuring = true;
  await sleep(options.seconds * 1000);
  measuring = false;
  const elapsedMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpuStart);
  stopping = true;
  for (let i = 0; i < 2000 && outstanding > 0; i++) await sleep(5);
  const sorted = latencies.slice(0, recorded).sort();
  return { done, errors, elapsedMs, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), cpuMs: (cpu.user + cpu.system) / 1000 };
}
