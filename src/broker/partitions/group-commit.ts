// A consumer group's position is a command in the log of the partition its name
// hashes to, so every replica keeps the same cursor (in the machine and its
// snapshots). The commit is proposed at the leader — forwarded there from a
// follower — and answered once this broker has applied it, so a read of the group
// here sees it. Setting a position is idempotent: a failed attempt is made again,
// for at most NO_LEADER_WAIT_MS, then refused with FLO_ERR_UNAVAILABLE.
import { FloError } from '../../common/errors.js';
import type { NodeId } from '../raft/messages.js';
import { COMMAND_GROUP, encodeCommand } from './commands.js';
import { NO_LEADER_WAIT_MS } from './leader-forwarding.js';
import type { PartitionHost } from './partition.js';

/** How long a forwarded commit waits to be applied here before it is answered anyway. */
const LOCAL_APPLY_WAIT_MS = 1_000;
const RETRY_PAUSE_MS = 20;

export interface GroupCommitJob {
  readonly partition: number;
  readonly host: PartitionHost;
  readonly group: string;
  readonly cursor: string;
  leader(): NodeId | null;
  /** Proposes at this broker (its leader) and resolves once applied. */
  proposeHere(command: Buffer): Promise<void>;
  /** Whether this replica has applied the commit. */
  appliedHere(): boolean;
  halted(): Error | undefined;
}

export async function commitGroupPosition(job: GroupCommitJob): Promise<void> {
  const command = encodeCommand({ kind: COMMAND_GROUP, group: job.group, cursor: job.cursor });
  const deadline = performance.now() + NO_LEADER_WAIT_MS;
  let lastError: unknown;
  while (job.halted() === undefined && performance.now() <= deadline) {
    const leader = job.leader();
    try {
      if (leader === job.host.nodeId) {
        await job.proposeHere(command);
        return;
      }
      if (leader !== null && job.host.forwardCommand !== undefined) {
        await job.host.forwardCommand(leader, job.partition, command);
        const applyDeadline = performance.now() + LOCAL_APPLY_WAIT_MS;
        while (!job.appliedHere() && performance.now() < applyDeadline) await new Promise((resolve) => setTimeout(resolve, 5));
        return;
      }
    } catch (error) {
      if (!(error instanceof FloError) || !error.retryable) throw error;
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
  }
  throw job.halted() ?? new FloError('FLO_ERR_UNAVAILABLE',
    `partition ${job.partition} has no reachable leader to commit group "${job.group}"${lastError instanceof Error ? ` (last: ${lastError.message})` : ''}`);
}
