// The broker's Prometheus metrics, on a registry of its own (never the global
// one) so several brokers in one process (embedded, tests) do not collide.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class BrokerMetrics {
  readonly registry = new Registry();
  readonly producedEvents = new Counter({ name: 'flo_produced_events_total', help: 'Events acknowledged to producers', registers: [this.registry] });
  readonly producedBytes = new Counter({ name: 'flo_produced_bytes_total', help: 'Payload bytes acknowledged to producers', registers: [this.registry] });
  readonly deliveredEvents = new Counter({ name: 'flo_delivered_events_total', help: 'Events sent to readers and subscribers', registers: [this.registry] });
  readonly deliveredBytes = new Counter({ name: 'flo_delivered_bytes_total', help: 'Bytes of event groups sent to readers and subscribers', registers: [this.registry] });
  readonly readBytes = new Counter({ name: 'flo_log_read_bytes_total', help: 'Bytes of event groups read, by source (cache or storage)', labelNames: ['source'], registers: [this.registry] });
  readonly commitSeconds = new Histogram({
    name: 'flo_commit_duration_seconds', help: 'Duration of one group commit write (including fsync when durability is fsync)',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5], registers: [this.registry],
  });
  readonly commitEvents = new Histogram({ name: 'flo_commit_events', help: 'Events per group commit', buckets: [1, 10, 100, 1000, 10000], registers: [this.registry] });
  readonly subscriptions = new Gauge({ name: 'flo_active_subscriptions', help: 'Live subscriptions (WebSocket and SSE)', registers: [this.registry] });
  readonly subscriberBufferedBytes = new Gauge({ name: 'flo_subscriber_buffered_bytes', help: 'Bytes written to subscribers\' sockets and not yet taken by the kernel', registers: [this.registry] });
  readonly subscribersCut = new Counter({ name: 'flo_subscribers_cut_total', help: 'Subscribers cut for taking no data (FLO_ERR_SUBSCRIBER_TOO_SLOW)', registers: [this.registry] });
  readonly partitionEvents = new Gauge({ name: 'flo_partition_events', help: 'Events retained per partition', labelNames: ['partition'], registers: [this.registry] });
  readonly partitionBytes = new Gauge({ name: 'flo_partition_bytes', help: 'Stored bytes retained per partition', labelNames: ['partition'], registers: [this.registry] });
  readonly partitionHead = new Gauge({ name: 'flo_partition_next_offset', help: 'Next offset to be assigned per partition', labelNames: ['partition'], registers: [this.registry] });
  /** Set by the owner to refresh the partition and cache gauges just before each scrape. */
  refreshGauges: () => void = () => undefined;
  readonly retentionDeletedEvents = new Counter({ name: 'flo_retention_deleted_events_total', help: 'Events removed by retention', registers: [this.registry] });
  readonly cacheBytes = new Gauge({ name: 'flo_read_cache_bytes', help: 'Bytes held by the read cache', registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'flo_process_' });
  }

  /** The Prometheus text exposition, with gauges read from the live log. */
  async exposition(): Promise<string> {
    this.refreshGauges();
    return this.registry.metrics();
  }
}
