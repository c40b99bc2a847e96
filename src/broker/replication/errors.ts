// Errors a RaftNode caller sees. Not-leader carries the leader hint so a client or
// a forwarding layer can retry at the right broker.

import { FloError } from '../../common/errors.js';
import type { NodeId } from '../raft/messages.js';

/** This member cannot accept the request: it is not the leader (or is handing leadership over). */
export class NotLeaderError extends FloError {
  override name = 'NotLeaderError';

  constructor(
    readonly groupId: number,
    /** The member believed to lead, or null when unknown (election in progress). */
    readonly leaderHint: NodeId | null,
    detail = 'not the leader',
  ) {
    // The catalogue has no not-leader code yet: CONNECTION is the closest (503, retryable).
    super('FLO_ERR_NOT_LEADER', `raft group ${groupId}: ${detail}${leaderHint === null ? '' : `; leader is ${leaderHint}`}`);
  }
}

export function isNotLeader(error: unknown): error is NotLeaderError {
  return error instanceof NotLeaderError;
}
