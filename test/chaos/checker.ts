// The chaos checker: a model of the append-only log analysis Jepsen runs on
// Kafka-like systems, written for Flo's claim: an acknowledged event is never
// lost, never duplicated, never reordered within its namespace. Each write has a
// unique value, so every observation (an ack, a final read, a delivery) ties one
// id to one value and the two maps id→values and value→ids expose duplicates
// and inconsistent offsets. Order is checked against real time: if A was
// acknowledged before B was invoked (same namespace), A must come first.
import { parseEventId } from '../../src/common/ids.js';
import type { AppendOp, CheckInput, FinalRead, ObservedEvent, PointRead, SubscriptionRecord } from './history.js';

export const ANOMALY_KINDS = [
  'lost-write', // acknowledged, absent from a broker's final read
  'duplicate', // one value at two ids, or twice in one read
  'inconsistent-offset', // one id holding two values
  'phantom', // a value read that was never written (or in another namespace than written)
  'failed-write-read', // a write the broker definitely refused, read anyway
  'order-violation', // acknowledged before another was invoked, yet read after it
  'nonmonotonic-read', // a final read going back within a partition
  'nonmonotonic-subscription', // a subscription going back within a partition
  'skipping-subscription', // a subscription missing events between two it delivered
  'divergence', // two brokers' final reads of one log differ
  'stale-read', // an id acknowledged before a point read began, not found by it
] as const;
export type AnomalyKind = (typeof ANOMALY_KINDS)[number];

export interface Anomaly {
  kind: AnomalyKind;
  detail: string;
  namespace?: string;
  value?: string;
  broker?: string;
}

/** Examples kept per kind; the counts are always complete. */
export const MAX_EXAMPLES_PER_KIND = 20;

export interface Verdict {
  valid: boolean;
  counts: Record<AnomalyKind, number>;
  examples: Anomaly[];
  stats: {
    invoked: number;
    acknowledged: number;
    failed: number;
    unknown: number;
    /** Unknown outcome, found in the final reads: the write happened. */
    unknownSeen: number;
    /** Unknown outcome, never seen: not an anomaly, just counted. */
    unseen: number;
    /** Invoked and never completed: a recorder bug unless the run was cut short. */
    incomplete: number;
    finalReads: number;
    eventsRead: number;
    deliveries: number;
    pointReads: number;
  };
}

interface Write {
  namespace: string;
  value: string;
  invokedAt: number;
  completedAt?: number;
  outcome?: 'ok' | 'fail' | 'info';
  id?: string;
}

class Report {
  readonly counts = Object.fromEntries(ANOMALY_KINDS.map((kind) => [kind, 0])) as Record<AnomalyKind, number>;
  readonly examples: Anomaly[] = [];

  add(anomaly: Anomaly): void {
    if (this.counts[anomaly.kind]++ < MAX_EXAMPLES_PER_KIND) this.examples.push(anomaly);
  }
}

function collectWrites(history: readonly AppendOp[]): Map<string, Write> {
  const writes = new Map<string, Write>();
  for (const op of history) {
    const write = writes.get(op.value);
    if (op.type === 'invoke') {
      if (write) throw new Error(`history invalid: value ${op.value} is written twice`);
      writes.set(op.value, { namespace: op.namespace, value: op.value, invokedAt: op.index });
      continue;
    }
    if (!write || write.outcome) throw new Error(`history invalid: completion of ${op.value} at ${op.index} without one open invoke`);
    write.outcome = op.type;
    write.completedAt = op.index;
    if (op.type === 'ok') write.id = op.id;
  }
  return writes;
}

/** id → values and value → ids over every observation, and a value twice in one read. */
function checkIdentities(input: CheckInput, writes: Map<string, Write>, report: Report): void {
  const valuesById = new Map<string, Set<string>>();
  const idsByValue = new Map<string, Set<string>>();
  const observe = (id: string, value: string): void => {
    let values = valuesById.get(id);
    if (!values) valuesById.set(id, (values = new Set()));
    values.add(value);
    let ids = idsByValue.get(value);
    if (!ids) idsByValue.set(value, (ids = new Set()));
    ids.add(id);
  };
  for (const write of writes.values()) if (write.outcome === 'ok' && write.id !== undefined) observe(write.id, write.value);
  const reads: Array<{ where: string; broker: string; events: readonly ObservedEvent[] }> = [
    ...input.finalReads.map((read) => ({ where: `final read of ${read.broker}`, broker: read.broker, events: read.events })),
    ...input.subscriptions.map((sub) => ({ where: `subscription ${sub.subscriber}`, broker: sub.broker, events: sub.deliveries })),
  ];
  for (const read of reads) {
    const seen = new Set<string>();
    for (const event of read.events) {
      observe(event.id, event.value);
      if (seen.has(event.value)) report.add({ kind: 'duplicate', value: event.value, namespace: event.namespace, broker: read.broker, detail: `${read.where} holds ${event.value} twice` });
      seen.add(event.value);
      checkOrigin(event, writes.get(event.value), read.where, read.broker, report);
    }
  }
  for (const read of input.pointReads ?? []) {
    if (read.result !== 'found' || !read.got) continue;
    observe(read.id, read.got.value);
    checkOrigin({ id: read.id, ...read.got }, writes.get(read.got.value), `point read by ${read.process}`, read.broker, report);
  }
  for (const [id, values] of valuesById) {
    if (values.size > 1) report.add({ kind: 'inconsistent-offset', detail: `id ${id} holds ${[...values].join(', ')}` });
  }
  for (const [value, ids] of idsByValue) {
    if (ids.size > 1) report.add({ kind: 'duplicate', value, detail: `${value} is at ${[...ids].join(', ')}` });
  }
}

function checkOrigin(event: ObservedEvent, write: Write | undefined, where: string, broker: string, report: Report): void {
  if (!write) report.add({ kind: 'phantom', value: event.value, namespace: event.namespace, broker, detail: `${where} holds ${event.value} at ${event.id}, never written` });
  else if (write.namespace !== event.namespace) report.add({ kind: 'phantom', value: event.value, namespace: event.namespace, broker, detail: `${where} holds ${event.value} in ${event.namespace}; it was written to ${write.namespace}` });
  else if (write.outcome === 'fail') report.add({ kind: 'failed-write-read', value: event.value, namespace: event.namespace, broker, detail: `${where} holds ${event.value}, whose write was refused` });
}

function checkMonotonic(events: readonly ObservedEvent[], onBack: (event: ObservedEvent, previousOffset: number) => void): void {
  const lastOffset = new Map<number, number>();
  for (const event of events) {
    const { partition, offset } = parseEventId(event.id);
    const previous = lastOffset.get(partition);
    if (previous !== undefined && offset <= previous) onBack(event, previous);
    lastOffset.set(partition, offset);
  }
}

/** Values per namespace in read order (the first occurrence of each). */
function namespaceOrder(read: FinalRead): Map<string, Map<string, number>> {
  const positions = new Map<string, Map<string, number>>();
  for (const event of read.events) {
    let inNamespace = positions.get(event.namespace);
    if (!inNamespace) positions.set(event.namespace, (inNamespace = new Map()));
    if (!inNamespace.has(event.value)) inNamespace.set(event.value, inNamespace.size);
  }
  return positions;
}

function checkFinalRead(read: FinalRead, writes: Map<string, Write>, report: Report): void {
  checkMonotonic(read.events, (event, previous) => report.add({ kind: 'nonmonotonic-read', broker: read.broker, value: event.value, detail: `final read of ${read.broker} goes back to ${event.id} after offset ${previous}` }));
  const order = namespaceOrder(read);
  const acknowledged = new Map<string, Write[]>();
  for (const write of writes.values()) {
    if (write.outcome !== 'ok') continue;
    if (!order.get(write.namespace)?.has(write.value)) {
      report.add({ kind: 'lost-write', broker: read.broker, value: write.value, namespace: write.namespace, detail: `${write.value} (acknowledged as ${write.id}) is missing from the final read of ${read.broker}` });
      continue;
    }
    let list = acknowledged.get(write.namespace);
    if (!list) acknowledged.set(write.namespace, (list = []));
    list.push(write);
  }
  for (const [namespace, list] of acknowledged) checkAckOrder(namespace, list, order.get(namespace)!, read.broker, report);
}

/**
 * For every acknowledged B: no A acknowledged before B was invoked may be read after B.
 * One sweep: ops by invoke time, a pointer over ops by completion time keeping the
 * furthest position read among those already acknowledged.
 */
function checkAckOrder(namespace: string, list: Write[], positions: Map<string, number>, broker: string, report: Report): void {
  const byInvoke = [...list].sort((a, b) => a.invokedAt - b.invokedAt);
  const byCompletion = [...list].sort((a, b) => a.completedAt! - b.completedAt!);
  let next = 0;
  let furthest: Write | undefined;
  for (const b of byInvoke) {
    while (next < byCompletion.length && byCompletion[next]!.completedAt! < b.invokedAt) {
      const a = byCompletion[next++]!;
      if (!furthest || positions.get(a.value)! > positions.get(furthest.value)!) furthest = a;
    }
    if (furthest && positions.get(furthest.value)! > positions.get(b.value)!) {
      report.add({ kind: 'order-violation', namespace, broker, value: b.value, detail: `${furthest.value} was acknowledged before ${b.value} was invoked, but ${broker} has it after` });
    }
  }
}

function checkSubscription(sub: SubscriptionRecord, reference: FinalRead | undefined, report: Report): void {
  checkMonotonic(sub.deliveries, (event, previous) => report.add({ kind: 'nonmonotonic-subscription', broker: sub.broker, value: event.value, detail: `subscription ${sub.subscriber} goes back to ${event.id} after offset ${previous}` }));
  if (!reference) return;
  const order = namespaceOrder(reference);
  const lastPosition = new Map<string, number>();
  for (const event of sub.deliveries) {
    const position = order.get(event.namespace)?.get(event.value);
    if (position === undefined) continue; // not in the final read: reported as lost or phantom there
    const previous = lastPosition.get(event.namespace) ?? (sub.fromEarliest ? -1 : undefined);
    if (previous !== undefined && position > previous + 1) {
      report.add({ kind: 'skipping-subscription', broker: sub.broker, namespace: event.namespace, value: event.value, detail: `subscription ${sub.subscriber} skipped ${position - previous - 1} event(s) of ${event.namespace} before ${event.value}` });
    }
    lastPosition.set(event.namespace, Math.max(position, previous ?? position));
  }
}

/** A point read is of an id acknowledged before it began: not finding it is a stale (or lost) read. */
function checkPointReads(reads: readonly PointRead[], writes: Map<string, Write>, report: Report): void {
  const ackedAt = new Map<string, { value: string; completedAt: number }>();
  for (const write of writes.values()) if (write.outcome === 'ok' && write.id !== undefined) ackedAt.set(write.id, { value: write.value, completedAt: write.completedAt! });
  for (const read of reads) {
    const acked = ackedAt.get(read.id);
    if (read.result === 'missing' && acked && acked.completedAt < read.invokedAt) {
      report.add({ kind: 'stale-read', broker: read.broker, value: acked.value, detail: `${read.process} did not find ${read.id} (${acked.value}), acknowledged before the read began` });
    }
  }
}

function checkDivergence(reads: readonly FinalRead[], report: Report): void {
  const [first, ...others] = reads;
  if (!first) return;
  const sequence = (read: FinalRead): Map<string, string[]> => {
    const byNamespace = new Map<string, string[]>();
    for (const event of read.events) {
      let list = byNamespace.get(event.namespace);
      if (!list) byNamespace.set(event.namespace, (list = []));
      list.push(`${event.id}=${event.value}`);
    }
    return byNamespace;
  };
  const expected = sequence(first);
  for (const other of others) {
    const actual = sequence(other);
    for (const namespace of new Set([...expected.keys(), ...actual.keys()])) {
      const a = expected.get(namespace) ?? [];
      const b = actual.get(namespace) ?? [];
      const length = Math.max(a.length, b.length);
      for (let i = 0; i < length; i++) {
        if (a[i] === b[i]) continue;
        report.add({ kind: 'divergence', namespace, broker: other.broker, detail: `${namespace} event ${i}: ${first.broker} has ${a[i] ?? 'nothing'}, ${other.broker} has ${b[i] ?? 'nothing'}` });
        break;
      }
    }
  }
}

export function check(input: CheckInput): Verdict {
  const report = new Report();
  const writes = collectWrites(input.history);
  checkIdentities(input, writes, report);
  for (const read of input.finalReads) checkFinalRead(read, writes, report);
  for (const sub of input.subscriptions) checkSubscription(sub, input.finalReads.find((read) => read.broker === sub.broker) ?? input.finalReads[0], report);
  checkDivergence(input.finalReads, report);
  checkPointReads(input.pointReads ?? [], writes, report);

  const seen = new Set(input.finalReads.flatMap((read) => read.events.map((event) => event.value)));
  const all = [...writes.values()];
  const unknown = all.filter((write) => write.outcome === 'info');
  const unknownSeen = unknown.filter((write) => seen.has(write.value)).length;
  return {
    valid: ANOMALY_KINDS.every((kind) => report.counts[kind] === 0),
    counts: report.counts,
    examples: report.examples,
    stats: {
      invoked: all.length,
      acknowledged: all.filter((write) => write.outcome === 'ok').length,
      failed: all.filter((write) => write.outcome === 'fail').length,
      unknown: unknown.length,
      unknownSeen,
      unseen: unknown.length - unknownSeen,
      incomplete: all.filter((write) => write.outcome === undefined).length,
      finalReads: input.finalReads.length,
      eventsRead: input.finalReads.reduce((sum, read) => sum + read.events.length, 0),
      deliveries: input.subscriptions.reduce((sum, sub) => sum + sub.deliveries.length, 0),
      pointReads: (input.pointReads ?? []).filter((read) => read.result !== 'unknown').length,
    },
  };
}

/** One line per anomaly kind found, for the console and the verdict file. */
export function summarize(verdict: Verdict): string {
  const found = ANOMALY_KINDS.filter((kind) => verdict.counts[kind] > 0).map((kind) => `${kind}: ${verdict.counts[kind]}`);
  const { stats } = verdict;
  const head = `${verdict.valid ? 'VALID' : 'INVALID'}: ${stats.acknowledged} acknowledged, ${stats.unknown} unknown (${stats.unseen} never seen), ${stats.failed} failed, ${stats.eventsRead} read, ${stats.deliveries} delivered, ${stats.pointReads} point reads`;
  return [head, ...found.map((line) => `  ${line}`), ...verdict.examples.slice(0, 10).map((anomaly) => `  - ${anomaly.kind}: ${anomaly.detail}`)].join('\n');
}
