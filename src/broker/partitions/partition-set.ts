// All partitions of a broker: one Raft group each, over one RaftStorage (the
// event store's LevelDB, so all groups share one write and one fsync per cycle),
// one transport and one ticker. A broker without peers runs every partition as
// a one-voter group through this same code. It takes appends already validated
// by the event log, bounds what waits, and drains on close.
import type { Logger } from 'pino';
import { MAX_PENDING_APPEND_BYTES } from '../../common/bounds.js';
import { deferred } from '../../common/deferred.js';
import { FloError } from '../../common/errors.js';
import type { NodeId } from '../raft/messages.js';
import { DEFAULT_TICK_MS } from '../replication/raft-node.js';
import { GroupTicker } from '../replication/ticker.js';
import type { EventStore, StoredGroup } from '../storage/event-store.js';
import type { RaftStorage } from '../storage/raft-storage.js';
import { LocalTransport } from '../transport/local-transport.js';
import type { RaftTransport } from '../transport/tcp-transport.js';
import { COMMAND_GROUP, decodeCommand, type CommandEvent } from './commands.js';
import { Partition, appliedSetting, groupIdOf, type AppendTicket, type PartitionHost, type ProducerBatch } from './partition.js';

/** How often a catch-up looks whether apply has reached the leader's index. */
const CATCH_UP_RECHECK_MS = 20;

export interface PartitionRaftStatus {
  /** Raft group id (partition + 1). */
  readonly group: number;
  /** This broker's member id in the group. */
  readonly member: NodeId;
  readonly role: 'follower' | 'pre-candidate' | 'candidate' | 'leader';
  readonly term: number;
  readonly leader: NodeId | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly voters: NodeId[];
  readonly learners: NodeId[];
  /** On the leader, each voter's and learner's replication: match index and lag behind the leader's last entry (null elsewhere). */
  readonly replicas: Array<{ member: NodeId; match: number; lag: number; state: string; learner: boolean }> | null;
}

export interface PartitionSetOptions {
  readonly store: EventStore;
  /** fsync the Raft log before an entry counts towards commit (durability "fsync"). */
  readonly sync: boolean;
  readonly clock: () => number;
  readonly logger: Logger;
  /** --recover-store: cut a damaged Raft log at its first problem instead of refusing to start. */
  readonly recover?: boolean | undefined;
  /** Recovery changed the event store: every group starts afresh from what it kept (its Raft log no longer matches it). */
  readonly storeRecovered?: boolean | undefined;
  /** This broker's Raft member id (1 without peers). */
  readonly nodeId?: NodeId;
  /** Founding voters of every group (just this broker without peers); undefined for a broker that joined a running cluster. */
  readonly founders?: readonly NodeId[] | undefined;
  /** Carries Raft messages to peers; a broker without peers needs none. */
  readonly transport?: RaftTransport;
  /** Sends appends to a partition's leader on another broker (a broker with peers). */
  readonly forward?: PartitionHost['forward'];
  readonly safeToRetry?: PartitionHost['safeToRetry'];
  readonly fetchEvents?: PartitionHost['fetchEvents'];
  readonly forwardCommand?: PartitionHost['forwardCommand'];
  /** Asks the partition's leader on another broker for its ReadIndex (a broker with peers). */
  readonly readIndexAt?: ((leader: NodeId, partition: number) => Promise<number>) | undefined;
  /**
   * Starts another group over the same storage, ticker and transport once the partitions run (the
   * cluster's controller); what it returns is closed before the storage is.
   */
  readonly startController?: ((shared: { nodeId: NodeId; storage: RaftStorage; transport: RaftTransport; ticker: GroupTicker; logger: Logger }) => Promise<{ close(): Promise<void> }>) | undefined;
  onApplied(partition: number, groups: readonly StoredGroup[], nextOffset: number, lastTimestamp: number, writeMs: number): void;
  onFailure(error: Error): void;
  trimOperations: PartitionHost['trimOperations'];
  onTrimmed: PartitionHost['onTrimmed'];
}

export class PartitionSet {
  private closed = false;
  private halted = false;

  private controller: { close(): Promise<void> } | undefined;

  private constructor(readonly partitions: readonly Partition[], private readonly raftStorage: RaftStorage, private readonly ticker: GroupTicker, private readonly waiting: { bytes: number }, private readonly readIndexAt: PartitionSetOptions['readIndexAt']) {}

  /** Starts every partition's group, replays what the store lacks and, alone, waits until each leads itself. */
  static async start(options: PartitionSetOptions): Promise<PartitionSet> {
    const store = options.store;
    const nodeId = options.nodeId ?? 1;
    const ticker = new GroupTicker(DEFAULT_TICK_MS);
    const recovering = options.recover ?? false;
    const raftStorage = store.raftStorage(options.sync, recovering ? (problem) => options.logger.warn({ problem }, 'raft log recovered: cut at its first damage') : undefined);
    const host: PartitionHost = {
      store, raftStorage, ticker, nodeId, transport: options.transport ?? new LocalTransport(nodeId),
      founders: options.transport === undefined ? [nodeId] : options.founders, clustered: options.transport !== undefined,
      clock: options.clock, logger: options.logger, recovering, onApplied: options.onApplied, onFailure: options.onFailure,
      trimOperations: options.trimOperations, onTrimmed: options.onTrimmed,
      waiting: { bytes: 0 }, forward: options.forward, safeToRetry: options.safeToRetry, fetchEvents: options.fetchEvents, forwardCommand: options.forwardCommand,
    };
    const states = store.partitionStates();
    // All at once: a one-voter group takes a few ticks to elect itself, and groups are independent.
    const results = await Promise.allSettled(Array.from({ length: store.meta.partitions }, async (_, id) => {
      if (options.storeRecovered) await Partition.forget(host, id);
      const storeApplied = (await store.readSetting<number>(appliedSetting(id))) ?? 0;
      const state = states[id]!;
      return Partition.start(host, { id, storeApplied, resumeAt: state.nextOffset, storedEnd: state.storedEnd ?? state.nextOffset, storedTimestamp: state.lastTimestamp });
    }));
    const started = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    const failed = results.find((result) => result.status === 'rejected');
    if (failed !== undefined) {
      for (const partition of started) await partition.close();
      ticker.stop();
      throw failed.reason;
    }
    const set = new PartitionSet(started, raftStorage, ticker, host.waiting, options.readIndexAt);
    if (options.startController !== undefined) {
      try {
        set.controller = await options.startController({ nodeId, storage: raftStorage, transport: host.transport, ticker, logger: options.logger });
      } catch (error) {
        await set.close();
        throw error;
      }
    }
    return set;
  }

  /** Every partition's Raft group, partition 0 first. */
  raftGroups(): Array<Partition['raftGroup']> {
    return this.partitions.map((partition) => partition.raftGroup);
  }

  /** Refuses work before accepting it, so an overloaded broker sheds load instead of growing. */
  checkCapacity(incomingBytes: number): void {
    // A running total: summing every partition (up to MAX_PARTITIONS) per request would cost O(partitions).
    if (this.waiting.bytes + incomingBytes > MAX_PENDING_APPEND_BYTES) {
      throw new FloError('FLO_ERR_OVERLOADED', `more than ${MAX_PENDING_APPEND_BYTES} bytes are waiting to be committed; retry shortly`);
    }
  }

  enqueue(partition: number, event: CommandEvent, ticket: AppendTicket, index: number, producer?: ProducerBatch): void {
    if (this.closed) throw new FloError('FLO_ERR_SHUTTING_DOWN', 'the broker is shutting down');
    this.partitions[partition]!.enqueue(event, ticket, index, false, producer);
  }

  /**
   * Appends another broker forwarded here as the partition's leader: proposed here (refused with
   * FLO_ERR_NOT_LEADER, nothing stored, if this broker no longer leads); resolves with their offsets.
   */
  async acceptForwarded(partition: number, events: readonly CommandEvent[], producer?: ProducerBatch): Promise<Float64Array> {
    const target = this.partitions[partition];
    if (target === undefined) throw new FloError('FLO_ERR_REQUEST_INVALID', `no partition ${partition} here: do all brokers have the same --partitions?`);
    if (events.length === 0) return new Float64Array(0);
    let bytes = 0;
    for (const event of events) bytes += event.data.byteLength;
    this.checkCapacity(bytes);
    if (this.closed) throw new FloError('FLO_ERR_SHUTTING_DOWN', 'the broker is shutting down');
    const { promise, resolve, reject } = deferred<void>();
    const ticket: AppendTicket = { partitions: new Uint16Array(events.length), offsets: new Float64Array(events.length), remaining: events.length, resolve, reject };
    events.forEach((event, i) => target.enqueue(event, ticket, i, true, producer));
    await promise;
    return ticket.offsets;
  }

  groupCursor(partition: number, group: string): string | undefined {
    return this.partitions[partition]!.groupCursor(group);
  }

  commitGroup(partition: number, group: string, cursor: string): Promise<void> {
    if (this.closed) return Promise.reject(new FloError('FLO_ERR_SHUTTING_DOWN', 'the broker is shutting down'));
    return this.partitions[partition]!.commitGroup(group, cursor);
  }

  /** A command another broker forwarded here as the partition's leader (only group commits are). */
  proposeForwarded(partition: number, command: Buffer): Promise<void> {
    const target = this.partitions[partition];
    if (target === undefined) return Promise.reject(new FloError('FLO_ERR_REQUEST_INVALID', `no partition ${partition} here`));
    if (decodeCommand(command).kind !== COMMAND_GROUP) return Promise.reject(new FloError('FLO_ERR_PROTOCOL', 'only group commits are forwarded as commands'));
    return target.proposeForwarded(command);
  }

  /** Whether this broker leads the partition's group (decides its retention cuts). */
  leads(partition: number): boolean {
    return this.partitions[partition]?.leads ?? false;
  }

  /** Proposes a retention cut for a partition this broker leads; resolves once applied here. */
  proposeTrim(partition: number, cuts: Parameters<Partition['proposeTrim']>[0]): Promise<void> {
    if (this.closed) return Promise.reject(new FloError('FLO_ERR_SHUTTING_DOWN', 'the broker is shutting down'));
    return this.partitions[partition]!.proposeTrim(cuts);
  }

  /** The partition's ReadIndex, asked of this broker as its leader (refused NOT_LEADER otherwise). */
  leaderReadIndex(partition: number): Promise<number> {
    const target = this.partitions[partition];
    if (target === undefined) return Promise.reject(new FloError('FLO_ERR_REQUEST_INVALID', `no partition ${partition} here`));
    return target.raftGroup.readIndex();
  }

  /**
   * Resolves once this replica of `partition` holds everything the partition had committed when asked:
   * the leader's ReadIndex (asked of it when it is another broker), then applied here through it.
   */
  async catchUpToCommitted(partition: number, timeoutMs: number): Promise<void> {
    const target = this.partitions[partition]!;
    const leader = target.status().leader;
    if (leader === null) throw new FloError('FLO_ERR_UNAVAILABLE', `partition ${partition} has no leader`);
    const ask = this.readIndexAt;
    let index: number;
    if (leader === target.status().nodeId) index = await target.raftGroup.readIndex();
    else if (ask !== undefined) index = await ask(leader, partition);
    else throw new FloError('FLO_ERR_UNAVAILABLE', `partition ${partition} is led by broker ${leader}, which this broker cannot ask`);
    await target.appliedThrough(index, timeoutMs, CATCH_UP_RECHECK_MS);
  }

  /** Each partition's next offset as applied here: the end of what readers may see. */
  heads(): number[] {
    return this.partitions.map((partition) => partition.nextOffset);
  }

  /** Each partition's Raft group as this broker sees it (the routing facts of GET /v1/cluster). */
  raftStatus(): PartitionRaftStatus[] {
    return this.partitions.map((partition) => {
      const status = partition.status();
      return {
        group: groupIdOf(partition.id), member: status.nodeId, role: status.role, term: status.term, leader: status.leader,
        commitIndex: status.commitIndex, appliedIndex: status.appliedIndex, voters: [...status.conf.voters], learners: [...status.conf.learners],
        replicas: status.progress?.map((voter) => ({ member: voter.member, match: voter.match, lag: Math.max(0, status.lastIndex - voter.match), state: voter.state, learner: voter.learner })) ?? null,
      };
    });
  }

  /**
   * The store failed: every group stops (no more ticks, heartbeats or votes, pending requests refused),
   * so where this broker led, the other members elect a leader that can write. Idempotent.
   */
  halt(): void {
    if (this.halted) return;
    this.halted = true;
    for (const partition of this.partitions) void partition.halt();
    void this.controller?.close();
  }

  /** Stops taking appends and resolves once everything accepted is applied or refused. */
  async drain(): Promise<void> {
    this.closed = true;
    await Promise.all(this.partitions.map((partition) => partition.drain()));
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.controller?.close();
    for (const partition of this.partitions) await partition.close();
    await this.raftStorage.close();
    this.ticker.stop();
  }
}
