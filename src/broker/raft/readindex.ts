// ReadIndex (thesis §6.4): a linearizable read without a log write. The leader
// records its commit index, proves it is still leader with one heartbeat round
// acknowledged by a quorum, and then hands the read back as a ReadState; the caller
// serves it once applied >= index. Reads before the leader's first commit in its
// term wait for it, since only then is the commit index known to be current.

import { assert } from '../../common/assert.js';
import type { RaftCore } from './core.js';
import { hasQuorum } from './quorum.js';

interface PendingRead {
  readonly requestId: number;
  readonly index: number;
  readonly round: number;
}

export class ReadIndexQueue {
  /** Heartbeat round counter; a follower's ack of round n confirms every read of round <= n. */
  round = 0;
  waiting: number[] = [];
  pending: PendingRead[] = [];

  constructor(readonly maxPending: number) {}

  get size(): number {
    return this.waiting.length + this.pending.length;
  }

  clear(): void {
    this.waiting = [];
    this.pending = [];
  }
}

/** Queues a read on the leader. Returns false when the queue is full. */
export function requestRead(r: RaftCore, requestId: number): boolean {
  const q = r.reads;
  if (q.size >= q.maxPending) return false;
  if (r.log.term(r.log.committed) !== r.term) {
    q.waiting.push(requestId);
    return true;
  }
  startRound(r, [requestId]);
  return true;
}

function startRound(r: RaftCore, requestIds: readonly number[]): void {
  const q = r.reads;
  if (r.conf.voters.length === 1) {
    // The only voter needs nobody's confirmation.
    for (const requestId of requestIds) r.readStates.push({ requestId, index: r.log.committed });
    return;
  }
  q.round++;
  for (const requestId of requestIds) q.pending.push({ requestId, index: r.log.committed, round: q.round });
  r.heartbeat();
}

export function onCommitInTerm(r: RaftCore): void {
  const q = r.reads;
  if (q.waiting.length === 0) return;
  const waiting = q.waiting;
  q.waiting = [];
  startRound(r, waiting);
}

export function onReadAck(r: RaftCore): void {
  const q = r.reads;
  while (q.pending.length > 0) {
    const first = q.pending[0];
    assert(first !== undefined, 'readindex: empty head');
    const confirmed = hasQuorum(r.conf.voters, (id) => id === r.id || (r.progress.get(id)?.readAck ?? 0) >= first.round);
    if (!confirmed) return;
    q.pending.shift();
    r.readStates.push({ requestId: first.requestId, index: first.index });
  }
}
