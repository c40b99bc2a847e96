// The Raft state machine of one group member. Pure and deterministic: time comes
// in through tick(), peers through step(), clients through propose()/readIndex();
// everything to persist, send and apply goes out through ready()/advance().
// Roles and message handling live in election.ts, replication.ts, follower.ts and
// readindex.ts; this file holds the state, the term rules of step() and the Ready cycle.

import { assert } from '../../common/assert.js';
import { resolveConfig, type RaftConfig, type ResolvedConfig } from './config.js';

export type { RaftConfig } from './config.js';
import { campaign, handleVoteRequest, stepCandidate } from './election.js';
import { stepFollower } from './follower.js';
import { RaftLog } from './log.js';
import { applyConfChange, decodeConfChange, EMPTY_CONF, type ConfChange } from './membership.js';
import { propose, proposeConfChange, readIndex, reportUnreachable, transferLeadership, type ProposeResult } from './proposals.js';
import {
  CONTEXT_TRANSFER, EntryType, MessageType, NO_NODE, Role, entryBytes, message,
  type ConfState, type Entry, type HardState, type Message, type NodeId, type Ready, type ReadState, type SoftState,
} from './messages.js';
import { Progress } from './progress.js';
import { ReadIndexQueue } from './readindex.js';
import { bcastAppend, bcastHeartbeat, maybeCommit, stepLeader } from './replication.js';
import type { LogStorage } from './storage.js';
import { leaderTick } from './leader-tick.js';

interface InProgress {
  readonly lastEntry: Entry | undefined;
  readonly snapshotIndex: number;
  readonly committed: readonly Entry[];
}

/**
 * State is public for the role modules and for tests and the simulator to inspect;
 * only the methods below may be called to change it from outside the core.
 */
export class RaftCore {
  readonly id: NodeId;
  readonly cfg: ResolvedConfig;
  readonly log: RaftLog;
  term: number;
  vote: NodeId;
  leader: NodeId = NO_NODE;
  role: Role = Role.Follower;
  conf: ConfState;
  /** Conf change entries up to here are reflected in `conf`. */
  confAppliedIndex: number;
  readonly progress = new Map<NodeId, Progress>();
  readonly votes = new Map<NodeId, boolean>();
  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  leadTransferee: NodeId = NO_NODE;
  /** A new conf change may be proposed only once this index is applied (one change at a time). */
  pendingConfIndex = 0;
  uncommittedBytes = 0;
  /** The leader has appended entries that no append message has carried yet. */
  appendPending = false;
  msgs: Message[] = [];
  /** Leader replication traffic that may leave before the Ready is persisted. */
  msgsBeforePersist: Message[] = [];
  readStates: ReadState[] = [];
  readonly reads: ReadIndexQueue;
  private prevHardState: HardState;
  private prevSoftState: SoftState;
  private inProgress: InProgress | null = null;

  constructor(config: RaftConfig, storage: LogStorage) {
    this.cfg = resolveConfig(config);
    this.id = this.cfg.id;
    this.reads = new ReadIndexQueue(this.cfg.maxPendingReads);
    const hardState = storage.hardState();
    this.term = hardState.term;
    this.vote = hardState.vote;
    this.log = new RaftLog(storage);
    this.conf = storage.snapshot().metadata.conf ?? EMPTY_CONF;
    this.confAppliedIndex = storage.snapshot().metadata.index;
    this.replayCommittedConfChanges();
    this.becomeFollower(this.term, NO_NODE);
    this.prevHardState = this.hardState();
    this.prevSoftState = this.softState();
  }

  /** Committed conf changes are in force even before the caller re-applies the entries after a restart. */
  private replayCommittedConfChanges(): void {
    const entries = this.log.slice(this.confAppliedIndex + 1, this.log.committed + 1, Number.MAX_SAFE_INTEGER) ?? [];
    for (const entry of entries) if (entry.type === EntryType.ConfChange) this.applyConfEntry(entry);
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  softState(): SoftState {
    return { leader: this.leader, role: this.role, term: this.term };
  }

  promotable(): boolean {
    return this.conf.voters.includes(this.id);
  }

  send(m: Message): void {
    assert(m.to !== this.id, 'raft: message to self');
    const leaderTraffic = this.role === Role.Leader &&
      (m.type === MessageType.Append || m.type === MessageType.Heartbeat || m.type === MessageType.Snapshot || m.type === MessageType.TimeoutNow);
    const early = leaderTraffic || this.cfg.plantedBugs.sendBeforePersist === true;
    (early ? this.msgsBeforePersist : this.msgs).push(m);
  }

  // ---- role transitions -------------------------------------------------

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NO_NODE;
    }
    this.leader = NO_NODE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.cfg.electionTicks + this.cfg.random.nextInt(this.cfg.electionTicks);
    this.leadTransferee = NO_NODE;
    this.votes.clear();
    this.reads.clear();
    this.progress.clear();
    this.appendPending = false;
  }

  becomeFollower(term: number, leader: NodeId): void {
    this.reset(term);
    this.role = Role.Follower;
    this.leader = leader;
  }

  becomePreCandidate(): void {
    // A pre-candidate keeps its term and vote: a failed pre-vote must not disturb anyone.
    assert(this.role !== Role.Leader, 'raft: leader cannot become pre-candidate');
    this.votes.clear();
    this.leader = NO_NODE;
    this.role = Role.PreCandidate;
  }

  becomeCandidate(): void {
    assert(this.role !== Role.Leader, 'raft: leader cannot become candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = Role.Candidate;
  }

  becomeLeader(): void {
    assert(this.role === Role.Candidate, 'raft: only a candidate can become leader');
    this.reset(this.term);
    this.role = Role.Leader;
    this.leader = this.id;
    const next = this.log.lastIndex() + 1;
    for (const id of [...this.conf.voters, ...this.conf.learners]) {
      this.progress.set(id, new Progress(next, this.cfg.maxInflightMessages, this.cfg.maxInflightBytes));
    }
    const self = this.selfProgress();
    self.maybeUpdate(this.log.stableLastIndex());
    self.recentActive = true;
    // An empty entry of the new term lets the leader commit (§5.4.2) and learn the
    // commit index for ReadIndex (§6.4); conf changes wait until it is applied.
    const noop: Entry = { term: this.term, index: next, type: EntryType.Normal, data: new Uint8Array(0) };
    this.log.append([noop]);
    this.pendingConfIndex = noop.index;
    this.uncommittedBytes = 0;
    this.appendPending = true;
  }

  selfProgress(): Progress {
    const self = this.progress.get(this.id);
    assert(self !== undefined, 'raft: leader without own progress');
    return self;
  }

  // ---- inputs -----------------------------------------------------------

  tick(): void {
    if (this.role === Role.Leader) {
      leaderTick(this);
      return;
    }
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      campaign(this, this.cfg.preVote ? 'pre-vote' : 'election');
    }
  }

  step(m: Message): void {
    assert(m.to === this.id, `raft: message for ${m.to} stepped into ${this.id}`);
    if (m.term > this.term) {
      if (!this.acceptHigherTerm(m)) return;
    } else if (m.term < this.term) {
      this.answerStaleTerm(m);
      return;
    }
    if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
      handleVoteRequest(this, m);
      return;
    }
    switch (this.role) {
      case Role.Leader:
        stepLeader(this, m);
        return;
      case Role.Candidate:
      case Role.PreCandidate:
        stepCandidate(this, m);
        return;
      case Role.Follower:
        stepFollower(this, m);
        return;
    }
  }

  /** §5.1: a higher term makes us a follower, except for the pre-vote and lease cases. Returns whether to go on. */
  private acceptHigherTerm(m: Message): boolean {
    if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
      const force = m.context === CONTEXT_TRANSFER;
      const inLease = this.cfg.checkQuorum && this.leader !== NO_NODE && this.electionElapsed < this.cfg.electionTicks;
      // A node that still hears from a leader ignores disruptive candidates (thesis §4.2.3).
      if (!force && inLease) return false;
    }
    if (m.type === MessageType.PreVote) return true; // never change term for a pre-vote
    if (m.type === MessageType.PreVoteResponse && !m.reject) return true;
    const fromLeader = m.type === MessageType.Append || m.type === MessageType.Heartbeat || m.type === MessageType.Snapshot;
    this.becomeFollower(m.term, fromLeader ? m.from : NO_NODE);
    return true;
  }

  private answerStaleTerm(m: Message): void {
    if ((this.cfg.checkQuorum || this.cfg.preVote) && (m.type === MessageType.Heartbeat || m.type === MessageType.Append)) {
      // Tells a deposed leader (whose pre-votes we would otherwise ignore) about the newer term.
      this.send(message({ type: MessageType.AppendResponse, from: this.id, to: m.from, term: this.term }));
    } else if (m.type === MessageType.PreVote) {
      this.send(message({ type: MessageType.PreVoteResponse, from: this.id, to: m.from, term: this.term, reject: true }));
    }
  }

  // ---- the Ready cycle --------------------------------------------------

  /** Whether ready() has work. False while a Ready is outstanding (advance() not yet called). */
  hasReady(): boolean {
    if (this.inProgress !== null) return false;
    if (this.appendPending && this.role === Role.Leader) return true;
    return (
      this.msgs.length > 0 ||
      this.msgsBeforePersist.length > 0 ||
      this.readStates.length > 0 ||
      this.log.unstableEntries().length > 0 ||
      this.log.pendingSnapshot() !== null ||
      this.log.committed > this.log.applied ||
      !sameHardState(this.hardState(), this.prevHardState) ||
      !sameSoftState(this.softState(), this.prevSoftState)
    );
  }

  /** Takes the next batch of work. Exactly one Ready may be outstanding; call advance() when handled. */
  ready(): Ready {
    assert(this.inProgress === null, 'raft: ready() called twice without advance()');
    if (this.appendPending && this.role === Role.Leader) bcastAppend(this);
    this.appendPending = false;
    const hardState = this.hardState();
    const softState = this.softState();
    const entries = [...this.log.unstableEntries()];
    const snapshot = this.log.pendingSnapshot();
    const committedEntries = this.log.nextCommittedEntries(this.cfg.maxCommittedBytesPerReady);
    const rd: Ready = {
      softState: sameSoftState(softState, this.prevSoftState) ? null : softState,
      hardState: sameHardState(hardState, this.prevHardState) ? null : hardState,
      entries,
      snapshot,
      committedEntries,
      messagesBeforePersist: this.msgsBeforePersist,
      messages: this.msgs,
      readStates: this.readStates,
      mustSync: entries.length > 0 || snapshot !== null || hardState.term !== this.prevHardState.term || hardState.vote !== this.prevHardState.vote,
    };
    this.msgs = [];
    this.msgsBeforePersist = [];
    this.readStates = [];
    this.prevHardState = hardState;
    this.prevSoftState = softState;
    this.inProgress = { lastEntry: entries.at(-1), snapshotIndex: snapshot?.metadata.index ?? 0, committed: committedEntries };
    return rd;
  }

  /**
   * Leader replication traffic that may leave now, even while a Ready is being
   * persisted: new proposals reach followers without waiting for the leader's
   * current fsync. Their entries still come out in the next Ready to persist.
   */
  takeMessagesBeforePersist(): Message[] {
    if (this.appendPending && this.role === Role.Leader) {
      bcastAppend(this);
      this.appendPending = false;
    }
    const out = this.msgsBeforePersist;
    this.msgsBeforePersist = [];
    return out;
  }

  /** The last Ready is persisted, sent and applied. */
  advance(): void {
    const done = this.inProgress;
    assert(done !== null, 'raft: advance() without ready()');
    this.inProgress = null;
    if (done.snapshotIndex > 0) this.log.stableSnapshotTo(done.snapshotIndex);
    const last = done.lastEntry;
    if (last !== undefined) {
      this.log.stableTo(last.index, last.term);
      if (this.role === Role.Leader && this.log.term(last.index) === last.term) {
        // The leader's own vote for its entries counts only once they are durable.
        if (this.selfProgress().maybeUpdate(this.log.stableLastIndex()) && maybeCommit(this)) this.appendPending = true;
      }
    }
    for (const entry of done.committed) {
      if (entry.type === EntryType.ConfChange) this.applyConfEntry(entry);
      if (this.role === Role.Leader && entry.term === this.term) {
        this.uncommittedBytes = Math.max(0, this.uncommittedBytes - entryBytes(entry));
      }
    }
    const lastCommitted = done.committed.at(-1);
    if (lastCommitted !== undefined && lastCommitted.index > this.log.applied) this.log.appliedTo(lastCommitted.index);
  }

  private applyConfEntry(entry: Entry): void {
    if (entry.index <= this.confAppliedIndex) return;
    this.confAppliedIndex = entry.index;
    this.conf = applyConfChange(this.conf, decodeConfChange(entry.data));
    if ((this.role === Role.Candidate || this.role === Role.PreCandidate) && !this.promotable()) {
      // Removed while campaigning (found by sim seed 25251): votes still in flight must not make it leader.
      this.becomeFollower(this.term, NO_NODE);
      return;
    }
    if (this.role !== Role.Leader) return;
    const members = new Set([...this.conf.voters, ...this.conf.learners]);
    for (const id of members) {
      if (!this.progress.has(id)) {
        this.progress.set(id, new Progress(this.log.lastIndex() + 1, this.cfg.maxInflightMessages, this.cfg.maxInflightBytes));
      }
    }
    for (const id of [...this.progress.keys()]) if (!members.has(id)) this.progress.delete(id);
    if (this.leadTransferee !== NO_NODE && !this.conf.voters.includes(this.leadTransferee)) this.leadTransferee = NO_NODE;
    if (!this.conf.voters.includes(this.id)) {
      // A leader removed from the voters stops leading; the rest elect a new one.
      this.becomeFollower(this.term, NO_NODE);
      return;
    }
    if (maybeCommit(this)) this.appendPending = true;
  }

  propose(payloads: readonly Uint8Array[]): ProposeResult {
    return propose(this, payloads);
  }

  proposeConfChange(change: ConfChange): ProposeResult {
    return proposeConfChange(this, change);
  }

  /** Asks for a linearizable read; the answer comes back as a ReadState in a later Ready. */
  readIndex(requestId: number): ProposeResult {
    return readIndex(this, requestId);
  }

  transferLeadership(target: NodeId): ProposeResult {
    return transferLeadership(this, target);
  }

  reportUnreachable(id: NodeId): void {
    reportUnreachable(this, id);
  }

  /** For ReadIndex and heartbeats: bcastHeartbeat with the current read round. */
  heartbeat(): void {
    bcastHeartbeat(this, this.reads.round);
  }
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.leader === b.leader && a.role === b.role && a.term === b.term;
}
