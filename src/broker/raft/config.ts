// Options of one Raft group member, with named defaults. Times are in ticks: the
// caller decides how long a tick is (RaftNode uses 10 ms by default).

import type { NodeId } from './messages.js';
import type { RandomSource } from './random.js';

/** Default election timeout: a follower campaigns after 10 to 19 ticks without a leader. */
export const DEFAULT_ELECTION_TICKS = 10;
/** Default heartbeat interval of a leader. */
export const DEFAULT_HEARTBEAT_TICKS = 1;
/** Most append messages in flight to one follower in the replicate state (pipelining window). */
export const DEFAULT_MAX_INFLIGHT_MESSAGES = 256;
/** Most entry bytes in flight to one follower. */
export const DEFAULT_MAX_INFLIGHT_BYTES = 32 * 1024 * 1024;
/** Largest batch of entries in one append message. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;
/** Most bytes of committed entries handed out in one Ready. */
export const DEFAULT_MAX_COMMITTED_BYTES_PER_READY = 16 * 1024 * 1024;
/** Most bytes of appended but uncommitted entries a leader accepts before refusing proposals. */
export const DEFAULT_MAX_UNCOMMITTED_BYTES = 64 * 1024 * 1024;
/** Most ReadIndex requests waiting for confirmation at once. */
export const DEFAULT_MAX_PENDING_READS = 4096;

/** Deliberate defects, only for proving that the simulator's checkers can fail. Never set outside tests. */
export interface PlantedBugs {
  /** Commit entries of earlier terms by counting replicas (Raft §5.4.2, Figure 8). */
  readonly commitPreviousTerm?: boolean;
  /** Grant votes without comparing logs (breaks leader completeness, §5.4.1). */
  readonly voteWithoutLogCheck?: boolean;
  /** Send votes and acknowledgements before the state they vouch for is durable (breaks the persistence rule). */
  readonly sendBeforePersist?: boolean;
}

export interface RaftConfig {
  readonly id: NodeId;
  readonly random: RandomSource;
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  /** Ask for pre-votes before starting a real election (§9.6 of Ongaro's thesis). Default true. */
  readonly preVote?: boolean;
  /** A leader steps down when it has not heard from a quorum for an election timeout; voters ignore
   *  vote requests while they have a live leader. Default true. */
  readonly checkQuorum?: boolean;
  readonly maxInflightMessages?: number;
  readonly maxInflightBytes?: number;
  readonly maxMessageBytes?: number;
  readonly maxCommittedBytesPerReady?: number;
  readonly maxUncommittedBytes?: number;
  readonly maxPendingReads?: number;
  readonly plantedBugs?: PlantedBugs;
}

export type ResolvedConfig = Required<Omit<RaftConfig, 'plantedBugs'>> & { readonly plantedBugs: PlantedBugs };

export function resolveConfig(config: RaftConfig): ResolvedConfig {
  const resolved: ResolvedConfig = {
    electionTicks: DEFAULT_ELECTION_TICKS,
    heartbeatTicks: DEFAULT_HEARTBEAT_TICKS,
    preVote: true,
    checkQuorum: true,
    maxInflightMessages: DEFAULT_MAX_INFLIGHT_MESSAGES,
    maxInflightBytes: DEFAULT_MAX_INFLIGHT_BYTES,
    maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
    maxCommittedBytesPerReady: DEFAULT_MAX_COMMITTED_BYTES_PER_READY,
    maxUncommittedBytes: DEFAULT_MAX_UNCOMMITTED_BYTES,
    maxPendingReads: DEFAULT_MAX_PENDING_READS,
    plantedBugs: {},
    ...stripUndefined(config),
    id: config.id,
    random: config.random,
  };
  if (resolved.id <= 0) throw new RangeError('raft: id must be a positive integer');
  if (resolved.heartbeatTicks <= 0 || resolved.electionTicks <= resolved.heartbeatTicks) {
    throw new RangeError('raft: electionTicks must exceed heartbeatTicks > 0');
  }
  if (resolved.maxInflightMessages <= 0) throw new RangeError('raft: maxInflightMessages must be positive');
  return resolved;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
