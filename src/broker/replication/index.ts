// The API partitions build on: a RaftNode per group, over one RaftStorage (LevelDB)
// and one TcpTransport per broker. See docs/raft.md.
export {
  RaftNode, DEFAULT_TICK_MS, DEFAULT_NODE_ELECTION_TICKS, DEFAULT_NODE_HEARTBEAT_TICKS, DEFAULT_PROPOSAL_TIMEOUT_MS, DEFAULT_MAX_PENDING, SNAPSHOT_TRAILING_ENTRIES,
  type RaftNodeOptions, type RaftNodeStatus, type RaftNodeStats, type VoterProgress, type StateMachine,
} from './raft-node.js';
export { NotLeaderError, isNotLeader } from './errors.js';
export { RaftStorage, MAX_CHUNK_ENTRIES, type RaftStorageOptions } from '../storage/raft-storage.js';
export { TcpTransport, type RaftTransport, type TcpTransportOptions, type MessageHandler } from '../transport/tcp-transport.js';
export { MAX_PEER_FRAME_BYTES } from '../transport/frame.js';
export { MAX_PEER_QUEUE_BYTES, RECONNECT_MIN_MS, RECONNECT_MAX_MS, type PeerAddress } from '../transport/peer-link.js';
export { ConfChangeType, type ConfChange } from '../raft/membership.js';
export { EntryType, type Entry, type NodeId, type ConfState, type SoftState } from '../raft/messages.js';
