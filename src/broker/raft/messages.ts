// The data the Raft core exchanges with its caller: log entries, peer messages,
// hard state, snapshots and the Ready batch. Plain data only (no classes), so the
// transport can encode it to bytes and the simulator can copy, delay and duplicate it.

/** A member of a Raft group. 0 means "nobody" (no leader, no vote). */
export type NodeId = number;
export const NO_NODE: NodeId = 0;

export const EntryType = { Normal: 0, ConfChange: 1 } as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  /** Opaque to Raft for normal entries; an encoded ConfChange for ConfChange entries. */
  readonly data: Uint8Array;
}

/** Who votes and who only replicates. Voters and learners never overlap. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export interface SnapshotMetadata {
  readonly index: number;
  readonly term: number;
  readonly conf: ConfState;
}

export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  /** The application's state machine at metadata.index, opaque to Raft. */
  readonly data: Uint8Array;
}

/** What must be durable before anything that depends on it leaves the node (Raft §5.1, Figure 2). */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
}

export const MessageType = {
  Append: 1,
  AppendResponse: 2,
  Vote: 3,
  VoteResponse: 4,
  PreVote: 5,
  PreVoteResponse: 6,
  Heartbeat: 7,
  HeartbeatResponse: 8,
  Snapshot: 9,
  TimeoutNow: 10,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** Vote and PreVote carry this context when they come from a leader transfer (bypasses the lease check). */
export const CONTEXT_TRANSFER = 1;

/**
 * One flat message shape for every type (as etcd does): fields a type does not
 * use are zero. That keeps the wire codec a fixed layout with no optional parts.
 */
export interface Message {
  readonly type: MessageType;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  /** Append: term of the entry before `entries`. Vote: candidate's last log term. Reject: hint term. */
  readonly logTerm: number;
  /** Append: index of the entry before `entries`. Vote: candidate's last index. AppendResponse: match/rejected index. */
  readonly index: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
  readonly reject: boolean;
  /** AppendResponse with reject: the follower's guess of where the logs agree (fast backtracking). */
  readonly rejectHint: number;
  /** Heartbeat(Response): ReadIndex round number. Vote/PreVote: CONTEXT_TRANSFER or 0. */
  readonly context: number;
  readonly snapshot: Snapshot | null;
}

/** Builds a message with every unused field zeroed. */
export function message(fields: Pick<Message, 'type' | 'from' | 'to' | 'term'> & Partial<Message>): Message {
  return {
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: 0,
    snapshot: null,
    ...fields,
  };
}

export const Role = { Follower: 0, PreCandidate: 1, Candidate: 2, Leader: 3 } as const;
export type Role = (typeof Role)[keyof typeof Role];

export const ROLE_NAMES: Readonly<Record<Role, string>> = {
  [Role.Follower]: 'follower',
  [Role.PreCandidate]: 'pre-candidate',
  [Role.Candidate]: 'candidate',
  [Role.Leader]: 'leader',
};

/** Volatile state the caller may want to observe (not persisted). */
export interface SoftState {
  readonly leader: NodeId;
  readonly role: Role;
  readonly term: number;
}

/** A ReadIndex request that the leader has confirmed: serve it once applied >= index. */
export interface ReadState {
  readonly requestId: number;
  readonly index: number;
}

/**
 * One batch of work for the caller. Order of handling: send `messagesBeforePersist`
 * (may go at once), persist `hardState`, `entries` and `snapshot` (one write, synced
 * when `mustSync`), then send `messages`, then apply `snapshot` and
 * `committedEntries`, then call `advance()`.
 */
export interface Ready {
  readonly softState: SoftState | null;
  readonly hardState: HardState | null;
  readonly entries: readonly Entry[];
  readonly snapshot: Snapshot | null;
  readonly committedEntries: readonly Entry[];
  /**
   * A leader's appends, heartbeats, snapshots and TimeoutNow: they depend on no
   * state of this Ready (the leader's term was durable before it could win), so
   * the leader writes its log in parallel with replicating it (thesis §10.2.1).
   * Its own entries count towards commit only after advance() says they are durable.
   */
  readonly messagesBeforePersist: readonly Message[];
  /** Everything else (votes, responses): send only after the Ready is durable. */
  readonly messages: readonly Message[];
  /** Whether the write must be fsynced: false when only the commit index changed (it can be re-learned). */
  readonly mustSync: boolean;
  readonly readStates: readonly ReadState[];
}

export function isEmptySnapshot(snapshot: Snapshot | null): boolean {
  return snapshot === null || snapshot.metadata.index === 0;
}

export function entryBytes(entry: Entry): number {
  return entry.data.byteLength + 24;
}
