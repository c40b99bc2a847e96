// Makes every Raft group this broker leads match the controller's table, one
// configuration change at a time: a member that joined is added as a learner,
// promoted to voter once it has caught up, and only then counted; a member being
// drained or removed is taken out (leadership handed away first when it is this
// broker). Declarative and re-derived on every pass from the table and each
// group's own configuration, so a leader killed in the middle of a move leaves
// nothing half-done that the next leader does not pick up: the configuration in
// the log is the only record of a move. Bounded: a few groups change at once.
//
// It also balances leadership: each partition has a preferred leader (spread
// evenly over the members), and a leader that is not the preferred one hands
// leadership over, slowly, once the preferred one is a caught-up voter.
import type { Logger } from 'pino';
import { ConfChangeType, type ConfChange } from '../raft/membership.js';
import type { NodeId } from '../raft/messages.js';
import type { RaftNodeStatus, VoterProgress } from '../replication/raft-node.js';

/** A learner this close to the leader's commit index counts as caught up. */
export const CAUGHT_UP_ENTRIES = 100;
/** Most groups with a configuration change in flight from this broker at once. */
export const MAX_CHANGES_IN_FLIGHT = 4;
const PASS_MS = 250;
/** At most one leadership transfer for balance per this interval, per broker. */
const BALANCE_EVERY_MS = 500;

/**
 * Whether a leader's progress row shows a replica caught up: replicating, within CAUGHT_UP_ENTRIES of
 * the commit index. The leader's own row always counts (it is never in 'replicate': it does not send to itself).
 */
export function replicaCaughtUp(row: VoterProgress, status: RaftNodeStatus): boolean {
  return row.member === status.nodeId || (row.state === 'replicate' && row.match + CAUGHT_UP_ENTRIES >= status.commitIndex);
}

export type GroupAction =
  | { readonly kind: 'change'; readonly change: ConfChange; readonly why: string }
  | { readonly kind: 'transfer'; readonly to: NodeId; readonly why: string };

/** What a group's leader should do next so its members become `desired` (null: nothing now). Pure. */
export function nextGroupAction(status: RaftNodeStatus, desired: ReadonlySet<NodeId>): GroupAction | null {
  if (status.role !== 'leader') return null;
  const { voters, learners } = status.conf;
  const progress = new Map((status.progress ?? []).map((row) => [row.member, row]));
  const caughtUp = (id: NodeId): boolean => {
    const row = progress.get(id);
    return row !== undefined && replicaCaughtUp(row, status);
  };
  for (const id of learners) {
    if (!desired.has(id)) return { kind: 'change', change: { type: ConfChangeType.RemoveNode, nodeId: id }, why: `learner ${id} is no longer a member` };
  }
  for (const id of [...desired].sort((a, b) => a - b)) {
    if (!voters.includes(id) && !learners.includes(id)) return { kind: 'change', change: { type: ConfChangeType.AddLearner, nodeId: id }, why: `node ${id} joined: add it as a learner` };
  }
  for (const id of learners) {
    if (caughtUp(id)) return { kind: 'change', change: { type: ConfChangeType.AddVoter, nodeId: id }, why: `learner ${id} caught up: promote it` };
  }
  for (const id of voters) {
    if (desired.has(id)) continue;
    if (id === status.nodeId) {
      const heir = voters.filter((voter) => voter !== id && desired.has(voter) && caughtUp(voter)).sort((a, b) => (progress.get(b)!.match - progress.get(a)!.match) || a - b)[0];
      return heir === undefined ? null : { kind: 'transfer', to: heir, why: `this broker is leaving: hand leadership of group to ${heir}` };
    }
    // Never the last voter; the controller refuses drains that would leave fewer than the replication factor.
    if (voters.length > 1) return { kind: 'change', change: { type: ConfChangeType.RemoveNode, nodeId: id }, why: `node ${id} is leaving: remove its replica` };
  }
  return null;
}

/** The preferred leader of a group: members spread round-robin over the groups, so leadership is even. */
export function preferredLeader(groupId: number, members: readonly NodeId[]): NodeId | undefined {
  const sorted = [...members].sort((a, b) => a - b);
  return sorted.length === 0 ? undefined : sorted[groupId % sorted.length];
}

export interface ReconciledGroup {
  readonly groupId: number;
  /** Leading, but handing leadership over. */
  readonly transferring: boolean;
  status(): RaftNodeStatus;
  changeMembership(change: ConfChange): Promise<number>;
  transferLeadership(target: NodeId): void;
}

export interface ReconcilerOptions {
  /** Every group this broker is a member of (controller and partitions). */
  readonly groups: () => readonly ReconciledGroup[];
  /** The controller's table: who should hold replicas. */
  readonly desired: () => readonly NodeId[];
  /** Partition groups whose leadership is balanced (the controller's is left where it is). */
  readonly balanced: (groupId: number) => boolean;
  /** Whether a member may be handed leadership now (false for one that said it is stopping). */
  readonly mayLead: (id: NodeId) => boolean;
  /** Called on the controller's leader after each pass: promote joiners that are voters everywhere. */
  readonly afterPass?: () => void;
  readonly logger: Logger;
}

export class Reconciler {
  private readonly inFlight = new Set<number>();
  private readonly timer: NodeJS.Timeout;
  private lastBalance = 0;
  private closed = false;

  constructor(private readonly options: ReconcilerOptions) {
    this.timer = setInterval(() => this.pass(), PASS_MS);
    this.timer.unref();
  }

  /** One look at every group; exposed for tests. */
  pass(): void {
    if (this.closed) return;
    const desired = new Set(this.options.desired());
    if (desired.size === 0) return;
    const balanceDue = performance.now() - this.lastBalance > BALANCE_EVERY_MS;
    let balancedOne = false;
    for (const group of this.options.groups()) {
      if (this.inFlight.size >= MAX_CHANGES_IN_FLIGHT) break;
      if (this.inFlight.has(group.groupId)) continue;
      const status = group.status();
      if (status.role !== 'leader') continue;
      const action = nextGroupAction(status, desired);
      if (action === null) {
        if (balanceDue && !balancedOne && this.options.balanced(group.groupId)) balancedOne = this.balance(group, status, desired);
        continue;
      }
      if (action.kind === 'transfer') {
        this.transfer(group, action.to, action.why);
        continue;
      }
      this.inFlight.add(group.groupId);
      this.options.logger.info({ group: group.groupId, why: action.why }, 'changing a raft group\'s members');
      group.changeMembership(action.change)
        .catch((error: unknown) => this.options.logger.info({ group: group.groupId, err: error }, 'membership change not made (retried next pass)'))
        .finally(() => this.inFlight.delete(group.groupId));
    }
    if (balancedOne) this.lastBalance = performance.now();
    this.options.afterPass?.();
  }

  /** Hands leadership to the group's preferred leader when that one is a voter that has caught up. */
  private balance(group: ReconciledGroup, status: RaftNodeStatus, desired: ReadonlySet<NodeId>): boolean {
    const preferred = preferredLeader(group.groupId, [...desired]);
    if (preferred === undefined || preferred === status.nodeId || !status.conf.voters.includes(preferred) || !this.options.mayLead(preferred)) return false;
    const everyVoterCaughtUp = (status.progress ?? []).every((row) => row.learner || replicaCaughtUp(row, status));
    if (!everyVoterCaughtUp) return false;
    this.transfer(group, preferred, `balancing leadership: node ${preferred} is the preferred leader`);
    return true;
  }

  private transfer(group: ReconciledGroup, to: NodeId, why: string): void {
    try {
      group.transferLeadership(to);
      this.options.logger.info({ group: group.groupId, to, why }, 'transferring leadership');
    } catch (error) {
      this.options.logger.debug({ group: group.groupId, to, err: error }, 'leadership transfer not started');
    }
  }

  /**
   * Before a graceful stop: hands every group this broker leads to a caught-up voter that may lead, and
   * resolves once it leads none (or after `timeoutMs`), so no group waits an election timeout for it.
   */
  async handOff(timeoutMs: number): Promise<number> {
    this.close();
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const led = this.options.groups().filter((group) => group.status().role === 'leader' && group.status().conf.voters.length > 1);
      if (led.length === 0 || performance.now() > deadline) return led.length;
      for (const group of led) {
        const status = group.status();
        const heir = (status.progress ?? [])
          .filter((row) => !row.learner && row.member !== status.nodeId && this.options.mayLead(row.member) && replicaCaughtUp(row, status))
          .sort((a, b) => b.match - a.match || a.member - b.member)[0];
        if (heir !== undefined && !group.transferring) this.transfer(group, heir.member, 'this broker is stopping');
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
  }
}
