// Kubernetes Events for what the operator did (created, repaired, applied retention,
// failed). Repeats of the same event on the same object bump `count` instead of adding
// a new object, as client-go's recorder does; the memory of recent events is bounded.

import type { CoreV1Api, CoreV1Event } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { FloCluster } from '../crd/types.js';
import type { OperatorMetrics } from '../metrics.js';
import { MERGE_PATCH } from './clients.js';

/** Distinct recent events remembered for deduplication. */
export const MAX_REMEMBERED_EVENTS = 1000;

export type EventType = 'Normal' | 'Warning';

export class EventRecorder {
  private readonly recent = new Map<string, { name: string; count: number }>();

  constructor(private readonly core: CoreV1Api, private readonly instance: string, private readonly log: Logger,
    private readonly metrics?: OperatorMetrics) {}

  async record(cluster: FloCluster, type: EventType, reason: string, message: string): Promise<void> {
    const { namespace, name, uid } = cluster.metadata;
    const key = `${uid}|${type}|${reason}|${message}`;
    const now = new Date();
    this.metrics?.inc('flo_operator_events_total', { reason });
    try {
      const seen = this.recent.get(key);
      if (seen !== undefined) {
        seen.count += 1;
        await this.core.patchNamespacedEvent({ name: seen.name, namespace, body: { count: seen.count, lastTimestamp: now.toISOString() } }, MERGE_PATCH);
        return;
      }
      const event: CoreV1Event = {
        metadata: { generateName: `${name}.`, namespace },
        involvedObject: { apiVersion: cluster.apiVersion, kind: cluster.kind, name, namespace, uid },
        type, reason, message, count: 1, firstTimestamp: now, lastTimestamp: now,
        source: { component: 'flo-operator' }, reportingComponent: 'flo-operator', reportingInstance: this.instance,
      };
      const created = await this.core.createNamespacedEvent({ namespace, body: event });
      if (this.recent.size >= MAX_REMEMBERED_EVENTS) this.recent.delete(this.recent.keys().next().value!);
      this.recent.set(key, { name: created.metadata?.name ?? '', count: 1 });
    } catch (error) {
      // Events are best effort: failing to record one must never fail a reconcile.
      this.recent.delete(key);
      this.log.warn({ err: error, reason }, 'could not record event');
    }
  }
}
