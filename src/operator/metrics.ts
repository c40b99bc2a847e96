// The operator's Prometheus metrics on their own prom-client registry (the broker uses
// prom-client too): reconcile counts, durations and failing steps, queue depth,
// informer restarts, events recorded, leadership and the number of known clusters.

import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Upper bounds (seconds) of the reconcile duration histogram. */
export const RECONCILE_BUCKETS_SECONDS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

type CounterName = 'flo_operator_reconcile_total' | 'flo_operator_reconcile_errors_total' | 'flo_operator_informer_restarts_total' | 'flo_operator_events_total';
type GaugeName = 'flo_operator_queue_depth' | 'flo_operator_leader' | 'flo_operator_managed_clusters';

export class OperatorMetrics {
  readonly registry = new Registry();
  private readonly counters: Record<CounterName, Counter>;
  private readonly gauges: Record<GaugeName, Gauge>;
  private readonly duration: Histogram;

  constructor() {
    const registers = [this.registry];
    const counter = (name: CounterName, help: string, labelNames: string[]): Counter => new Counter({ name, help, labelNames, registers });
    this.counters = {
      flo_operator_reconcile_total: counter('flo_operator_reconcile_total', 'Reconciles run, by result.', ['result']),
      flo_operator_reconcile_errors_total: counter('flo_operator_reconcile_errors_total', 'Reconcile steps that failed, by step.', ['step']),
      flo_operator_informer_restarts_total: counter('flo_operator_informer_restarts_total', 'Informers restarted after an error, by kind.', ['kind']),
      flo_operator_events_total: counter('flo_operator_events_total', 'Kubernetes Events recorded, by reason.', ['reason']),
    };
    const gauge = (name: GaugeName, help: string): Gauge => new Gauge({ name, help, registers });
    this.gauges = {
      flo_operator_queue_depth: gauge('flo_operator_queue_depth', 'FloCluster keys waiting to be reconciled.'),
      flo_operator_leader: gauge('flo_operator_leader', '1 while this replica holds the leader Lease.'),
      flo_operator_managed_clusters: gauge('flo_operator_managed_clusters', 'FloClusters reconciled successfully at least once and not deleted.'),
    };
    this.duration = new Histogram({
      name: 'flo_operator_reconcile_duration_seconds', help: 'Time spent in one reconcile.', buckets: RECONCILE_BUCKETS_SECONDS, registers,
    });
  }

  inc(name: CounterName, labels: Record<string, string> = {}): void {
    this.counters[name].inc(labels);
  }

  set(name: GaugeName, value: number): void {
    this.gauges[name].set(value);
  }

  observeReconcileSeconds(seconds: number): void {
    this.duration.observe(seconds);
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
