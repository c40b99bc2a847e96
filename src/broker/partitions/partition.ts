// One partition: propose → commit → apply → read, for one Raft group (group id =
// partition + 1; 0 is kept for the controller). Appends arriving in the same turn
// become one AppendCommand per partition (events laid out per namespace in order
// of first arrival, so each namespace's run is contiguous); the command is proposed
// to the partition's RaftNode. At apply the PartitionMachine assigns offsets, and
// the groups, indexes and the applied Raft index go to the event store in one
// batch WITHOUT fsync: the Raft log (same LevelDB, same WAL, fsynced before an
// entry can commit) is the durable record, and entries after the applied index
// are replayed into the store at start. An append is acknowledged only once its
// entry is committed (quorum-fsynced) and applied here, so a read on this broker
// sees it. Compaction is safe because RaftNode awaits apply before it saves a
// snapshot with a synced write to the same WAL, which makes the applies durable.
import type { Logger } from 'pino';
import { MAX_COMMIT_BATCH_BYTES } from '../../common/bounds.js';
import { FloError } from '../../common/errors.js';
import { groupEventBytes } from '../../common/wire.js';
import { EntryType, Role, type Entry, type NodeId } from '../raft/messages.js';
import { isNotLeader, NotLeaderError } from '../replication/errors.js';
import { RaftNode } from '../replication/raft-node.js';
import type { GroupTicker } from '../replication/ticker.js';
import type { EventStore, StoreOperation, StoredGroup } from '../storage/event-store.js';
import * as keys from '../storage/keys.js';
import type { RaftStorage } from '../storage/raft-storage.js';
import type { RaftTransport } from '../transport/tcp-transport.js';
import { COMMAND_SKIP, COMMAND_TRIM, decodeCommand, encodeCommand, type CommandEvent, type TrimCommand } from './commands.js';
import { PartitionMachine, type ApplyOutcome } from './partition-machine.js';
import type { EventSegment } from '../cluster/catch-up.js';
import { AppliedOffsets } from './applied-offsets.js';
import { commitGroupPosition } from './group-commit.js';
import { appliedKey, groupIdOf, storedState, withDeadline } from './partition-keys.js';
import { chunksForLeader, ForwardOrder, forwardToLeader } from './leader-forwarding.js';
import { catchUpPartition } from './catch-up-writer.js';
import { commandsOf, pendingKey, type AppendTicket, type ProducerBatch, type Slot } from './slots.js';
import { layoutOutcome } from './store-layout.js';

export { MAX_GROUP_BYTES } from './store-layout.js';
export type { AppendTicket, ProducerBatch } from './slots.js';
export { appliedKey, appliedSetting, groupIdOf } from './partition-keys.js';
/** Snapshot the machine and compact the Raft log every this many applied entries. */
export const PARTITION_SNAPSHOT_EVERY = 256;
/** Entries kept behind a snapshot (for followers slightly behind). */
export const PARTITION_TRAILING_ENTRIES = 64;
/** How long start() waits for the group to have a leader before giving up. */
const LEADER_WAIT_MS = 30_000;
export { NO_LEADER_WAIT_MS } from './leader-forwarding.js';
/** How long appends proposed by a leader that stepped down wait for the new leader's verdict. */
const LEADER_LOST_GRACE_MS = 2_000;
/** Leader changes an append may ride out (each provably lost it) before it is refused. */
const MAX_APPEND_ATTEMPTS = 5;
/** While this broker hands a partition's leadership over, pending appends wait this long between looks. */
const TRANSFER_RECHECK_MS = 10;


/** What the event log gives its partitions. */
export interface PartitionHost {
  readonly store: EventStore;
  readonly raftStorage: RaftStorage;
  readonly transport: RaftTransport;
  readonly ticker: GroupTicker;
  readonly nodeId: NodeId;
  /** Founding voters of every group; undefined for a broker that joined later (its groups start empty, as learners). */
  readonly founders: readonly NodeId[] | undefined;
  /** A broker with peers (false: a one-member cluster with no peer port, whose groups elect themselves at once). */
  readonly clustered: boolean;
  readonly clock: () => number;
  readonly logger: Logger;
  /** Started with --recover-store: a cut Raft log is accepted (what the store holds beyond it is rewritten from the machine). */
  readonly recovering: boolean;
  /** Groups were applied and are in the store: readers may see up to `nextOffset`. */
  onApplied(partition: number, groups: readonly StoredGroup[], nextOffset: number, lastTimestamp: number, writeMs: number): void;
  /** The group stopped on an error: the broker fails stop. */
  onFailure(error: Error): void;
  /** Bytes waiting to be committed in all partitions, kept by each as it changes (checkCapacity reads it per request). */
  readonly waiting: { bytes: number };
  /** Sends a chunk of appends to the partition's leader and resolves with their offsets (a broker with peers). */
  readonly forward?: ((leader: NodeId, partition: number, command: Buffer, events: number) => Promise<Float64Array>) | undefined;
  /** Whether a failed forward provably stored nothing, so it may be sent again. */
  readonly safeToRetry?: ((error: unknown) => boolean) | undefined;
  /** Sends a command (a group commit) to the partition's leader to propose (a broker with peers). */
  readonly forwardCommand?: ((leader: NodeId, partition: number, command: Buffer) => Promise<void>) | undefined;
  /** The store operations that remove what a replicated retention cut removes (the event log's enforcer). */
  trimOperations(partition: number, cuts: TrimCommand['cuts']): Promise<StoreOperation[]>;
  /** A cut was written: cached groups of the partition may be gone. */
  onTrimmed(partition: number): void;
  /** Asks broker `from` for the events of a partition in [from, to) it stores (catching up past a snapshot). */
  readonly fetchEvents?: ((member: NodeId, request: { partition: number; from: number; to: number }) => Promise<EventSegment[]>) | undefined;
}

export interface PartitionStart {
  readonly id: number;
  /** Raft index the event store already holds (its writes up to it are in the store). */
  readonly storeApplied: number;
  /** Offsets below this may have been handed out before an unclean stop: never assign them again. */
  readonly resumeAt: number;
  /** Where the event store's offsets end, and its last commit time. */
  readonly storedEnd: number;
  readonly storedTimestamp: number;
}

export class Partition {
  private node!: RaftNode;
  private machine = new PartitionMachine();
  private storeApplied: number;
  /** namespace -> events waiting to be proposed, in arrival order. */
  private pending = new Map<string | ProducerBatch, Slot[]>();
  private scheduled = false;
  /** Raft index -> the proposal's term and slots, until applied or refused. */
  private readonly waiting = new Map<number, { term: number; slots: Slot[] }>();
  private closed = false;
  /** The apply writes in flight, chained in order. */
  private writing: Promise<void> = Promise.resolve();
  /** Set once the partition stopped on an error. */
  private stopped: Error | undefined;
  private idleWaiters: Array<() => void> = [];
  /** Forwarded appends waiting to be applied here too. */
  private readonly applied: AppliedOffsets;
  /** Chunks of appends out at a leader (they count as pending for drain). */
  private forwarding = 0;
  private readonly forwardOrder = new ForwardOrder();

  private constructor(readonly id: number, private readonly host: PartitionHost, start: PartitionStart) {
    this.storeApplied = start.storeApplied;
    this.storedEnd = start.storedEnd;
    this.applied = new AppliedOffsets(start.storedEnd);
  }

  /** Where the event store's offsets end: a skip bridges only what lies beyond it. */
  private storedEnd: number;

  static async start(host: PartitionHost, start: PartitionStart): Promise<Partition> {
    const partition = new Partition(start.id, host, start);
    const single = !host.clustered;
    let signalLeader: (() => void) | undefined;
    const led = new Promise<void>((resolve) => (signalLeader = resolve));
    partition.node = await RaftNode.start({
      groupId: groupIdOf(start.id), nodeId: host.nodeId, storage: host.raftStorage, transport: host.transport, ticker: host.ticker,
      founders: host.founders, stateMachine: partition,
      // A one-voter group has nobody to wait for: it elects itself within a few ticks.
      ...(single ? { electionTicks: 2, heartbeatTicks: 1 } : {}),
      snapshotEvery: PARTITION_SNAPSHOT_EVERY, snapshotTrailingEntries: PARTITION_TRAILING_ENTRIES,
      onStateChange: (state) => {
        if (state.leader !== 0) signalLeader?.();
        if (state.role !== Role.Leader) partition.leadershipLost();
      },
      onFailure: (error) => partition.fail(error),
      logger: host.logger,
    });
    const lastIndex = partition.node.status().lastIndex;
    if (partition.storeApplied > lastIndex) {
      // The store holds applies the Raft log no longer has: acknowledged entries are missing from the durable record.
      await partition.node.close();
      if (!host.recovering) throw host.store.damaged(`partition ${start.id}: the event store holds raft entries up to ${partition.storeApplied}, the raft log ends at ${lastIndex}`);
      // Recovery: the event store kept what verifies; the partition's group starts afresh from there.
      await Partition.forget(host, start.id);
      return Partition.start(host, { ...start, storeApplied: 0 });
    }
    if (single) {
      await withDeadline(led, LEADER_WAIT_MS, `partition ${start.id} found no leader`);
      // Replay what the log holds beyond the store first, then skip what may have been handed out.
      await partition.appliedThrough(partition.node.status().lastIndex);
      if (start.resumeAt > partition.machine.nextOffset || start.storedTimestamp > partition.machine.lastTimestamp) {
        const skip = encodeCommand({ kind: COMMAND_SKIP, nextOffset: start.resumeAt, timestamp: start.storedTimestamp });
        await partition.appliedThrough(await partition.node.propose(skip));
      }
    }
    return partition;
  }

  /** Drops a partition's Raft group and the store's applied index with it (recovery). */
  static async forget(host: PartitionHost, id: number): Promise<void> {
    await host.raftStorage.dropGroup(groupIdOf(id), [{ type: 'put', key: appliedKey(id), value: Buffer.from('0') }]);
  }

  get nextOffset(): number {
    return this.machine.nextOffset;
  }

  status(): ReturnType<RaftNode['status']> {
    return this.node.status();
  }

  /** The partition's Raft group, for membership changes and leadership transfers (cluster/reconciler.ts). */
  get raftGroup(): RaftNode {
    return this.node;
  }

  enqueue(event: CommandEvent, ticket: AppendTicket, index: number, forwarded = false, producer?: ProducerBatch): void {
    if (this.closed) throw new FloError('FLO_ERR_SHUTTING_DOWN', 'the broker is shutting down');
    const bytes = groupEventBytes(event);
    this.addWaiting(bytes);
    this.requeue({ event, ticket, index, bytes, forwarded, attempts: 0, producer });
  }

  /** Puts a slot (new, or back after a leader change lost it) into pending and schedules a proposal. */
  private requeue(slot: Slot): void {
    const key = pendingKey(slot);
    let slots = this.pending.get(key);
    if (!slots) this.pending.set(key, (slots = []));
    slots.push(slot);
    if (this.scheduled) return;
    this.scheduled = true;
    // setImmediate lets every request already read from sockets join this command.
    setImmediate(() => {
      this.scheduled = false;
      this.propose();
      this.settleIdle();
    });
  }

  /** Turns what is pending into commands (each within MAX_COMMIT_BATCH_BYTES) and proposes them as one append. */
  private propose(): void {
    if (this.host.clustered && !this.node.isLeader) return this.routeToLeader();
    if (this.node.transferring) {
      // A planned handover (balancing, a drain) takes a few ms: wait for it rather than fail what is pending.
      if (!this.scheduled) {
        this.scheduled = true;
        setTimeout(() => {
          this.scheduled = false;
          this.propose();
        }, TRANSFER_RECHECK_MS).unref();
      }
      return;
    }
    const commands = commandsOf(this.pending.values(), this.host.clock(), MAX_COMMIT_BATCH_BYTES);
    this.pending.clear();
    if (commands.length === 0) return;
    let firstIndex: number | undefined;
    const refuse = (error: unknown): void => {
      const reason = this.host.store.failed ?? (error instanceof Error ? error : new Error(String(error)));
      commands.forEach((command, i) => {
        if (firstIndex === undefined) {
          // Refused before the core took it (it stopped leading meanwhile): nothing was proposed, so it may go again.
          if (isNotLeader(error) && !this.host.store.failed) this.retryLost(command.slots, reason);
          else for (const slot of command.slots) this.settleSlot(slot, reason);
        } else if (this.waiting.get(firstIndex + i)?.slots === command.slots) {
          this.waiting.delete(firstIndex + i);
          // In the log already: with peers it may still commit there, whatever stopped it here.
          const answer = this.host.clustered
            ? new FloError('FLO_ERR_OUTCOME_UNKNOWN', `partition ${this.id}: ${reason.message}; the append was already in the log and may still be stored by the other members`)
            : reason;
          for (const slot of command.slots) this.settleSlot(slot, answer);
        }
      });
      this.settleIdle();
    };
    this.node.proposeBatch(commands.map((command) => command.data), (lastIndex, term) => {
      firstIndex = lastIndex - commands.length + 1;
      commands.forEach((command, i) => {
        // An index this broker proposed at in an earlier term, then lost and led again: that waiter must still be answered.
        this.abandon(this.waiting.get(firstIndex! + i));
        this.waiting.set(firstIndex! + i, { term, slots: command.slots });
      });
    }).catch(refuse);
  }

  /**
   * The state machine's apply: offsets decided here, at once; the unsynced store batch is written in the
   * background, in order (so the Ready loop goes on persisting while it is written), and acknowledges
   * what it covers once written. A snapshot waits for those writes (beforeSnapshot).
   */
  apply(entries: readonly Entry[]): void {
    let ops: StoreOperation[] = [];
    let groups: StoredGroup[] = [];
    let settled: AppendTicket[] = [];
    let last = this.storeApplied;
    /** Queues what was gathered as one write (a trim must see the appends before it in the store). */
    const flush = (): void => {
      if (ops.length === 0) {
        // Only duplicates: their first attempt is applied; answer once its write (maybe still in flight) is done.
        const answered = settled;
        if (answered.length > 0) this.writing = this.writing.then(() => this.settle(answered));
      } else {
        const nextOffset = this.machine.nextOffset;
        const lastTimestamp = this.machine.lastTimestamp;
        ops.push({ type: 'put', key: keys.partitionKey(this.id), value: keys.encodePartitionState(nextOffset, lastTimestamp) });
        ops.push({ type: 'put', key: appliedKey(this.id), value: Buffer.from(JSON.stringify(last)) });
        const batch = { ops, groups, settled };
        this.writing = this.writing.then(() => this.writeApplied(batch.ops, batch.groups, nextOffset, lastTimestamp, batch.settled));
      }
      ops = [];
      groups = [];
      settled = [];
    };
    for (const entry of entries) {
      if (entry.type !== EntryType.Normal || entry.data.length === 0) {
        this.settleMismatch(entry);
        continue;
      }
      const outcome = this.machine.apply(decodeCommand(entry.data));
      if (entry.index <= this.storeApplied) continue; // replay after a restart: the store holds it already
      last = entry.index;
      if (outcome.kind === 'trimmed') {
        flush();
        const index = entry.index;
        this.writing = this.writing.then(() => this.writeTrim(outcome.cuts, index));
        continue;
      }
      this.layout(outcome, ops, groups);
      const waiter = this.waiting.get(entry.index);
      if (waiter === undefined) continue;
      if (waiter.term !== entry.term) {
        this.waiting.delete(entry.index);
        this.retryLost(waiter.slots, new NotLeaderError(groupIdOf(this.id), this.node.status().leader, `partition ${this.id}: the append was lost in a leader change; it was not stored`));
        continue;
      }
      this.release(entry.index);
      if (outcome.kind === 'rejected') {
        const refusal = new FloError('FLO_ERR_SEQUENCE_STALE', `partition ${this.id}: ${outcome.detail}; nothing was stored (send new events with a new sequence)`);
        for (const slot of waiter.slots) slot.ticket.reject(refusal);
        continue;
      }
      // A duplicate is answered with the first attempt's offsets: the retry stores nothing.
      if (outcome.kind !== 'appended' && outcome.kind !== 'duplicate') continue;
      waiter.slots.forEach((slot, i) => {
        slot.ticket.partitions[slot.index] = this.id;
        slot.ticket.offsets[slot.index] = outcome.firstOffset + i;
        settled.push(slot.ticket);
      });
    }
    flush();
  }

  /**
   * A replicated retention cut: every replica removes the same events (those of each namespace below
   * its cut), in the same place in the log, with the applied index in the same batch.
   */
  private async writeTrim(cuts: TrimCommand['cuts'], index: number): Promise<void> {
    if (this.stopped) return;
    try {
      const ops = await this.host.trimOperations(this.id, cuts);
      ops.push({ type: 'put', key: appliedKey(this.id), value: Buffer.from(JSON.stringify(index)) });
      await this.host.store.write(ops, false);
      this.host.onTrimmed(this.id);
    } catch (error) {
      this.fail(error as Error);
    }
  }

  /**
   * Proposes a retention cut (the leader decided it from the rules); resolves once it is committed and
   * applied here. Refused with FLO_ERR_NOT_LEADER on a broker that does not lead the partition.
   */
  async proposeTrim(cuts: TrimCommand['cuts']): Promise<void> {
    if (cuts.length === 0) return;
    const index = await this.node.propose(encodeCommand({ kind: COMMAND_TRIM, cuts }));
    await this.appliedThrough(index);
  }

  get leads(): boolean {
    return this.node.isLeader;
  }

  /** The cursor a consumer group last committed, as this replica applied it. */
  groupCursor(group: string): string | undefined {
    return this.machine.groupCursor(group);
  }

  /** Commits a consumer group's cursor through the log (group-commit.ts); resolves once applied here. */
  commitGroup(group: string, cursor: string): Promise<void> {
    return commitGroupPosition({
      partition: this.id, host: this.host, group, cursor,
      leader: () => this.node.status().leader,
      proposeHere: async (command) => this.appliedThrough(await this.node.propose(command)),
      appliedHere: () => this.machine.groupCursor(group) === cursor,
      halted: () => this.stopped ?? (this.closed ? new FloError('FLO_ERR_SHUTTING_DOWN', 'the broker is shutting down') : undefined),
    });
  }

  /** Proposes a command another broker forwarded (a group commit), here as the leader; resolves once applied. */
  async proposeForwarded(command: Buffer): Promise<void> {
    if (!this.node.isLeader) throw new NotLeaderError(groupIdOf(this.id), this.node.status().leader, `partition ${this.id} is led by another broker`);
    await this.appliedThrough(await this.node.propose(command));
  }



  /** Writes one apply batch (unsynced) and acknowledges what it holds; a failure stops the partition. */
  private async writeApplied(ops: StoreOperation[], groups: StoredGroup[], nextOffset: number, lastTimestamp: number, settled: readonly AppendTicket[]): Promise<void> {
    const store = this.host.store;
    if (this.stopped) {
      for (const ticket of settled) ticket.reject(this.stopped);
      return;
    }
    const started = performance.now();
    const newNamespaces = store.dictionary.takeUnpersisted();
    for (const entry of newNamespaces) ops.push({ type: 'put', key: keys.dictKey(entry.nsId), value: Buffer.from(entry.namespace, 'utf8') });
    try {
      await store.reserve(new Map([[this.id, nextOffset]]));
      await store.write(ops, false);
    } catch (error) {
      store.dictionary.restoreUnpersisted(newNamespaces);
      for (const ticket of settled) ticket.reject(error as Error);
      this.fail(error as Error);
      return;
    }
    this.host.onApplied(this.id, groups, nextOffset, lastTimestamp, performance.now() - started);
    this.settle(settled);
    this.applied.advance(nextOffset);
  }

  private settle(settled: readonly AppendTicket[]): void {
    if (this.stopped) {
      for (const ticket of settled) ticket.reject(this.stopped);
      return;
    }
    for (const ticket of settled) if (--ticket.remaining === 0) ticket.resolve();
  }

  /** Resolves once every apply so far is written to the store. */
  beforeSnapshot(): Promise<void> {
    return this.writing;
  }

  /**
   * This broker stopped leading: what it proposed gets LEADER_LOST_GRACE_MS to be applied or overwritten
   * under the new leader (then it is answered, or retried as provably lost). Still open after that —
   * a leader cut off from its quorum sees neither — it is answered 503 FLO_ERR_OUTCOME_UNKNOWN instead of
   * waiting for the proposal timeout; an idempotent producer's batch is sent again instead.
   */
  leadershipLost(): void {
    if (this.waiting.size === 0) return;
    const lost = [...this.waiting];
    setTimeout(() => {
      // Only the waiters seen at step-down: an index may hold a newer proposal (this broker leads again) by now.
      for (const [index, waiter] of lost) if (this.waiting.get(index) === waiter && this.waiting.delete(index)) this.abandon(waiter);
      this.settleIdle();
    }, LEADER_LOST_GRACE_MS).unref();
  }

  /**
   * A proposal whose fate this broker can no longer learn (it stopped leading, or it leads again and reuses
   * the index): answered 503 FLO_ERR_OUTCOME_UNKNOWN, or, for an idempotent producer's batch taken here, sent
   * again — the machine answers a repeat with the first attempt's offsets if that one committed after all.
   */
  private abandon(waiter: { slots: Slot[] } | undefined): void {
    if (waiter === undefined) return;
    const again = waiter.slots.filter((slot) => slot.producer !== undefined && !slot.forwarded);
    const unknown = new FloError('FLO_ERR_OUTCOME_UNKNOWN', `partition ${this.id}: its leader lost its quorum before the append committed; it may or may not be stored (retry with a producer id for exactly once)`);
    for (const slot of waiter.slots) if (!again.includes(slot)) this.settleSlot(slot, unknown);
    if (again.length > 0) this.retryLost(again, unknown);
  }

  /** An entry other than a command took an index a proposal was waiting on: that proposal was lost. */
  private settleMismatch(entry: Entry): void {
    const waiter = this.waiting.get(entry.index);
    if (waiter === undefined) return;
    this.waiting.delete(entry.index);
    this.retryLost(waiter.slots, new NotLeaderError(groupIdOf(this.id), this.node.status().leader, `partition ${this.id}: the append was lost in a leader change; it was not stored`));
  }

  /**
   * Slots Raft provably did not store (their index went to another entry, or the core refused them):
   * a forwarded one is refused, so its origin retries at the new leader; a local one goes back to
   * pending, to be proposed or forwarded again, a bounded number of times.
   */
  private retryLost(slots: readonly Slot[], reason: Error): void {
    for (const slot of slots) {
      if (slot.forwarded || this.closed || this.stopped) this.settleSlot(slot, reason);
      else if (++slot.attempts >= MAX_APPEND_ATTEMPTS) {
        // The client of this broker never sees NOT_LEADER (which broker leads is ours to find): it sees "unavailable, retry".
        this.settleSlot(slot, isNotLeader(reason)
          ? new FloError('FLO_ERR_UNAVAILABLE', `partition ${this.id}: its leadership changed ${slot.attempts} times while the append waited; nothing was stored, retry (${reason.message})`)
          : reason);
      } else this.requeue(slot);
    }
    this.settleIdle();
  }

  /** A slot refused for good: its request fails, and it stops counting towards the waiting bytes. */
  private settleSlot(slot: Slot, reason: Error): void {
    this.addWaiting(-slot.bytes);
    slot.ticket.reject(reason);
  }

  /**
   * This broker does not lead the partition: forwarded slots are refused (their origin picks the leader
   * again), the rest go, chunk by chunk, to the leader once there is one, for at most NO_LEADER_WAIT_MS.
   */
  private routeToLeader(): void {
    const refusal = new NotLeaderError(groupIdOf(this.id), this.node.status().leader, `partition ${this.id} is led by another broker`);
    const chunks = chunksForLeader(this.pending.values(), (slot) => this.settleSlot(slot, refusal));
    this.pending.clear();
    for (const slots of chunks) {
      this.forwarding++;
      void this.forwardChunk(slots).finally(() => {
        this.forwarding--;
        this.settleIdle();
      });
    }
  }

  private forwardChunk(slots: Slot[]): Promise<void> {
    return forwardToLeader({
      partition: this.id, host: this.host, applied: this.applied, slots, ...this.forwardOrder.next(),
      leader: () => this.node.status().leader,
      halted: () => this.stopped ?? (this.closed ? new FloError('FLO_ERR_SHUTTING_DOWN', 'the broker is shutting down') : undefined),
      requeue: (slot) => this.requeue(slot),
      settle: (slot, reason) => this.settleSlot(slot, reason),
      release: (slot) => this.addWaiting(-slot.bytes),
    });
  }

  private release(index: number): void {
    const waiter = this.waiting.get(index);
    if (waiter === undefined) return;
    this.waiting.delete(index);
    for (const slot of waiter.slots) this.addWaiting(-slot.bytes);
    this.settleIdle();
  }

  /** Slots count towards the broker's bound from enqueue until applied or refused. */
  private addWaiting(bytes: number): void {
    this.host.waiting.bytes += bytes;
  }

  private settleIdle(): void {
    if (this.waiting.size === 0 && this.pending.size === 0 && !this.scheduled && this.forwarding === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  /** The store operations of one applied command (store-layout.ts). */
  layout(outcome: ApplyOutcome, ops: StoreOperation[], groups: StoredGroup[]): void {
    this.storedEnd = layoutOutcome({ partition: this.id, dictionary: this.host.store.dictionary, lastTimestamp: this.machine.lastTimestamp, storedEnd: this.storedEnd }, outcome, ops, groups);
  }

  snapshot(): Uint8Array {
    return this.machine.snapshot();
  }

  async restore(data: Uint8Array, index: number): Promise<void> {
    const target = PartitionMachine.restore(data);
    if (index > this.storeApplied) {
      // One voter has nobody to copy from: its log was compacted past its own store, which only damage does.
      if (!this.host.clustered || this.host.fetchEvents === undefined) {
        throw this.host.store.damaged(`partition ${this.id}: the raft log is compacted to index ${index}, past what the event store holds (${this.storeApplied})`);
      }
      const catchUp = this.writing.then(async () => {
        const running = (this.node as RaftNode | undefined) !== undefined;
        const end = await catchUpPartition({
          id: this.id, host: this.host, target, index, layout: (outcome, ops, groups) => this.layout(outcome, ops, groups),
          // Running, the machine is what the store holds (its writes are awaited); at start it is empty and the store says.
          from: running ? { nextOffset: this.machine.nextOffset, lastTimestamp: this.machine.lastTimestamp } : storedState(this.host.store, this.id),
          leader: () => (running ? this.node.status().leader : null),
          replicas: () => {
            const conf = running ? this.node.status().conf : { voters: this.host.founders ?? [], learners: [] };
            return [...conf.voters, ...conf.learners];
          },
        });
        this.storedEnd = Math.max(this.storedEnd, end);
        this.storeApplied = index;
        this.applied.advance(end);
      });
      this.writing = catchUp.catch(() => undefined);
      await catchUp;
    }
    this.machine = target;
  }

  /** Resolves once every entry up to `index` is applied here and in the store (bounded wait). */
  async appliedThrough(index: number, timeoutMs = LEADER_WAIT_MS, recheckMs = 2): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (this.node.status().appliedIndex < index) {
      if (this.stopped) throw this.stopped;
      if (performance.now() > deadline) throw new FloError('FLO_ERR_TIMEOUT', `partition ${this.id}: applied ${this.node.status().appliedIndex} of ${index} in ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, recheckMs));
    }
    await this.writing;
    if (this.stopped) throw this.stopped;
  }

  /** Stops taking appends; resolves once everything accepted is applied or refused. */
  async drain(): Promise<void> {
    this.closed = true;
    if (this.waiting.size === 0 && this.pending.size === 0 && !this.scheduled && this.forwarding === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops the group at once (the store failed): nothing more is proposed, voted or acknowledged here. */
  async halt(): Promise<void> {
    await this.node.close();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.node.close();
    await this.writing;
  }

  private fail(error: Error): void {
    if (this.stopped) return;
    this.stopped = this.host.store.failed ?? error;
    const reason = this.host.store.failed ?? error;
    for (const index of [...this.waiting.keys()]) {
      const waiter = this.waiting.get(index)!;
      this.release(index);
      for (const slot of waiter.slots) slot.ticket.reject(reason);
    }
    this.host.onFailure(error);
  }
}
