// What a follower does with a leader's messages: append with the consistency check
// (§5.3) and a conflict hint for fast backtracking, heartbeats that advance the
// commit index, InstallSnapshot (§7), and TimeoutNow from a leader transfer.

import type { RaftCore } from './core.js';
import { campaign } from './election.js';
import { MessageType, message, type Message } from './messages.js';

export function stepFollower(r: RaftCore, m: Message): void {
  switch (m.type) {
    case MessageType.Append:
      r.electionElapsed = 0;
      r.leader = m.from;
      handleAppend(r, m);
      return;
    case MessageType.Heartbeat:
      r.electionElapsed = 0;
      r.leader = m.from;
      handleHeartbeat(r, m);
      return;
    case MessageType.Snapshot:
      r.electionElapsed = 0;
      r.leader = m.from;
      handleSnapshot(r, m);
      return;
    case MessageType.TimeoutNow:
      // The leader hands over: campaign at once, bypassing pre-vote and leases.
      campaign(r, 'transfer');
      return;
    default:
      return;
  }
}

function handleAppend(r: RaftCore, m: Message): void {
  const reply = { type: MessageType.AppendResponse, from: r.id, to: m.from, term: r.term } as const;
  if (m.index < r.log.committed) {
    // Everything up to our commit index is already agreed; say so instead of re-checking.
    r.send(message({ ...reply, index: r.log.committed }));
    return;
  }
  const lastNew = r.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
  if (lastNew !== undefined) {
    r.send(message({ ...reply, index: lastNew }));
    return;
  }
  // Find the last index that may agree, with its term, so the leader can skip a whole term per round trip.
  const [hintIndex, hintTerm] = r.log.findConflictByTerm(Math.min(m.index, r.log.lastIndex()), m.logTerm);
  r.send(message({ ...reply, index: m.index, reject: true, rejectHint: hintIndex, logTerm: hintTerm }));
}

function handleHeartbeat(r: RaftCore, m: Message): void {
  // The leader sends commit <= our match, so the entries are there; min() guards a lagging log anyway.
  r.log.commitTo(Math.min(m.commit, r.log.lastIndex()));
  r.send(message({ type: MessageType.HeartbeatResponse, from: r.id, to: m.from, term: r.term, context: m.context }));
}

function handleSnapshot(r: RaftCore, m: Message): void {
  const snapshot = m.snapshot;
  const reply = { type: MessageType.AppendResponse, from: r.id, to: m.from, term: r.term } as const;
  if (snapshot === null) return;
  const { index, term, conf } = snapshot.metadata;
  if (index <= r.log.committed) {
    r.send(message({ ...reply, index: r.log.committed }));
    return;
  }
  if (r.log.matchTerm(index, term)) {
    // We already hold the snapshot's last entry: only the commit index moves.
    r.log.commitTo(index);
    r.send(message({ ...reply, index: r.log.committed }));
    return;
  }
  r.log.restore(snapshot);
  r.conf = conf;
  r.confAppliedIndex = index;
  r.send(message({ ...reply, index: r.log.lastIndex() }));
}
