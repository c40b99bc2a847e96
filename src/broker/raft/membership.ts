// Membership changes, one node at a time. A change is a log entry that takes
// effect on each member when it is applied (committed), and a leader proposes a
// new change only after the previous one and an entry of its own term are applied:
// the single-server change protocol with the fix from Ongaro's 2015 raft-dev post.

import type { ConfState, NodeId } from './messages.js';

export const ConfChangeType = { AddVoter: 1, AddLearner: 2, RemoveNode: 3 } as const;
export type ConfChangeType = (typeof ConfChangeType)[keyof typeof ConfChangeType];

export interface ConfChange {
  readonly type: ConfChangeType;
  readonly nodeId: NodeId;
}

const ENCODED_BYTES = 5;

export function encodeConfChange(change: ConfChange): Uint8Array {
  const bytes = new Uint8Array(ENCODED_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, change.type);
  view.setUint32(1, change.nodeId);
  return bytes;
}

export function decodeConfChange(bytes: Uint8Array): ConfChange {
  if (bytes.byteLength !== ENCODED_BYTES) throw new RangeError('raft: malformed conf change entry');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = view.getUint8(0);
  if (type !== ConfChangeType.AddVoter && type !== ConfChangeType.AddLearner && type !== ConfChangeType.RemoveNode) {
    throw new RangeError(`raft: unknown conf change type ${type}`);
  }
  return { type, nodeId: view.getUint32(1) };
}

/** Why a change cannot be applied to `conf`, or null when it can. */
export function validateConfChange(conf: ConfState, change: ConfChange): string | null {
  if (change.nodeId <= 0) return 'node id must be positive';
  const isVoter = conf.voters.includes(change.nodeId);
  const isLearner = conf.learners.includes(change.nodeId);
  switch (change.type) {
    case ConfChangeType.AddVoter:
      return isVoter ? 'node is already a voter' : null;
    case ConfChangeType.AddLearner:
      // Demoting a voter would be two changes to the quorum at once in disguise; refuse it.
      if (isVoter) return 'node is a voter; remove it before re-adding it as a learner';
      return isLearner ? 'node is already a learner' : null;
    case ConfChangeType.RemoveNode:
      if (!isVoter && !isLearner) return 'node is not a member';
      if (isVoter && conf.voters.length === 1) return 'cannot remove the last voter';
      return null;
  }
}

/** The configuration after `change`. Invalid changes leave it unchanged (they were refused at proposal). */
export function applyConfChange(conf: ConfState, change: ConfChange): ConfState {
  if (validateConfChange(conf, change) !== null) return conf;
  const voters = conf.voters.filter((id) => id !== change.nodeId);
  const learners = conf.learners.filter((id) => id !== change.nodeId);
  if (change.type === ConfChangeType.AddVoter) voters.push(change.nodeId);
  if (change.type === ConfChangeType.AddLearner) learners.push(change.nodeId);
  return { voters: voters.sort((a, b) => a - b), learners: learners.sort((a, b) => a - b) };
}

export function isMember(conf: ConfState, id: NodeId): boolean {
  return conf.voters.includes(id) || conf.learners.includes(id);
}

export const EMPTY_CONF: ConfState = { voters: [], learners: [] };
