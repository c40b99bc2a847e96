// Leader election (Raft §5.2) with pre-vote (thesis §9.6): campaigning, answering
// vote requests and counting votes. A vote is only granted to a log at least as
// up to date as ours (§5.4.1), and at most one per term (the vote is persisted
// before the answer leaves, because answers wait for the Ready to be durable).

import type { RaftCore } from './core.js';
import { stepFollower } from './follower.js';
import { CONTEXT_TRANSFER, MessageType, NO_NODE, Role, message, type Message } from './messages.js';
import { voteOutcome } from './quorum.js';

export type CampaignKind = 'pre-vote' | 'election' | 'transfer';

export function campaign(r: RaftCore, kind: CampaignKind): void {
  if (!r.promotable()) return;
  let voteTerm: number;
  let type: MessageType;
  if (kind === 'pre-vote') {
    r.becomePreCandidate();
    voteTerm = r.term + 1;
    type = MessageType.PreVote;
  } else {
    r.becomeCandidate();
    voteTerm = r.term;
    type = MessageType.Vote;
  }
  r.votes.set(r.id, true);
  if (voteOutcome(r.conf.voters, r.votes) === 'won') {
    // A single-voter group wins at once.
    if (kind === 'pre-vote') campaign(r, 'election');
    else r.becomeLeader();
    return;
  }
  const index = r.log.lastIndex();
  const logTerm = r.log.lastTerm();
  for (const to of r.conf.voters) {
    if (to === r.id) continue;
    r.send(message({ type, from: r.id, to, term: voteTerm, index, logTerm, context: kind === 'transfer' ? CONTEXT_TRANSFER : 0 }));
  }
}

export function handleVoteRequest(r: RaftCore, m: Message): void {
  const isPreVote = m.type === MessageType.PreVote;
  const responseType = isPreVote ? MessageType.PreVoteResponse : MessageType.VoteResponse;
  const canVote =
    r.vote === m.from ||
    (r.vote === NO_NODE && r.leader === NO_NODE) ||
    (isPreVote && m.term > r.term);
  const upToDate = r.cfg.plantedBugs.voteWithoutLogCheck === true || r.log.isUpToDate(m.index, m.logTerm);
  if (canVote && upToDate) {
    // A granted pre-vote answers in the candidate's future term so it can count it.
    r.send(message({ type: responseType, from: r.id, to: m.from, term: m.term }));
    if (!isPreVote) {
      r.electionElapsed = 0;
      r.vote = m.from;
    }
  } else {
    r.send(message({ type: responseType, from: r.id, to: m.from, term: r.term, reject: true }));
  }
}

export function stepCandidate(r: RaftCore, m: Message): void {
  switch (m.type) {
    case MessageType.Append:
    case MessageType.Heartbeat:
    case MessageType.Snapshot:
      // A leader of our term exists (§5.2): give up and follow it.
      r.becomeFollower(m.term, m.from);
      stepFollower(r, m);
      return;
    case MessageType.VoteResponse:
    case MessageType.PreVoteResponse: {
      const expected = r.role === Role.PreCandidate ? MessageType.PreVoteResponse : MessageType.VoteResponse;
      if (m.type !== expected) return;
      r.votes.set(m.from, !m.reject);
      const outcome = voteOutcome(r.conf.voters, r.votes);
      if (outcome === 'won' && !r.promotable()) {
        r.becomeFollower(r.term, NO_NODE); // no longer a voter (conf changed during the campaign)
      } else if (outcome === 'won') {
        if (r.role === Role.PreCandidate) campaign(r, 'election');
        else r.becomeLeader();
      } else if (outcome === 'lost') {
        r.becomeFollower(r.term, NO_NODE);
      }
      return;
    }
    default:
      return;
  }
}
