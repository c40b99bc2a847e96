// What the admin API asks of the membership: drain and remove a member, the
// cluster's health, and whether a broker may be restarted now. Every broker is a
// member of every group (controller and partitions) while it holds replicas, so
// each answers from the configurations and leaders it sees itself; replica lag is
// known where a group is led, so a broker judges lag for the groups it leads.
import { FloError } from '../../common/errors.js';
import type { NodeId } from '../raft/messages.js';
import type { RaftNodeStatus } from '../replication/raft-node.js';
import { CONTROLLER_GROUP, outcomeError, type Controller } from './controller.js';
import type { MemberState } from './controller-machine.js';
import { CAUGHT_UP_ENTRIES, replicaCaughtUp, type ReconciledGroup } from './reconciler.js';

export interface MemberSummary {
  readonly member: NodeId;
  readonly state: MemberState;
  readonly self: boolean;
  readonly peer: string;
  readonly url: string | null;
  /** This broker has a live peer connection to it (always true for itself). */
  readonly reachable: boolean;
  /** Partitions whose group has it as a voter or learner. */
  readonly partitions: number;
  /** Partitions it leads, as far as this broker knows. */
  readonly leaders: number;
}

export interface AdminDeps {
  readonly nodeId: NodeId;
  readonly controller: Controller;
  /** The controller's group and every partition's. */
  readonly groups: () => readonly ReconciledGroup[];
  readonly reachable: (id: NodeId) => boolean;
  /** The URL a member told us over its peer connection. */
  readonly urlOf: (id: NodeId) => string | null;
  /** How long a removal of a draining member waits for this broker to see its last replica move (default 2 s). */
  readonly drainSettleMs?: number;
}

const DRAIN_SETTLE_MS = 2_000;

interface Problem {
  readonly what: string;
}

export class ClusterAdmin {
  constructor(private readonly deps: AdminDeps) {}

  members(): MemberSummary[] {
    const statuses = this.partitionStatuses();
    return this.deps.controller.members().map((record) => {
      const self = record.id === this.deps.nodeId;
      return {
        member: record.id, state: record.state, self, peer: record.peer,
        url: this.deps.urlOf(record.id) ?? record.url,
        reachable: self || (record.state !== 'removed' && this.deps.reachable(record.id)),
        partitions: statuses.filter((status) => holds(status, record.id)).length,
        leaders: statuses.filter((status) => status.leader === record.id).length,
      };
    });
  }

  summary(id: NodeId): MemberSummary {
    const found = this.members().find((member) => member.member === id);
    if (found === undefined) throw new FloError('FLO_ERR_MEMBER_NOT_FOUND', `no member ${id} in this cluster`);
    return found;
  }

  /** Marks the member draining (idempotent); its replicas and leaderships then move off it. */
  async drain(id: NodeId): Promise<MemberSummary> {
    const outcome = await this.deps.controller.request({ op: 'drain', id });
    if (!outcome.ok) throw outcomeError(outcome);
    return this.summary(id);
  }

  /** Removes a drained member; with `force`, one that still holds replicas (gone for good): the survivors drop it. */
  async remove(id: NodeId, force: boolean): Promise<MemberSummary> {
    if (!force) {
      const heldNow = (): number => this.allStatuses().filter((status) => holds(status, id)).length;
      let held = heldNow();
      // A drain another broker reports done may reach this one a heartbeat later (a follower learns a
      // committed configuration with the leader's next message): wait that long before refusing.
      const settleBy = Date.now() + (this.deps.drainSettleMs ?? DRAIN_SETTLE_MS);
      while (held > 0 && this.deps.controller.member(id)?.state === 'draining' && Date.now() < settleBy) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        held = heldNow();
      }
      const record = this.deps.controller.member(id);
      if (record !== undefined && record.state !== 'removed' && held > 0) {
        throw new FloError('FLO_ERR_MEMBERSHIP_REFUSED', `node ${id} still holds replicas of ${held} raft group${held === 1 ? '' : 's'}${record.state === 'draining' ? ' (its drain is still moving them)' : ': drain it first'}; only a broker gone for good is removed with force (flo cluster remove --force, or ?force=true)`);
      }
    }
    const outcome = await this.deps.controller.request({ op: 'remove', id, force });
    if (!outcome.ok) throw outcomeError(outcome);
    return this.summary(id);
  }

  /** Every member answering, every partition led and fully replicated, a controller leader: or what is not. */
  health(): { healthy: boolean; controllerLeader: NodeId | null; partitions: { total: number; leaderless: number; underReplicated: number }; problems: string[] } {
    const problems: Problem[] = [];
    const holders = new Set(this.deps.controller.replicaHolders());
    const controllerLeader = this.deps.controller.leader;
    if (controllerLeader === null) problems.push({ what: 'the controller has no leader' });
    for (const member of this.members()) {
      // A drained member holds nothing: it may be stopped already, waiting to be removed.
      const drained = member.state === 'draining' && member.partitions === 0;
      if (member.state !== 'removed' && !drained && !member.reachable) problems.push({ what: `node ${member.member} (${member.state}) does not answer this broker` });
      if (member.state === 'joining') problems.push({ what: `node ${member.member} is still joining (its replicas are catching up)` });
      if (member.state === 'draining' && !drained) problems.push({ what: `node ${member.member} is draining: ${member.partitions} partition${member.partitions === 1 ? '' : 's'} left` });
    }
    const statuses = this.partitionStatuses();
    let leaderless = 0;
    let underReplicated = 0;
    statuses.forEach((status, partition) => {
      if (status.leader === null) {
        leaderless++;
        problems.push({ what: `partition ${partition} has no leader` });
      }
      if (!fullyReplicated(status, holders)) {
        underReplicated++;
        problems.push({ what: `partition ${partition} is not fully replicated (voters ${status.conf.voters.join(', ')}${status.conf.learners.length > 0 ? `, learners ${status.conf.learners.join(', ')}` : ''})` });
      }
    });
    return {
      healthy: problems.length === 0, controllerLeader, partitions: { total: statuses.length, leaderless, underReplicated },
      problems: problems.map((problem) => problem.what),
    };
  }

  /**
   * Before a restart: would stopping `id` now leave a group without a quorum of reachable voters? After one
   * (asked of the member itself): has it caught up — every group led, and its log applied to within a few entries of the commit.
   */
  restartCheck(id: NodeId): { member: NodeId; safe: boolean; problems: string[]; caughtUp: boolean | null } {
    this.summary(id);
    const problems: string[] = [];
    for (const group of this.deps.groups()) {
      const status = group.status();
      const voters = status.conf.voters;
      if (!voters.includes(id)) continue;
      const others = voters.filter((voter) => voter !== id && (voter === this.deps.nodeId || this.deps.reachable(voter)));
      const lagging = new Set((status.progress ?? []).filter((row) => !replicaCaughtUp(row, status)).map((row) => row.member));
      const healthy = others.filter((voter) => !lagging.has(voter));
      const quorum = Math.floor(voters.length / 2) + 1;
      if (healthy.length < quorum) problems.push(`${groupName(group.groupId)}: without node ${id}, ${healthy.length} of ${voters.length} voters are reachable and caught up (a quorum is ${quorum})`);
    }
    let caughtUp: boolean | null = null;
    if (id === this.deps.nodeId) {
      caughtUp = this.deps.groups().every((group) => {
        const status = group.status();
        return status.leader !== null && status.appliedIndex + CAUGHT_UP_ENTRIES >= status.commitIndex;
      });
    } else {
      const led = this.deps.groups().map((group) => group.status()).filter((status) => status.role === 'leader' && holds(status, id));
      if (led.length > 0) caughtUp = led.every((status) => (status.progress ?? []).some((row) => row.member === id && replicaCaughtUp(row, status)));
    }
    return { member: id, safe: problems.length === 0, problems, caughtUp };
  }

  private allStatuses(): RaftNodeStatus[] {
    return this.deps.groups().map((group) => group.status());
  }

  private partitionStatuses(): RaftNodeStatus[] {
    return this.deps.groups().filter((group) => group.groupId !== CONTROLLER_GROUP).map((group) => group.status());
  }
}

function holds(status: RaftNodeStatus, id: NodeId): boolean {
  return status.conf.voters.includes(id) || status.conf.learners.includes(id);
}

function fullyReplicated(status: RaftNodeStatus, holders: ReadonlySet<NodeId>): boolean {
  const voters = new Set(status.conf.voters);
  if (status.conf.learners.length > 0 || voters.size !== holders.size || [...holders].some((id) => !voters.has(id))) return false;
  // Lag is known where the group is led: there, every voter must be caught up.
  return (status.progress ?? []).every((row) => row.learner || replicaCaughtUp(row, status));
}

function groupName(groupId: number): string {
  return groupId === CONTROLLER_GROUP ? 'the controller' : `partition ${groupId - 1}`;
}
