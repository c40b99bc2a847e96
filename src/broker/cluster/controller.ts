// The controller: Raft group 0, with every member holding replicas as a voter,
// carrying the membership table (controller-machine.ts). It shares the broker's
// Raft storage, ticker and transport with the partitions, and is never on the
// path of a produce or a read: only joins, drains and removals go through it.
// Any broker takes a membership request; one that does not lead the controller
// hands it to the one that does over the peer connection.
import type { Logger } from 'pino';
import { FloError } from '../../common/errors.js';
import { EntryType, type Entry, type NodeId } from '../raft/messages.js';
import { RaftNode, type StateMachine } from '../replication/raft-node.js';
import { GroupTicker } from '../replication/ticker.js';
import type { RaftStorage } from '../storage/raft-storage.js';
import type { RaftTransport } from '../transport/tcp-transport.js';
import {
  ControllerMachine, decodeControllerCommand, encodeControllerCommand, joinBackpressure, joinerGone, type ControllerCommand, type ControllerOutcome, type MemberRecord,
} from './controller-machine.js';
import { addressWait, retireWait, type AddressAnswer } from './retire-guard.js';

export const CONTROLLER_GROUP = 0;
/** How long a membership request may look for a controller leader and wait for its entry to apply. */
export const CONTROLLER_REQUEST_MS = 15_000;
const CONTROLLER_SNAPSHOT_EVERY = 64;
/** How long a broker that forwarded a command waits to apply it itself before answering. */
const FOLLOWER_APPLY_WAIT_MS = 3_000;
/** Outcomes kept for entries applied here, so a proposer that learns its index late still finds its answer. */
const OUTCOMES_KEPT = 1024;

export interface ControllerShared {
  readonly nodeId: NodeId;
  readonly storage: RaftStorage;
  readonly transport: RaftTransport;
  readonly ticker: GroupTicker;
  readonly logger: Logger;
}

export interface ControllerOptions {
  /** The founders: the table every broker starts from (a joiner is told them when it joins). */
  readonly founders: ReadonlyArray<{ id: NodeId; peer: string }>;
  readonly replicationFactor: number;
  /** A founder starts the group; a broker that joined later starts empty and is added as a learner. */
  readonly bootstrap: boolean;
  /** Sends a command to the controller's leader on another broker; resolves with its outcome there. */
  readonly forward: (leader: NodeId, command: ControllerCommand) => Promise<ControllerOutcome>;
  /** Told after every change of the table (and once at start). */
  readonly onChange: (members: MemberRecord[]) => void;
  /** Milliseconds since this broker last heard from a member (undefined: never): a join may not retire a member heard from lately. */
  readonly msSinceHeard?: (id: NodeId) => number | undefined;
  /** Dials a member's peer address and says who answers there (retire-guard.ts). */
  readonly whoAnswersAt?: (peer: string, joinerPeer: string) => Promise<AddressAnswer>;
}

export class Controller implements StateMachine {
  private node!: RaftNode;
  private machine: ControllerMachine;
  private readonly outcomes = new Map<number, ControllerOutcome>();
  /** Incarnations of joins this leader proposed that are not applied yet: they count against the join limit. */
  private readonly joinsInFlight = new Set<string>();
  /** The term in which this leader first checked a join, and when. */
  private checkedInTerm: { term: number; since: number } | undefined;
  private appliedIndex = 0;
  private readonly appliedWaiters: Array<{ index: number; resolve: () => void }> = [];
  private closed = false;

  private constructor(private readonly options: ControllerOptions) {
    this.machine = new ControllerMachine(options.founders, options.replicationFactor);
  }

  static async start(shared: ControllerShared, options: ControllerOptions): Promise<Controller> {
    const controller = new Controller(options);
    controller.node = await RaftNode.start({
      groupId: CONTROLLER_GROUP, nodeId: shared.nodeId, storage: shared.storage, transport: shared.transport, ticker: shared.ticker,
      founders: options.bootstrap ? options.founders.map((founder) => founder.id) : undefined,
      stateMachine: controller, snapshotEvery: CONTROLLER_SNAPSHOT_EVERY, logger: shared.logger,
    });
    options.onChange(controller.members());
    return controller;
  }

  /** The raft group, for the reconciler (it changes the controller's own voters like a partition's). */
  get group(): RaftNode {
    return this.node;
  }

  members(): MemberRecord[] {
    return this.machine.list();
  }

  member(id: NodeId): MemberRecord | undefined {
    return this.machine.get(id);
  }

  get replicationFactor(): number {
    return this.machine.replicationFactor;
  }

  /** Ids every group should have as voters: members joining or active. */
  replicaHolders(): NodeId[] {
    return this.machine.replicaHolders();
  }

  get leader(): NodeId | null {
    return this.node.status().leader;
  }

  get leads(): boolean {
    return this.node.isLeader;
  }

  apply(entries: readonly Entry[]): void {
    let changed = false;
    for (const entry of entries) {
      this.appliedIndex = entry.index;
      if (entry.type !== EntryType.Normal || entry.data.byteLength === 0) continue;
      let outcome: ControllerOutcome;
      try {
        outcome = this.machine.apply(decodeControllerCommand(entry.data));
      } catch {
        // Every broker decodes the same bytes the same way: a malformed entry is refused everywhere alike.
        outcome = { ok: false, code: 'FLO_ERR_MEMBERSHIP_REFUSED', reason: 'malformed controller command' };
      }
      changed ||= outcome.ok;
      this.outcomes.set(entry.index, outcome);
      if (this.outcomes.size > OUTCOMES_KEPT) this.outcomes.delete(this.outcomes.keys().next().value!);
    }
    if (changed) this.options.onChange(this.members());
    this.wakeApplied();
  }

  snapshot(): Uint8Array {
    return this.machine.snapshot();
  }

  restore(data: Uint8Array, index: number): void {
    const machine = new ControllerMachine(this.options.founders, this.options.replicationFactor);
    machine.restore(data);
    this.machine = machine;
    this.appliedIndex = Math.max(this.appliedIndex, index);
    // Before start() returns the node is not set yet; start() reports the table itself.
    if ((this.node as RaftNode | undefined) !== undefined) this.options.onChange(this.members());
    this.wakeApplied();
  }

  /**
   * Runs a membership command wherever the controller's leader is; resolves with its outcome once it is
   * applied there (and, when it led here, here). Rejects with FLO_ERR_UNAVAILABLE when no leader takes it in time.
   */
  async request(command: ControllerCommand): Promise<ControllerOutcome> {
    const deadline = performance.now() + CONTROLLER_REQUEST_MS;
    let lastError: unknown;
    for (let round = 0; performance.now() < deadline && !this.closed; round++) {
      try {
        if (this.node.isLeader) return await this.proposeHere(command, deadline);
        const leader = this.leader;
        // Every command is idempotent (a join by its incarnation), so one resent after a lost answer does no harm.
        if (leader !== null && leader !== this.node.nodeId) {
          const answer = await this.options.forward(leader, command);
          // Answer with the table as it is after the change here too (a reader of this broker must see it).
          if (answer.index !== undefined) await this.waitApplied(answer.index, performance.now() + FOLLOWER_APPLY_WAIT_MS).catch(() => undefined);
          return answer;
        }
      } catch (error) {
        lastError = error;
        if (!isRetryable(error)) throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(500, 25 * 2 ** Math.min(round, 5))));
    }
    if (this.closed) throw new FloError('FLO_ERR_SHUTTING_DOWN', 'the broker is shutting down');
    throw new FloError('FLO_ERR_UNAVAILABLE', `the controller has no leader that took the ${command.op} within ${CONTROLLER_REQUEST_MS} ms${lastError instanceof Error ? ` (last: ${lastError.message})` : ''}`);
  }

  /** A command a peer forwarded because this broker leads the controller; refused with FLO_ERR_NOT_LEADER otherwise. */
  async requestAsLeader(command: ControllerCommand): Promise<ControllerOutcome> {
    return this.proposeHere(command, performance.now() + CONTROLLER_REQUEST_MS);
  }

  private async proposeHere(command: ControllerCommand, deadline: number): Promise<ControllerOutcome> {
    if (command.op !== 'join') return this.proposeAndWait(command, deadline);
    // Checked and taken in one step on the leader (single-threaded), counting joins still in flight:
    // a retryable refusal, so the request (and then the joiner) asks again until a slot frees.
    const ledForMs = this.ledForMs();
    const heard = this.options.msSinceHeard;
    const gone = heard === undefined ? undefined : (id: NodeId): boolean => joinerGone(ledForMs, heard(id));
    const wait = joinBackpressure(this.machine.list(), command.incarnation, this.joinsInFlight, gone) ?? await this.replacedIsAlive(command);
    if (wait !== undefined) throw new FloError('FLO_ERR_UNAVAILABLE', wait);
    this.joinsInFlight.add(command.incarnation);
    try {
      return await this.proposeAndWait(command, deadline);
    } finally {
      this.joinsInFlight.delete(command.incarnation);
    }
  }

  /** How long this broker has led the controller: counted from the first join it checked in its term, so later than its election, never earlier. */
  private ledForMs(): number {
    const term = this.node.status().term;
    if (this.checkedInTerm?.term !== term) this.checkedInTerm = { term, since: performance.now() };
    return performance.now() - this.checkedInTerm.since;
  }

  /** Why a join that retires a member must wait (retire-guard.ts); retryable, so the request asks again. */
  private async replacedIsAlive(command: ControllerCommand & { op: 'join' }): Promise<string | undefined> {
    const members = this.machine.list();
    const replaced = command.replaces === undefined ? undefined : members.find((member) => member.id === command.replaces);
    if (replaced === undefined || replaced.state === 'removed' || members.some((member) => member.incarnation === command.incarnation)) return undefined;
    const self = this.node.nodeId;
    const silence = retireWait({
      replaced: replaced.id, self, ledForMs: this.ledForMs(),
      others: members.filter((member) => member.state !== 'removed' && member.id !== replaced.id && member.id !== self).map((member) => member.id),
      msSinceHeard: (id) => this.options.msSinceHeard?.(id),
    });
    if (silence !== undefined || this.options.whoAnswersAt === undefined) return silence;
    return addressWait(replaced.id, replaced.peer, await this.options.whoAnswersAt(replaced.peer, command.peer));
  }

  private async proposeAndWait(command: ControllerCommand, deadline: number): Promise<ControllerOutcome> {
    const index = await this.node.propose(encodeControllerCommand(command));
    await this.waitApplied(index, deadline);
    const outcome = this.outcomes.get(index);
    if (outcome === undefined) throw new FloError('FLO_ERR_OUTCOME_UNKNOWN', `controller entry ${index} was applied without an outcome (a snapshot replaced it); ask again`);
    return { ...outcome, index };
  }

  private waitApplied(index: number, deadline: number): Promise<void> {
    if (this.appliedIndex >= index) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new FloError('FLO_ERR_TIMEOUT', `controller entry ${index} not applied in time`)), Math.max(0, deadline - performance.now()));
      this.appliedWaiters.push({ index, resolve: () => { clearTimeout(timer); resolve(); } });
    });
  }

  private wakeApplied(): void {
    for (let i = this.appliedWaiters.length - 1; i >= 0; i--) {
      const waiter = this.appliedWaiters[i]!;
      if (waiter.index <= this.appliedIndex) {
        this.appliedWaiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.node.close();
  }
}

function isRetryable(error: unknown): boolean {
  return error instanceof FloError && (error.code === 'FLO_ERR_NOT_LEADER' || error.code === 'FLO_ERR_CONNECTION' || error.code === 'FLO_ERR_TIMEOUT' || error.code === 'FLO_ERR_UNAVAILABLE');
}

/** The outcome as an error a caller can throw (404 / 409 problems). */
export function outcomeError(outcome: ControllerOutcome & { ok: false }): FloError {
  return new FloError(outcome.code, outcome.reason);
}
