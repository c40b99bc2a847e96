// Client-facing requests to a leader: proposals (batched into one append),
// membership changes (one at a time), ReadIndex reads and leader transfer (thesis
// §3.10). Each returns a typed refusal instead of throwing: refusals are normal
// operation (not the leader, busy), not bugs.

import { assert } from '../../common/assert.js';
import type { RaftCore } from './core.js';
import { applyConfChange, encodeConfChange, validateConfChange, type ConfChange } from './membership.js';
import { EntryType, NO_NODE, Role, entryBytes, type Entry, type NodeId } from './messages.js';
import { requestRead } from './readindex.js';
import { sendAppend, sendTimeoutNow } from './replication.js';
import { ProgressState } from './progress.js';

export type RefusalReason = 'not-leader' | 'transferring' | 'overloaded' | 'conf-change-pending' | 'conf-change-invalid';

export type ProposeResult =
  | { readonly ok: true; readonly firstIndex: number; readonly lastIndex: number; readonly term: number }
  | { readonly ok: false; readonly reason: RefusalReason; readonly leader: NodeId; readonly detail: string };

function refuse(r: RaftCore, reason: RefusalReason, detail: string): ProposeResult {
  return { ok: false, reason, leader: r.leader, detail };
}

function refusal(r: RaftCore): ProposeResult | null {
  if (r.role !== Role.Leader) return refuse(r, 'not-leader', 'this member is not the leader');
  if (r.leadTransferee !== NO_NODE) return refuse(r, 'transferring', 'leadership is being transferred');
  return null;
}

export function propose(r: RaftCore, payloads: readonly Uint8Array[]): ProposeResult {
  assert(payloads.length > 0, 'raft: empty proposal');
  const refused = refusal(r);
  if (refused !== null) return refused;
  const first = r.log.lastIndex() + 1;
  const entries: Entry[] = payloads.map((data, i) => ({ term: r.term, index: first + i, type: EntryType.Normal, data }));
  let bytes = 0;
  for (const entry of entries) bytes += entryBytes(entry);
  // Always admit one batch when nothing is outstanding, so an oversized batch cannot wedge the group.
  if (r.uncommittedBytes > 0 && r.uncommittedBytes + bytes > r.cfg.maxUncommittedBytes) {
    return refuse(r, 'overloaded', 'too many uncommitted bytes');
  }
  r.log.append(entries);
  r.uncommittedBytes += bytes;
  r.appendPending = true;
  return { ok: true, firstIndex: first, lastIndex: first + entries.length - 1, term: r.term };
}

export function proposeConfChange(r: RaftCore, change: ConfChange): ProposeResult {
  const refused = refusal(r);
  if (refused !== null) return refused;
  if (r.pendingConfIndex > r.log.applied) {
    return refuse(r, 'conf-change-pending', 'the previous membership change (or the new term\'s first entry) is not applied yet');
  }
  const invalid = validateConfChange(r.conf, change);
  if (invalid !== null) return refuse(r, 'conf-change-invalid', invalid);
  if (applyConfChange(r.conf, change).voters.length === 0) return refuse(r, 'conf-change-invalid', 'no voters would remain');
  const index = r.log.lastIndex() + 1;
  r.log.append([{ term: r.term, index, type: EntryType.ConfChange, data: encodeConfChange(change) }]);
  r.pendingConfIndex = index;
  r.appendPending = true;
  return { ok: true, firstIndex: index, lastIndex: index, term: r.term };
}

export function readIndex(r: RaftCore, requestId: number): ProposeResult {
  if (r.role !== Role.Leader) return refuse(r, 'not-leader', 'this member is not the leader');
  if (!requestRead(r, requestId)) return refuse(r, 'overloaded', 'too many reads pending');
  return { ok: true, firstIndex: r.log.committed, lastIndex: r.log.committed, term: r.term };
}

/** Starts handing leadership to `target`; proposals are refused until it completes or times out. */
export function transferLeadership(r: RaftCore, target: NodeId): ProposeResult {
  if (r.role !== Role.Leader) return refuse(r, 'not-leader', 'this member is not the leader');
  if (target === r.id) return { ok: true, firstIndex: 0, lastIndex: 0, term: r.term };
  if (!r.conf.voters.includes(target)) return refuse(r, 'conf-change-invalid', 'transfer target is not a voter');
  const pr = r.progress.get(target);
  if (pr === undefined) return refuse(r, 'conf-change-invalid', 'transfer target has no progress');
  r.leadTransferee = target;
  r.electionElapsed = 0; // the transfer is abandoned after one election timeout
  if (pr.match === r.log.lastIndex()) sendTimeoutNow(r, target);
  else sendAppend(r, target, true);
  return { ok: true, firstIndex: 0, lastIndex: 0, term: r.term };
}

/** The transport could not reach `id`: stop pipelining blindly and probe instead. */
export function reportUnreachable(r: RaftCore, id: NodeId): void {
  const pr = r.progress.get(id);
  if (r.role === Role.Leader && pr !== undefined && pr.state === ProgressState.Replicate) pr.becomeProbe();
}
