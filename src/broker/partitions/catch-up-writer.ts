// Catching a partition's event store up past a snapshot (cluster/catch-up.ts says
// why a snapshot carries no events): copy the events it lacks, by offset, from a
// replica that stores them, batch by batch. Each batch carries the partition's end
// so far, so a crash mid-way leaves a consistent prefix and the next start goes on
// from there; the snapshot's index is recorded as applied in the last, synced batch.
import { FloError } from '../../common/errors.js';
import type { EventSegment } from '../cluster/catch-up.js';
import type { NodeId } from '../raft/messages.js';
import type { StoreOperation, StoredGroup } from '../storage/event-store.js';
import * as keys from '../storage/keys.js';
import type { PartitionHost } from './partition.js';
import { appliedKey } from './partition-keys.js';
import type { ApplyOutcome, PartitionMachine } from './partition-machine.js';

/** How long a replica catching up keeps asking the others for the next batch before it fails stop (counted from its last batch, not from the start: a large copy under --catch-up-rate takes longer). */
export const CATCH_UP_WAIT_MS = 60_000;

export interface CatchUpJob {
  readonly id: number;
  readonly host: PartitionHost;
  /** The machine of the snapshot, and the Raft index it stands for. */
  readonly target: PartitionMachine;
  readonly index: number;
  /** Where the store's events end now. */
  readonly from: { readonly nextOffset: number; readonly lastTimestamp: number };
  /** Writes an applied command's groups and indexes, as apply does. */
  layout(outcome: ApplyOutcome, ops: StoreOperation[], groups: StoredGroup[]): void;
  /** The group's current leader (asked first), if known. */
  leader(): NodeId | null;
  /** The group's members now (voters and learners): who else may hold the events. */
  replicas(): NodeId[];
  /** Milliseconds, for the give-up wait (tests pass their own clock). */
  readonly now?: () => number;
}

/** Copies [from, snapshot's next offset) into the store; resolves with the new stored end. */
export async function catchUpPartition(job: CatchUpJob): Promise<number> {
  const { id, host, target, index } = job;
  const store = host.store;
  const to = target.nextOffset;
  let at = job.from.nextOffset;
  let lastTimestamp = job.from.lastTimestamp;
  const now = job.now ?? (() => performance.now());
  const started = now();
  host.logger.info({ partition: id, from: at, to, index }, 'catching up past a snapshot: copying events from a replica');
  while (at < to) {
    const segments = await fetchFromReplicas(job, at, to, now);
    const ops: StoreOperation[] = [];
    const groups: StoredGroup[] = [];
    for (const segment of segments) {
      if (segment.start < at || segment.start + segment.events.length > to) throw new FloError('FLO_ERR_PROTOCOL', `partition ${id}: a replica answered events outside [${at}, ${to})`);
      // Trimmed by retention at the source: bridge the gap so the commit chain stays unbroken (verify.ts).
      if (segment.start > at) ops.push({ type: 'put', key: keys.timeKey(id, Math.max(lastTimestamp, 0), at), value: keys.encodeTimeValue(segment.start) });
      const events = segment.events.map((event, i) => ({ ...event, offset: segment.start + i, timestamp: segment.timestamp }));
      job.layout({ kind: 'appended', firstOffset: segment.start, timestamp: segment.timestamp, events }, ops, groups);
      at = segment.start + segment.events.length;
      lastTimestamp = Math.max(lastTimestamp, segment.timestamp);
    }
    if (segments.length === 0) {
      // The source stores nothing more below `to` (all trimmed): bridge to the end.
      ops.push({ type: 'put', key: keys.timeKey(id, Math.max(lastTimestamp, 0), at), value: keys.encodeTimeValue(to) });
      at = to;
    }
    const end = at === to ? { next: to, timestamp: Math.max(lastTimestamp, target.lastTimestamp) } : { next: at, timestamp: lastTimestamp };
    ops.push({ type: 'put', key: keys.partitionKey(id), value: keys.encodePartitionState(end.next, end.timestamp) });
    if (at === to) ops.push({ type: 'put', key: appliedKey(id), value: Buffer.from(JSON.stringify(index)) });
    const newNamespaces = store.dictionary.takeUnpersisted();
    for (const entry of newNamespaces) ops.push({ type: 'put', key: keys.dictKey(entry.nsId), value: Buffer.from(entry.namespace, 'utf8') });
    try {
      await store.reserve(new Map([[id, end.next]]));
      await store.write(ops, at === to);
    } catch (error) {
      store.dictionary.restoreUnpersisted(newNamespaces);
      throw error;
    }
    host.onApplied(id, groups, end.next, end.timestamp, 0);
  }
  host.logger.info({ partition: id, to, index, ms: Math.round(now() - started) }, 'caught up past the snapshot');
  return to;
}

/** One batch of [from, to) from whichever other replica has it; retried across replicas for a bounded time. */
async function fetchFromReplicas(job: CatchUpJob, from: number, to: number, now: () => number): Promise<EventSegment[]> {
  const { id, host } = job;
  const fetch = host.fetchEvents!;
  let lastError: unknown;
  const asked = now();
  for (let round = 0; round === 0 || now() - asked < CATCH_UP_WAIT_MS; round++) {
    const leader = job.leader();
    const others = job.replicas().filter((member) => member !== host.nodeId);
    // The leader first: it sent the snapshot, so it has applied that far.
    const order = leader !== null && others.includes(leader) ? [leader, ...others.filter((member) => member !== leader)] : others;
    for (const member of order) {
      try {
        return await fetch(member, { partition: id, from, to });
      } catch (error) {
        lastError = error;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 50 * 2 ** Math.min(round, 5))));
  }
  throw new FloError('FLO_ERR_UNAVAILABLE', `partition ${id}: no replica could give the events [${from}, ${to}) within ${CATCH_UP_WAIT_MS} ms${lastError instanceof Error ? ` (last: ${lastError.message})` : ''}`);
}

