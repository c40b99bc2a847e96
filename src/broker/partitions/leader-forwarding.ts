// A chunk of appends at a broker that does not lead their partition: sent to the
// leader (over the peer connection, host.forward) once there is one, answered with
// the leader's offsets once applied here too. Sent again only when the failure
// proves nothing was stored — or always for an idempotent producer's batch, which
// the machine deduplicates. Without a reachable leader for NO_LEADER_WAIT_MS the
// chunk is refused with FLO_ERR_UNAVAILABLE: bounded, never a hang.
import { MAX_COMMIT_BATCH_BYTES } from '../../common/bounds.js';
import { FloError } from '../../common/errors.js';
import type { NodeId } from '../raft/messages.js';
import type { AppliedOffsets } from './applied-offsets.js';
import type { PartitionHost } from './partition.js';
import { appendCommand, type Slot } from './slots.js';

/**
 * How long an append waits for its partition to have a reachable leader before it is refused: a few
 * election timeouts (0.5–1 s each), so one failover is ridden out, and a partition without a quorum
 * answers in bounded time.
 */
export const NO_LEADER_WAIT_MS = 5_000;
const RETRY_PAUSE_MS = 20;

/**
 * Chunks of one partition go to its leader in the order they were taken: a chunk waits for the one
 * before it to be sent (or settled) first. Without this a chunk that found no leader yet (a handover
 * just ended) slept its retry pause while a newer one, taken a moment later, went first: the leader
 * stored the producer's newer batch and refused the older as stale (bench W4 at start, while leaders
 * were balanced: bench/repro-forward-reorder.ts).
 */
export class ForwardOrder {
  private last: Promise<void> = Promise.resolve();

  /** The turn of the next chunk: wait for `turn`, call `sent` once it was handed to the leader (or settled). */
  next(): { turn: Promise<void>; sent: () => void } {
    const turn = this.last;
    let sent!: () => void;
    this.last = new Promise((resolve) => (sent = resolve));
    return { turn, sent };
  }
}

export interface ForwardJob {
  readonly partition: number;
  /** This chunk's place among the partition's chunks (ForwardOrder). */
  readonly turn: Promise<void>;
  readonly sent: () => void;
  readonly host: PartitionHost;
  readonly applied: AppliedOffsets;
  readonly slots: Slot[];
  leader(): NodeId | null;
  /** Why the partition takes no more work, if it stopped or is closing. */
  halted(): Error | undefined;
  /** Back to the partition's pending (this broker became the leader). */
  requeue(slot: Slot): void;
  /** Refused for good. */
  settle(slot: Slot, reason: Error): void;
  /** Answered: it no longer counts as waiting. */
  release(slot: Slot): void;
}

/**
 * Pending runs as chunks to forward: plain slots packed up to MAX_COMMIT_BATCH_BYTES, each idempotent
 * batch whole (a retry must match it exactly); slots forwarded here by another broker are refused with
 * `refuse` (their origin picks the leader again), never forwarded on.
 */
export function chunksForLeader(runs: Iterable<Slot[]>, refuse: (slot: Slot) => void): Slot[][] {
  const chunks: Slot[][] = [];
  let chunk: Slot[] = [];
  let bytes = 0;
  for (const run of runs) {
    if (run[0]?.producer !== undefined && !run[0].forwarded) {
      chunks.push(run);
      continue;
    }
    for (const slot of run) {
      if (slot.forwarded) {
        refuse(slot);
        continue;
      }
      if (chunk.length > 0 && bytes + slot.bytes > MAX_COMMIT_BATCH_BYTES) {
        chunks.push(chunk);
        chunk = [];
        bytes = 0;
      }
      chunk.push(slot);
      bytes += slot.bytes;
    }
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

export async function forwardToLeader(job: ForwardJob): Promise<void> {
  try {
    await forwardInTurn(job);
  } finally {
    job.sent();
  }
}

async function forwardInTurn(job: ForwardJob): Promise<void> {
  const { host, slots } = job;
  // Counted from when the chunk was taken, not from its turn: chunks queued behind one that waited are not kept longer.
  const deadline = performance.now() + NO_LEADER_WAIT_MS;
  await job.turn;
  let lastError: unknown;
  while (job.halted() === undefined) {
    const leader = job.leader();
    if (leader === host.nodeId) {
      for (const slot of slots) job.requeue(slot);
      return;
    }
    if (leader !== null && host.forward !== undefined) {
      try {
        const reply = host.forward(leader, job.partition, appendCommand(host.clock(), slots), slots.length);
        job.sent(); // on the wire, in order: the next chunk may go
        const offsets = await reply;
        let end = 0;
        for (const offset of offsets) end = Math.max(end, offset + 1);
        await job.applied.reach(end);
        slots.forEach((slot, i) => {
          job.release(slot);
          slot.ticket.partitions[slot.index] = job.partition;
          slot.ticket.offsets[slot.index] = offsets[i]!;
          if (--slot.ticket.remaining === 0) slot.ticket.resolve();
        });
        return;
      } catch (error) {
        // An idempotent batch may always go again (the machine answers a repeat with the first attempt's
        // offsets), except one the leader refused as stale: the same again can only be refused again.
        const stale = error instanceof FloError && error.code === 'FLO_ERR_SEQUENCE_STALE';
        if (stale || (!(host.safeToRetry?.(error) ?? false) && slots[0]?.producer === undefined)) {
          for (const slot of slots) job.settle(slot, error as Error);
          return;
        }
        lastError = error;
      }
    }
    if (performance.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
  }
  const reason = job.halted() ?? new FloError('FLO_ERR_UNAVAILABLE',
    `partition ${job.partition} has no reachable leader (no quorum?) after ${NO_LEADER_WAIT_MS} ms; nothing was stored, retry${lastError instanceof Error ? ` (last: ${lastError.message})` : ''}`);
  for (const slot of slots) job.settle(slot, reason);
}
