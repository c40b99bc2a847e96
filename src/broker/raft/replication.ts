// The leader's side of log replication (§5.3): what to send each follower given its
// Progress (probe, pipelined replicate, or snapshot), how acknowledgements and
// rejections move it, and the commit rule: an index commits once a quorum holds it
// AND its entry is from the current term (§5.4.2; Figure 8 shows why).

import type { RaftCore } from './core.js';
import { MessageType, NO_NODE, Role, message, entryBytes, type Message, type NodeId } from './messages.js';
import { ProgressState } from './progress.js';
import { quorumMatchIndex } from './quorum.js';
import { onReadAck, onCommitInTerm } from './readindex.js';

export function stepLeader(r: RaftCore, m: Message): void {
  const pr = r.progress.get(m.from);
  if (pr === undefined) return; // not (or no longer) a member
  switch (m.type) {
    case MessageType.AppendResponse:
      pr.recentActive = true;
      if (m.reject) handleRejection(r, m);
      else handleAck(r, m);
      return;
    case MessageType.HeartbeatResponse:
      pr.recentActive = true;
      pr.probeSent = false;
      // A live follower with a full window gets one slot back, so a lost ack cannot stall it forever.
      if (pr.state === ProgressState.Replicate && pr.inflights.full()) pr.inflights.freeFirstOne();
      if (pr.match < r.log.lastIndex()) sendAppend(r, m.from, true);
      if (m.context > pr.readAck) {
        pr.readAck = m.context;
        onReadAck(r);
      }
      return;
    default:
      return;
  }
}

function handleRejection(r: RaftCore, m: Message): void {
  const pr = r.progress.get(m.from);
  if (pr === undefined) return;
  let next = m.rejectHint;
  if (m.logTerm > 0) {
    // Skip every entry of ours whose term is above the follower's term at the hint.
    next = r.log.findConflictByTerm(m.rejectHint, m.logTerm)[0];
  }
  if (!pr.maybeDecreaseTo(m.index, next)) return; // stale rejection
  if (pr.state === ProgressState.Replicate) pr.becomeProbe();
  sendAppend(r, m.from, true);
}

function handleAck(r: RaftCore, m: Message): void {
  const pr = r.progress.get(m.from);
  if (pr === undefined) return;
  const wasPaused = pr.isPaused();
  if (!pr.maybeUpdate(m.index)) return;
  if (pr.state === ProgressState.Probe) pr.becomeReplicate();
  else if (pr.state === ProgressState.Snapshot && pr.match >= pr.pendingSnapshot) pr.becomeReplicate();
  else if (pr.state === ProgressState.Replicate) pr.inflights.freeLE(m.index);
  if (maybeCommit(r)) bcastAppend(r);
  else if (wasPaused || pr.next <= r.log.lastIndex()) sendAppend(r, m.from, false);
  if (m.from === r.leadTransferee && pr.match === r.log.lastIndex()) sendTimeoutNow(r, m.from);
}

/** Advances the commit index if a quorum allows it. Returns whether it moved. */
export function maybeCommit(r: RaftCore): boolean {
  if (r.role !== Role.Leader) return false;
  const index = quorumMatchIndex(r.conf.voters, (id) => r.progress.get(id)?.match ?? 0);
  if (index <= r.log.committed) return false;
  const plantedBug = r.cfg.plantedBugs.commitPreviousTerm === true;
  if (!plantedBug && r.log.term(index) !== r.term) return false;
  r.log.commitTo(index);
  if (r.log.term(r.log.committed) === r.term) onCommitInTerm(r);
  return true;
}

/**
 * Sends what the follower needs next. In Replicate it keeps sending batches while
 * the inflight window has room (pipelining); in Probe one message at a time.
 * Returns whether anything was sent.
 */
export function sendAppend(r: RaftCore, to: NodeId, sendIfEmpty: boolean): boolean {
  const pr = r.progress.get(to);
  if (pr === undefined || to === r.id) return false;
  let sent = false;
  while (!pr.isPaused()) {
    const prevIndex = pr.next - 1;
    const prevTerm = r.log.term(prevIndex);
    const lastIndex = r.log.lastIndex();
    const entries = r.log.slice(pr.next, lastIndex + 1, r.cfg.maxMessageBytes);
    if (prevTerm === undefined || entries === undefined) return sendSnapshot(r, to) || sent;
    if (entries.length === 0 && (sent || !sendIfEmpty)) return sent;
    let bytes = 0;
    for (const entry of entries) bytes += entryBytes(entry);
    r.send(message({ type: MessageType.Append, from: r.id, to, term: r.term, index: prevIndex, logTerm: prevTerm, entries, commit: r.log.committed }));
    pr.sentEntries(prevIndex + entries.length, entries.length, bytes);
    sent = true;
    if (pr.state !== ProgressState.Replicate || entries.length === 0) return true;
  }
  return sent;
}

/** §7: the follower needs entries we compacted away; send the latest snapshot instead. */
function sendSnapshot(r: RaftCore, to: NodeId): boolean {
  const pr = r.progress.get(to);
  if (pr === undefined || !pr.recentActive) return false; // do not ship a snapshot to a node that may be down
  const snapshot = r.log.storage.snapshot();
  if (snapshot.metadata.index === 0) return false;
  r.send(message({ type: MessageType.Snapshot, from: r.id, to, term: r.term, snapshot }));
  pr.becomeSnapshot(snapshot.metadata.index);
  return true;
}

export function bcastAppend(r: RaftCore): void {
  for (const id of r.progress.keys()) if (id !== r.id) sendAppend(r, id, true);
}

export function bcastHeartbeat(r: RaftCore, context: number): void {
  for (const [id, pr] of r.progress) {
    if (id === r.id) continue;
    // Never claim a commit index beyond what the follower is known to hold.
    const commit = Math.min(pr.match, r.log.committed);
    r.send(message({ type: MessageType.Heartbeat, from: r.id, to: id, term: r.term, commit, context }));
  }
}

export function sendTimeoutNow(r: RaftCore, to: NodeId): void {
  r.send(message({ type: MessageType.TimeoutNow, from: r.id, to, term: r.term }));
}

export function abortLeaderTransfer(r: RaftCore): void {
  r.leadTransferee = NO_NODE;
}
