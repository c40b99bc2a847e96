// How an applied command is laid out in the event store: its events as groups (one
// namespace, contiguous offsets, at most MAX_GROUP_BYTES each), each group in the
// namespace index, and the commit in the time index. Apply and catch-up (which
// copies events a snapshot skipped) write the same layout through this one function.
import { encodeGroup, groupEventBytes } from '../../common/wire.js';
import type { StoreOperation, StoredGroup } from '../storage/event-store.js';
import * as keys from '../storage/keys.js';
import type { NamespaceDictionary } from '../storage/namespace-dictionary.js';
import type { ApplyOutcome } from './partition-machine.js';

/** Largest group written to the event store (a single larger event still makes a group of one). */
export const MAX_GROUP_BYTES = 1024 * 1024;

export interface LayoutContext {
  readonly partition: number;
  readonly dictionary: NamespaceDictionary;
  /** The machine's last timestamp (a skip's commit carries it). */
  readonly lastTimestamp: number;
  /** Where the stored offsets end: a skip bridges only what lies beyond it. */
  readonly storedEnd: number;
}

/** Appends the outcome's store operations and groups; returns the new stored end. */
export function layoutOutcome(context: LayoutContext, outcome: ApplyOutcome, ops: StoreOperation[], groups: StoredGroup[]): number {
  const partition = context.partition;
  if (outcome.kind === 'skipped') {
    // A commit of no events, so the store's commit chain stays unbroken (verify.ts).
    const from = Math.max(outcome.from, context.storedEnd);
    if (outcome.to > from) ops.push({ type: 'put', key: keys.timeKey(partition, context.lastTimestamp, from), value: keys.encodeTimeValue(outcome.to) });
    return Math.max(context.storedEnd, outcome.to);
  }
  if (outcome.kind !== 'appended') return context.storedEnd;
  const events = outcome.events;
  let i = 0;
  while (i < events.length) {
    const namespace = events[i]!.namespace;
    let j = i;
    let sizeBytes = 0;
    while (j < events.length && events[j]!.namespace === namespace) {
      const eventBytes = groupEventBytes(events[j]!);
      if (j > i && sizeBytes + eventBytes > MAX_GROUP_BYTES) break;
      sizeBytes += eventBytes;
      j++;
    }
    const nsId = context.dictionary.idOf(namespace);
    const start = events[i]!.offset;
    const value = encodeGroup(events.slice(i, j), outcome.timestamp, nsId, sizeBytes);
    ops.push({ type: 'put', key: keys.groupKey(partition, start), value });
    ops.push({ type: 'put', key: keys.namespaceIndexKey(nsId, start), value: keys.encodeIndexValue(j - i, value.length, outcome.timestamp) });
    groups.push({ partition, start, count: j - i, timestamp: outcome.timestamp, nsId, value });
    i = j;
  }
  ops.push({ type: 'put', key: keys.timeKey(partition, outcome.timestamp, outcome.firstOffset), value: keys.encodeTimeValue(outcome.firstOffset + events.length) });
  return Math.max(context.storedEnd, outcome.firstOffset + events.length);
}
