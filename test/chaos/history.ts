// What a chaos run records, in the shape the checker reads: every append as an
// invoke followed by exactly one completion (ok with the returned id, fail when
// the broker definitely refused it, info when the outcome is unknown), each
// value written once in the whole run; plus what was read back at the end and
// what live subscribers were delivered. `index` is the op's place in the history,
// which is real-time order (one recorder, appended as things happen).

export type OpType = 'invoke' | 'ok' | 'fail' | 'info';

export interface AppendOp {
  index: number;
  /** ms since the start of the run. */
  timeMs: number;
  /** The client that did it (one op in flight per process and value). */
  process: string;
  type: OpType;
  f: 'append';
  namespace: string;
  /** Unique in the run: the value identifies the write. */
  value: string;
  /** On ok: the id the broker returned. */
  id?: string;
  /** On fail / info: why. */
  error?: string;
  /** Idempotent writers: the earlier attempts' outcomes, when the request was sent more than once. */
  attempts?: string[];
}

export interface ObservedEvent {
  id: string;
  namespace: string;
  value: string;
}

/** Everything one broker returned for the workload's namespaces after healing, in the order it returned it. */
export interface FinalRead {
  broker: string;
  events: ObservedEvent[];
}

export interface SubscriptionRecord {
  subscriber: string;
  broker: string;
  /** Subscribed from `earliest`: its first delivery of each namespace must be that namespace's first event. */
  fromEarliest: boolean;
  deliveries: ObservedEvent[];
  /** Why it ended, if it did not end by being closed. */
  error?: string;
}

/**
 * A read that claims to be current: GET /v1/events/{id} of an id already acknowledged
 * when the read was invoked. `invokedAt` / `completedAt` are history indexes, so
 * every op with a smaller index happened before.
 */
export interface PointRead {
  process: string;
  broker: string;
  id: string;
  invokedAt: number;
  completedAt: number;
  result: 'found' | 'missing' | 'unknown';
  got?: { namespace: string; value: string };
  error?: string;
}

export interface CheckInput {
  history: readonly AppendOp[];
  /** Final reads of the same log from every broker holding it (one today; one per replica once partitions replicate). */
  finalReads: readonly FinalRead[];
  subscriptions: readonly SubscriptionRecord[];
  pointReads?: readonly PointRead[];
}

/** Records ops as they happen, giving each its index and time. */
export class HistoryRecorder {
  readonly ops: AppendOp[] = [];
  private readonly startedAtMs = Date.now();

  /** The index the next op will get: what a read invoked now comes after. */
  get now(): number {
    return this.ops.length;
  }

  record(op: Omit<AppendOp, 'index' | 'timeMs' | 'f'>): AppendOp {
    const full: AppendOp = { index: this.ops.length, timeMs: Date.now() - this.startedAtMs, f: 'append', ...op };
    this.ops.push(full);
    return full;
  }
}

export function parseJsonLines<T>(text: string): T[] {
  return text.split('\n').filter((line) => line.trim() !== '').map((line) => JSON.parse(line) as T);
}
