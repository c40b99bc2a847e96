// Placement: which brokers hold each partition's replicas. A pure function of the
// founding members and the replication factor, so every founder computes the same
// table without talking: members sorted by id, partition p on members p .. p+RF-1
// (mod N). The first replica is the preferred leader; consecutive partitions start
// on consecutive members, so replicas and preferred leaders spread evenly.
import { FloError } from '../../common/errors.js';
import type { NodeId } from '../raft/messages.js';

/** Replicas of a partition unless asked otherwise: min(3, founding members). */
export function defaultReplicationFactor(members: number): number {
  return Math.min(3, members);
}

/** The members holding `partition`, preferred leader first. */
export function replicasOf(partition: number, members: readonly NodeId[], replicationFactor: number): NodeId[] {
  const sorted = [...new Set(members)].sort((a, b) => a - b);
  if (sorted.length !== members.length) throw new FloError('FLO_ERR_CONFIG_INVALID', 'cluster members must have distinct node ids');
  if (!Number.isInteger(replicationFactor) || replicationFactor < 1 || replicationFactor > sorted.length) {
    throw new FloError('FLO_ERR_CONFIG_INVALID', `replication factor must be a whole number from 1 to the ${sorted.length} founding members`);
  }
  if (!Number.isSafeInteger(partition) || partition < 0) throw new FloError('FLO_ERR_CONFIG_INVALID', `partition ${partition} is not a partition number`);
  return Array.from({ length: replicationFactor }, (_, i) => sorted[(partition + i) % sorted.length]!);
}

/** The whole table: replicas of partitions 0 .. partitions-1. */
export function placement(partitions: number, members: readonly NodeId[], replicationFactor: number): NodeId[][] {
  return Array.from({ length: partitions }, (_, partition) => replicasOf(partition, members, replicationFactor));
}
