// The operator's Prometheus metrics, rendered in the text exposition format: reconcile
// counts, durations and errors by step, queue depth, informer restarts and leadership.
// A tiny registry of our own: the operator needs a handful of series, not a library.

/** Upper bounds (seconds) of the reconcile duration histogram. */
export const RECONCILE_BUCKETS_SECONDS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

type Labels = Record<string, string>;

function labelText(labels: Labels): string {
  const entries = Object.entries(labels);
  return entries.length === 0 ? '' : `{${entries.map(([key, value]) => `${key}="${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`).join(',')}}`;
}

export class OperatorMetrics {
  private readonly counters = new Map<string, Map<string, number>>();
  private readonly gauges = new Map<string, number>();
  private readonly histogram = { counts: RECONCILE_BUCKETS_SECONDS.map(() => 0), sum: 0, count: 0 };
  private readonly help: Record<string, string> = {
    flo_operator_reconcile_total: 'Reconciles run, by result.',
    flo_operator_reconcile_errors_total: 'Reconcile steps that failed, by step.',
    flo_operator_informer_restarts_total: 'Informers restarted after an error, by kind.',
    flo_operator_events_total: 'Kubernetes Events recorded, by reason.',
    flo_operator_queue_depth: 'FloCluster keys waiting to be reconciled.',
    flo_operator_leader: '1 while this replica holds the leader Lease.',
    flo_operator_managed_clusters: 'FloClusters known to the operator.',
  };

  inc(name: string, labels: Labels = {}, by = 1): void {
    const series = this.counters.get(name) ?? new Map<string, number>();
    const key = labelText(labels);
    series.set(key, (series.get(key) ?? 0) + by);
    this.counters.set(name, series);
  }

  set(name: string, value: number): void {
    this.gauges.set(name, value);
  }

  observeReconcileSeconds(seconds: number): void {
    RECONCILE_BUCKETS_SECONDS.forEach((bound, i) => { if (seconds <= bound) this.histogram.counts[i]! += 1; });
    this.histogram.sum += seconds;
    this.histogram.count += 1;
  }

  counter(name: string, labels: Labels = {}): number {
    return this.counters.get(name)?.get(labelText(labels)) ?? 0;
  }

  render(): string {
    const lines: string[] = [];
    for (const [name, series] of this.counters) {
      lines.push(`# HELP ${name} ${this.help[name] ?? name}`, `# TYPE ${name} counter`);
      for (const [labels, value] of series) lines.push(`${name}${labels} ${value}`);
    }
    for (const [name, value] of this.gauges) {
      lines.push(`# HELP ${name} ${this.help[name] ?? name}`, `# TYPE ${name} gauge`, `${name} ${value}`);
    }
    const hist = 'flo_operator_reconcile_duration_seconds';
    lines.push(`# HELP ${hist} Time spent in one reconcile.`, `# TYPE ${hist} histogram`);
    RECONCILE_BUCKETS_SECONDS.forEach((bound, i) => lines.push(`${hist}_bucket{le="${bound}"} ${this.histogram.counts[i]}`));
    lines.push(`${hist}_bucket{le="+Inf"} ${this.histogram.count}`, `${hist}_sum ${this.histogram.sum}`, `${hist}_count ${this.histogram.count}`);
    return `${lines.join('\n')}\n`;
  }
}
