// What the admin API asks of the membership: drain and remove a member, the
// cluster's health, and whether a broker may be restarted now. Every broker is a
// member of every group (controller and partitions) while it holds replicas, so
// each answers from the configurations and leaders it sees itself. Replica lag is
// known only where a group is led: health asks each other leader which of its
// replicas lag (lag-requests.ts), so every broker gives the same answer.
import { FloError } from '../../common/errors.js';
import type { NodeId } from '../raft/messages.js';
import type { RaftNodeStatus } from '../replication/raft-node.js';
import { CONTROLLER_GROUP, outcomeError, type Controller } from './controller.js';
import type { MemberState } from './controller-machine.js';
import type { LagAnswer, LaggingReplica } from './lag-requests.js';
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
  /** The lagging replicas of the groups `leader` leads, as it answers over the peer connection. */
  readonly askLagging?: (leader: NodeId) => Promise<LagAnswer>;
}

export interface ClusterHealth {
  healthy: boolean;
  controllerLeader: NodeId | null;
  partitions: { total: number; leaderless: number; underReplicated: number };
  problems: string[];
}

/** What a leader said about its replicas' lag: its answer, nothing (a broker too old to be asked), or why it did not answer. */
type LeaderAnswer = { readonly answer: LagAnswer } | { readonly cannotTell: true } | { readonly failed: string };

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
  async health(): Promise<ClusterHealth> {
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
    const groups = this.deps.groups().filter((group) => group.groupId !== CONTROLLER_GROUP).map((group) => ({ groupId: group.groupId, status: group.status() }));
    const answers = await this.askLeaders(groups.map((group) => group.status));
    let leaderless = 0;
    let underReplicated = 0;
    groups.forEach(({ groupId, status }, partition) => {
      if (status.leader === null) {
        leaderless++;
        problems.push({ what: `partition ${partition} has no leader` });
      }
      const answer = status.leader === null ? undefined : answers.get(status.leader);
      if (answer !== undefined && 'answer' in answer && !answer.answer.led.includes(groupId)) {
        problems.push({ what: `partition ${partition}: node ${status.leader}, its leader as this broker last heard, no longer leads it (leadership is moving)` });
      }
      const lagging = laggingOf(groupId, status, answer);
      if (!configured(status, holders) || lagging.length > 0) {
        underReplicated++;
        const behind = lagging.length > 0 ? `; behind its leader: ${lagging.map((row) => `node ${row.member}${row.behind > 0 ? ` by ${row.behind} entries` : ''}`).join(', ')}` : '';
        problems.push({ what: `partition ${partition} is not fully replicated (voters ${status.conf.voters.join(', ')}${status.conf.learners.length > 0 ? `, learners ${status.conf.learners.join(', ')}` : ''}${behind})` });
      }
    });
    for (const [leader, answer] of answers) {
      if (!('failed' in answer)) continue;
      const led = groups.filter(({ status }) => status.leader === leader).map(({ groupId }) => groupId - 1);
      problems.push({ what: `node ${leader}, leading partition${led.length === 1 ? '' : 's'} ${led.join(', ')}, did not say which of their replicas lag: ${answer.failed}` });
    }
    return {
      healthy: problems.length === 0, controllerLeader, partitions: { total: groups.length, leaderless, underReplicated },
      problems: problems.map((problem) => problem.what),
    };
  }

  /** The groups this broker leads and their voters that are not caught up (what a lag request is answered with). */
  laggingLed(): LagAnswer {
    const led: number[] = [];
    const lagging: LaggingReplica[] = [];
    for (const group of this.deps.groups()) {
      const status = group.status();
      if (status.role !== 'leader') continue;
      led.push(group.groupId);
      lagging.push(...laggingHere(group.groupId, status));
    }
    return { led, lagging };
  }

  /** Asks every other broker that leads one of these groups, at once. */
  private async askLeaders(statuses: readonly RaftNodeStatus[]): Promise<Map<NodeId, LeaderAnswer>> {
    const leaders = new Set(statuses.map((status) => status.leader).filter((leader): leader is NodeId => leader !== null && leader !== this.deps.nodeId));
    const answers = new Map<NodeId, LeaderAnswer>();
    const ask = this.deps.askLagging;
    await Promise.all([...leaders].map(async (leader) => {
      if (ask === undefined) return answers.set(leader, { cannotTell: true });
      try {
        answers.set(leader, { answer: await ask(leader) });
      } catch (error) {
        // A broker of the previous version answers an unknown request kind as a protocol error: it cannot tell, which is not a fault.
        const remote = (error as { remote?: { code?: string } }).remote;
        answers.set(leader, remote?.code === 'FLO_ERR_PROTOCOL' ? { cannotTell: true } : { failed: error instanceof Error ? error.message : String(error) });
      }
    }));
    return answers;
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

/** Every replica holder is a voter, and nobody else: the group's configuration is complete. */
function configured(status: RaftNodeStatus, holders: ReadonlySet<NodeId>): boolean {
  const voters = new Set(status.conf.voters);
  return status.conf.learners.length === 0 && voters.size === holders.size && [...holders].every((id) => voters.has(id));
}

/** The voters of a group this broker leads that it does not count as caught up. */
function laggingHere(groupId: number, status: RaftNodeStatus): LaggingReplica[] {
  return (status.progress ?? []).filter((row) => !row.learner && !replicaCaughtUp(row, status))
    .map((row) => ({ group: groupId, member: row.member, behind: Math.max(0, status.commitIndex - row.match) }));
}

/** The voters of a group its leader does not count as caught up: from its progress here, or from its answer. */
function laggingOf(groupId: number, status: RaftNodeStatus, answer: LeaderAnswer | undefined): LaggingReplica[] {
  if (status.role === 'leader') return laggingHere(groupId, status);
  return answer !== undefined && 'answer' in answer ? answer.answer.lagging.filter((row) => row.group === groupId) : [];
}

function groupName(groupId: number): string {
  return groupId === CONTROLLER_GROUP ? 'the controller' : `partition ${groupId - 1}`;
}
