// The broker's log: storage, partitions (one Raft group each), read cache, reader
// and retention composed behind one object. The HTTP API, subscriptions and the
// embedded entry point use only it. Appends are acknowledged once their Raft entry
// is committed (quorum-fsynced) and applied here; reads only ever see applied
// offsets, and waiters are woken once per apply.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { DEFAULT_CACHE_BYTES, DEFAULT_MAX_EVENT_BYTES, DEFAULT_PARTITIONS, MAX_EVENTS_PER_BATCH, MAX_PARTITIONS } from '../common/bounds.js';
import { FloError } from '../common/errors.js';
import { validateNamespace } from '../common/namespace.js';
import { Broadcast } from '../common/broadcast.js';
import { deferred } from '../common/deferred.js';
import { isEventId } from '../common/ids.js';
import { MAX_PARENT_ID_BYTES, forEachGroupEvent, type DecodedInput } from '../common/wire.js';
import { BrokerMetrics } from './metrics.js';
import { PartialAppendError, asFloError } from './partial-append.js';
import type { AppendTicket, ProducerBatch } from './partitions/partition.js';
import type { EventSegment } from './cluster/catch-up.js';
import type { CommandEvent } from './partitions/commands.js';
import { PartitionSet, type PartitionRaftStatus, type PartitionSetOptions } from './partitions/partition-set.js';
import { ReadCache } from './partitions/read-cache.js';
import { Reader, type Page, type PageRequest } from './partitions/reader.js';
import { NamespaceSizes, RetentionEnforcer, type RetentionRule, type TrimCut } from './partitions/retention.js';
import { isNotLeader } from './replication/errors.js';
import { EventStore, type StoreOperation, type StoredGroup } from './storage/event-store.js';
import * as keys from './storage/keys.js';

export type Durability = 'fsync' | 'os';

export interface EventLogOptions {
  dataDir: string;
  partitions?: number | undefined;
  durability?: Durability | undefined;
  maxEventBytes?: number | undefined;
  cacheBytes?: number | undefined;
  nodeId?: string | undefined;
  retention?: RetentionRule[] | undefined;
  /** How often retention runs in the background. */
  retentionIntervalMs?: number | undefined;
  /** How often the offsets file records (with an fsync) what is acknowledged; between records the per-commit mark covers process crashes. */
  acknowledgedMarkIntervalMs?: number | undefined;
  /** Start even if verification finds damage, keeping only what verifies (docs/operations.md); default false: refuse. */
  recoverStore?: boolean | undefined;
  /** Wall clock for event timestamps and retention ages; tests inject one to control time. */
  clock?: (() => number) | undefined;
  /** A broker with peers: its Raft member id, every partition's voters, the peer transport and how to reach leaders. */
  replication?: ReplicationOptions | undefined;
  logger: Logger;
  metrics?: BrokerMetrics | undefined;
}

/** What a broker with peers gives its partitions: the PartitionSet options a one-broker cluster leaves out. */
export type ReplicationOptions = Required<Pick<PartitionSetOptions, 'nodeId' | 'transport' | 'forward' | 'safeToRetry' | 'fetchEvents' | 'forwardCommand' | 'readIndexAt'>> & Pick<PartitionSetOptions, 'founders' | 'startController'>;

/** An idempotent request: who sends it, and the sequence number of its first event. */
export interface ProducerSequence {
  readonly id: number;
  readonly sequence: number;
}

/** Producer ids are positive safe integers; a request's sequences must fit the log's 32 bits. */
function checkProducer(producer: ProducerSequence, events: number): void {
  if (!Number.isSafeInteger(producer.id) || producer.id < 1) throw new FloError('FLO_ERR_REQUEST_INVALID', 'the producer id must be a positive whole number below 2^53');
  if (!Number.isSafeInteger(producer.sequence) || producer.sequence < 0 || producer.sequence + events > 0xffffffff) {
    throw new FloError('FLO_ERR_REQUEST_INVALID', 'the producer sequence must be a whole number from 0 to 2^32 minus the events sent (start a new producer id when it runs out)');
  }
}

export interface AppendResult {
  readonly partitions: Uint16Array;
  readonly offsets: Float64Array;
}

const DEFAULT_RETENTION_INTERVAL_MS = 10_000;
/**
 * How often the offsets file records what is durably acknowledged (with durability "fsync"): a later
 * loss of events acknowledged before the last record is refused at start-up; one small fsynced write
 * per interval while producing.
 */
const ACKNOWLEDGED_MARK_INTERVAL_MS = 1_000;
const SYNC_MARK_KEY = keys.metaKey('setting:synced-at');
/**
 * After applies, a synced write follows within this time unless the Raft log's own writes already
 * synced them: only then does the acknowledgement mark (ack-mark.ts) take their ends, so a log cut
 * after a crash is seen for everything acknowledged more than this long before it. Under load the
 * Raft writes do it and this costs nothing; idle, one small fsync.
 */
const APPLIED_MARK_DELAY_MS = 50;

export class EventLog {
  readonly metrics: BrokerMetrics;
  private readonly committed: { nextOffset: number[]; lastTimestamp: number[] };
  private partitionSet!: PartitionSet;
  private readonly reader: Reader;
  private readonly cache: ReadCache;
  private readonly sizes = new NamespaceSizes();
  private readonly retentionEnforcer: RetentionEnforcer;
  private rules: RetentionRule[];
  private readonly commits = new Broadcast();
  private retentionTimer: NodeJS.Timeout | undefined;
  private acknowledgedTimer: NodeJS.Timeout | undefined;
  private appliedMarkTimer: NodeJS.Timeout | undefined;
  private retentionRunning: Promise<void> | undefined;
  private closing = false;
  readonly maxEventBytes: number;
  readonly durability: Durability;
  private readonly clock: () => number;

  private constructor(readonly store: EventStore, states: Array<{ nextOffset: number; lastTimestamp: number }>, private readonly options: EventLogOptions) {
    this.metrics = options.metrics ?? new BrokerMetrics();
    this.durability = options.durability ?? 'fsync';
    this.clock = options.clock ?? Date.now;
    this.maxEventBytes = options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;
    this.committed = { nextOffset: states.map((s) => s.nextOffset), lastTimestamp: states.map((s) => s.lastTimestamp) };
    // With durability "os" nothing is synced, so nothing is marked (and the mark proves nothing).
    if (this.durability === 'fsync') store.markAppliedFrom(() => this.committed.nextOffset);
    this.cache = new ReadCache(store.meta.partitions, options.cacheBytes ?? DEFAULT_CACHE_BYTES);
    const readBytes = this.metrics.readBytes;
    this.reader = new Reader(store, this.cache, (source, bytes) => readBytes.inc({ source }, bytes));
    this.retentionEnforcer = new RetentionEnforcer(store, this.sizes);
    this.rules = options.retention ?? [];
    this.metrics.refreshGauges = () => this.updatePartitionGauges();
  }

  static async open(options: EventLogOptions): Promise<EventLog> {
    const partitions = options.partitions;
    if (partitions !== undefined && (!Number.isSafeInteger(partitions) || partitions < 1 || partitions > MAX_PARTITIONS)) {
      throw new FloError('FLO_ERR_CONFIG_INVALID', `partitions must be a whole number from 1 to ${MAX_PARTITIONS}`);
    }
    let storeRecovered = false;
    const halt: { partitions?: PartitionSet } = {};
    const store = await EventStore.open({
      dataDir: options.dataDir, partitions, defaultPartitions: DEFAULT_PARTITIONS, nodeId: options.nodeId, createNodeId: () => `flo-${randomUUID().slice(0, 8)}`,
      onSkippedOffsets: (skipped) => options.logger.warn({ skipped }, 'unclean stop: offsets reserved before it are skipped, so no id is handed out twice'),
      recover: options.recoverStore,
      skipReserved: options.replication === undefined,
      onRecovered: (problems) => {
        storeRecovered = true;
        options.logger.warn({ problems }, 'store recovered: kept what verifies, dropped the rest');
      },
      onFailure: (error) => {
        options.logger.error({ err: error }, 'storage failed: refusing writes until a restart verifies the store');
        // A broker that cannot write must not go on leading (heartbeats need no disk): its groups stop, the others elect.
        halt.partitions?.halt();
      },
    });
    const log = new EventLog(store, store.partitionStates(), options);
    try {
      for (const [nsId, size] of store.namespaceSizes) log.sizes.add(nsId, size.events, size.bytes);
      // Replays the Raft log past what the store holds (onApplied), then takes appends.
      log.partitionSet = halt.partitions = await PartitionSet.start({
        store, sync: log.durability === 'fsync', clock: log.clock, recover: options.recoverStore, storeRecovered, logger: options.logger,
        ...options.replication,
        onApplied: (partition, groups, nextOffset, lastTimestamp, writeMs) => log.onApplied(partition, groups, nextOffset, lastTimestamp, writeMs),
        trimOperations: (partition, cuts) => log.trimOperations(partition, cuts),
        onTrimmed: (partition) => log.onTrimmed(partition),
        onFailure: (error) => {
          if (!store.failed) store.damaged(`a partition's raft group stopped (${error.message})`);
        },
      });
      // Never lower: a replica that has not replayed up to its store yet still serves what the store holds.
      log.partitionSet.heads().forEach((next, partition) => (log.committed.nextOffset[partition] = Math.max(next, log.committed.nextOffset[partition] ?? 0)));
    } catch (error) {
      await store.close();
      throw error;
    }
    log.updatePartitionGauges();
    log.scheduleRetention(0);
    if (log.durability === 'fsync') log.recordAcknowledgedPeriodically();
    options.logger.info({ dataDir: options.dataDir, partitions: store.meta.partitions, nodeId: store.meta.nodeId, durability: log.durability, namespaces: store.dictionary.size }, 'event log open');
    return log;
  }

  get partitions(): number {
    return this.store.meta.partitions;
  }

  get nodeId(): string {
    return this.store.meta.nodeId;
  }

  /** The next offset of every partition: the end of what readers may see. */
  head(): number[] {
    return [...this.committed.nextOffset];
  }

  /** Each partition's Raft group as seen here: role, term, leader, commit and applied index. */
  /** Every partition's Raft group (membership changes, leadership transfers). */
  raftGroups(): ReturnType<PartitionSet['raftGroups']> {
    return this.partitionSet.raftGroups();
  }

  raftStatus(): PartitionRaftStatus[] {
    return this.partitionSet.raftStatus();
  }

  lastTimestamps(): number[] {
    return [...this.committed.lastTimestamp];
  }

  /** Validates a whole request before accepting any of it, then waits for its durable commit. */
  /**
   * Appends events; resolves once they are committed and applied here. With `producer`, the request is
   * idempotent: a retry with the same producer id and sequence is answered with the first attempt's ids
   * and stores nothing (the sequence numbers the request's first event; its events take the next ones).
   */
  async append(inputs: readonly DecodedInput[], producer?: ProducerSequence): Promise<AppendResult> {
    if (this.closing) throw new FloError('FLO_ERR_SHUTTING_DOWN', 'the broker is shutting down');
    if (this.store.failed) throw new FloError('FLO_ERR_STORAGE_FAILED', this.store.failed.message);
    if (inputs.length === 0) throw new FloError('FLO_ERR_REQUEST_INVALID', 'a produce request needs at least one event');
    if (inputs.length > MAX_EVENTS_PER_BATCH) throw new FloError('FLO_ERR_BATCH_TOO_LARGE', `a request holds at most ${MAX_EVENTS_PER_BATCH} events`);
    let bytes = 0;
    for (const input of inputs) {
      this.validate(input);
      bytes += input.data.length;
    }
    this.partitionSet.checkCapacity(bytes);
    const dictionary = this.store.dictionary;
    if (producer !== undefined) checkProducer(producer, inputs.length);
    // One ticket per partition: a partition that fails (no quorum, a lost leader) fails only its own events.
    const indexesOf = new Map<number, number[]>();
    for (let i = 0; i < inputs.length; i++) {
      const partition = dictionary.partitionFor(inputs[i]!.namespace);
      const indexes = indexesOf.get(partition);
      if (indexes === undefined) indexesOf.set(partition, [i]);
      else indexes.push(i);
    }
    const tickets = [...indexesOf].map(([partition, indexes]) => {
      const { promise, resolve, reject } = deferred<void>();
      // Observed at once: if a later enqueue throws, this one's rejection must not go unhandled.
      promise.catch(() => undefined);
      const ticket: AppendTicket = { partitions: new Uint16Array(indexes.length), offsets: new Float64Array(indexes.length), remaining: indexes.length, resolve, reject };
      // Per partition, the producer's batch is numbered by its first event's place in the request.
      const batch: ProducerBatch | undefined = producer === undefined ? undefined : { id: producer.id, firstSequence: producer.sequence + indexes[0]! };
      indexes.forEach((at, k) => {
        const input = inputs[at]!;
        this.partitionSet.enqueue(partition, { namespace: input.namespace, parentId: input.parentId, data: input.data }, ticket, k, batch);
      });
      return { ticket, indexes, done: promise };
    });
    // A request to one partition (what the client sends) answers with its ticket's positions as they are.
    const single = tickets.length === 1 ? tickets[0]!.ticket : undefined;
    const result: AppendResult = single ?? { partitions: new Uint16Array(inputs.length), offsets: new Float64Array(inputs.length) };
    const failures: Array<{ index: number; error: FloError }> = [];
    await Promise.all(tickets.map(async (entry) => {
      try {
        await entry.done;
        if (single !== undefined) return;
        entry.indexes.forEach((at, k) => {
          result.partitions[at] = entry.ticket.partitions[k]!;
          result.offsets[at] = entry.ticket.offsets[k]!;
        });
      } catch (error) {
        const failure = asFloError(error);
        for (const at of entry.indexes) failures.push({ index: at, error: failure });
      }
    }));
    if (failures.length > 0) {
      failures.sort((a, b) => a.index - b.index);
      // Nothing stored: the request failed as a whole, as a one-partition request always does.
      if (failures.length === inputs.length) throw failures[0]!.error;
      let failedBytes = 0;
      for (const failure of failures) failedBytes += inputs[failure.index]!.data.length;
      this.metrics.producedEvents.inc(inputs.length - failures.length);
      this.metrics.producedBytes.inc(bytes - failedBytes);
      throw new PartialAppendError(result, failures);
    }
    this.metrics.producedEvents.inc(inputs.length);
    this.metrics.producedBytes.inc(bytes);
    return result;
  }

  /** Where a consumer group's position lives: the partition its name hashes to. */
  private groupPartition(group: string): number {
    return this.store.dictionary.partitionFor(group);
  }

  /** The cursor a consumer group last committed (replicated: the same on every broker once applied). */
  async groupCursor(group: string): Promise<string | undefined> {
    // Data dirs from before group commits were replicated kept them as settings.
    return this.partitionSet.groupCursor(this.groupPartition(group), group) ?? await this.store.readSetting<string>(`group:${group}`);
  }

  /** Commits a consumer group's cursor through the group's partition log; resolves once applied here. */
  async commitGroup(group: string, cursor: string): Promise<void> {
    if (this.closing) throw new FloError('FLO_ERR_SHUTTING_DOWN', 'the broker is shutting down');
    if (this.store.failed) throw new FloError('FLO_ERR_STORAGE_FAILED', this.store.failed.message);
    await this.partitionSet.commitGroup(this.groupPartition(group), group, cursor);
  }

  /** A group commit another broker forwarded here as its partition's leader. */
  proposeForwarded(partition: number, command: Buffer): Promise<void> {
    return this.partitionSet.proposeForwarded(partition, command);
  }

  /** Appends another broker forwarded to this one as the partitions' leader (validated at their origin). */
  async acceptForwarded(partition: number, events: readonly CommandEvent[], producer?: ProducerBatch): Promise<Float64Array> {
    if (this.closing) throw new FloError('FLO_ERR_SHUTTING_DOWN', 'the broker is shutting down');
    if (this.store.failed) throw new FloError('FLO_ERR_STORAGE_FAILED', this.store.failed.message);
    for (const event of events) {
      this.validate({ namespace: event.namespace, parentId: event.parentId, data: Buffer.from(event.data.buffer, event.data.byteOffset, event.data.byteLength) });
      // Brokers that split namespaces differently would break per-namespace order: refuse rather than store.
      if (this.store.dictionary.partitionFor(event.namespace) !== partition) {
        throw new FloError('FLO_ERR_CONFIG_INVALID', `brokers disagree on where ${event.namespace} goes (partition ${partition} there, ${this.store.dictionary.partitionFor(event.namespace)} here): every broker of a cluster needs the same --partitions`);
      }
    }
    return this.partitionSet.acceptForwarded(partition, events, producer);
  }

  /** The partition's ReadIndex for another broker's replica (this broker must lead it). */
  leaderReadIndex(partition: number): Promise<number> {
    return this.partitionSet.leaderReadIndex(partition);
  }

  /** Resolves once this broker's replica of `partition` holds what the partition had committed when asked. */
  catchUpToCommitted(partition: number, timeoutMs: number): Promise<void> {
    return this.partitionSet.catchUpToCommitted(partition, timeoutMs);
  }

  /**
   * Events of `partition` in [from, to) as stored here, for a replica catching up past a snapshot
   * (cluster/catch-up.ts). Refused while this broker has not applied up to `to` itself.
   */
  async exportEvents(partition: number, from: number, to: number, maxBytes: number): Promise<EventSegment[]> {
    if (partition >= this.store.meta.partitions) throw new FloError('FLO_ERR_REQUEST_INVALID', `no partition ${partition} here`);
    if ((this.committed.nextOffset[partition] ?? 0) < to) throw new FloError('FLO_ERR_UNAVAILABLE', `partition ${partition} is applied here only up to ${this.committed.nextOffset[partition]}, not ${to}`);
    const segments: EventSegment[] = [];
    for (const group of await this.store.readGroups(partition, from, maxBytes, to)) {
      const namespace = this.store.dictionary.nameOf(group.nsId);
      const events: CommandEvent[] = [];
      forEachGroupEvent(group.value, (index, parentId, data) => {
        const offset = group.start + index;
        if (offset >= from && offset < to) events.push({ namespace, parentId, data: Buffer.from(data) });
      });
      if (events.length > 0) segments.push({ start: Math.max(group.start, from), timestamp: group.timestamp, events });
    }
    return segments;
  }

  readPage(request: PageRequest): Promise<Page> {
    return this.reader.readPage(request);
  }

  /** Changes at every commit (and at close): read it before reading the log, then wait with afterCommit(). */
  get commitGeneration(): number {
    return this.commits.generation;
  }

  /** Resolves at the first commit after `generation` (or at close), or when `signal` aborts; an aborted waiter is forgotten at once. */
  afterCommit(generation: number, signal?: AbortSignal): Promise<void> {
    return this.commits.after(generation, signal);
  }

  /** Subscribers parked waiting for a commit. */
  get commitWaiters(): number {
    return this.commits.waiting;
  }

  get isClosing(): boolean {
    return this.closing;
  }

  /** Set once a write failed or damage was found: the log refuses appends until a restart verifies the store. */
  get storageFailure(): FloError | undefined {
    return this.store.failed;
  }

  offsetAtTime(partition: number, timestamp: number): Promise<number | undefined> {
    return this.store.offsetAtTime(partition, timestamp);
  }

  get retentionRules(): readonly RetentionRule[] {
    return this.rules;
  }

  /** Replaces the rules and runs a pass at once; resolves when that pass is done. */
  async setRetentionRules(rules: RetentionRule[]): Promise<void> {
    this.rules = rules;
    await this.runRetention();
  }

  async runRetention(): Promise<void> {
    // Another caller's failed pass is theirs to report (the scheduler logs its own); this one runs anew.
    while (this.retentionRunning) await this.retentionRunning.catch(() => undefined);
    this.retentionRunning = this.retentionPass().finally(() => (this.retentionRunning = undefined));
    await this.retentionRunning;
  }

  partitionSizes(): Array<{ events: number; bytes: number }> {
    const totals = Array.from({ length: this.partitions }, () => ({ events: 0, bytes: 0 }));
    for (let nsId = 0; nsId < this.store.dictionary.size; nsId++) {
      const total = totals[this.store.dictionary.partitionOf(nsId)]!;
      total.events += this.sizes.events[nsId] ?? 0;
      total.bytes += this.sizes.bytes[nsId] ?? 0;
    }
    return totals;
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearTimeout(this.retentionTimer);
    clearInterval(this.acknowledgedTimer);
    clearTimeout(this.appliedMarkTimer);
    try {
      await this.partitionSet.drain();
      await this.partitionSet.close();
      // A pass that failed was logged where it ran; it must not keep the store open and locked.
      await this.retentionRunning?.catch(() => undefined);
    } finally {
      this.commits.fire();
      await this.store.close(this.committed.nextOffset);
    }
    this.options.logger.info({ nodeId: this.nodeId }, 'event log closed');
  }

  private validate(input: DecodedInput): void {
    validateNamespace(input.namespace);
    if (input.data.length > this.maxEventBytes) {
      throw new FloError('FLO_ERR_EVENT_TOO_LARGE', `event data is ${input.data.length} bytes; the limit is ${this.maxEventBytes} (--max-event-bytes)`);
    }
    if (input.parentId !== undefined && (input.parentId.length > MAX_PARENT_ID_BYTES || !isEventId(input.parentId))) {
      throw new FloError('FLO_ERR_EVENT_ID_INVALID', 'parentId must be the id of an event, e.g. 0003-00000000001a2');
    }
  }

  private onApplied(partition: number, groups: readonly StoredGroup[], nextOffset: number, lastTimestamp: number, writeMs: number): void {
    this.committed.nextOffset[partition] = nextOffset;
    this.committed.lastTimestamp[partition] = lastTimestamp;
    if (this.durability === 'fsync') this.scheduleAppliedMark();
    let events = 0;
    for (const group of groups) {
      this.cache.add(group);
      this.sizes.add(group.nsId, group.count, group.value.length);
      events += group.count;
    }
    this.metrics.commitSeconds.observe(writeMs / 1000);
    this.metrics.commitEvents.observe(events);
    this.commits.fire();
  }

  private scheduleRetention(delayMs: number): void {
    if (this.closing) return;
    this.retentionTimer = setTimeout(() => {
      this.runRetention()
        .catch((error: unknown) => this.options.logger.error({ err: error }, 'retention pass failed'))
        .finally(() => this.scheduleRetention(this.options.retentionIntervalMs ?? DEFAULT_RETENTION_INTERVAL_MS));
    }, delayMs);
    this.retentionTimer.unref();
  }

  private scheduleAppliedMark(): void {
    if (this.appliedMarkTimer !== undefined) return;
    this.appliedMarkTimer = setTimeout(() => {
      this.appliedMarkTimer = undefined;
      // Under load the Raft log's own synced writes have covered these applies already.
      if (this.closing || this.store.failed || this.store.marks(this.committed.nextOffset)) return;
      this.store.write([{ type: 'put', key: SYNC_MARK_KEY, value: Buffer.from(String(this.clock())) }], true)
        .catch((error: unknown) => this.options.logger.error({ err: error }, 'syncing applied events failed'));
    }, APPLIED_MARK_DELAY_MS);
    this.appliedMarkTimer.unref();
  }

  private recordAcknowledgedPeriodically(): void {
    this.acknowledgedTimer = setInterval(() => {
      if (this.closing || this.store.failed) return;
      // Applies are written unsynced (the Raft log is the durable record): one synced write makes every
      // apply so far durable before the offsets file says they are there, so the start-up check holds.
      const acknowledged = [...this.committed.nextOffset];
      this.store.write([{ type: 'put', key: SYNC_MARK_KEY, value: Buffer.from(String(this.clock())) }], true)
        .then(() => this.store.recordAcknowledged(acknowledged)).catch((error: unknown) => this.options.logger.error({ err: error }, 'recording acknowledged offsets failed'));
    }, this.options.acknowledgedMarkIntervalMs ?? ACKNOWLEDGED_MARK_INTERVAL_MS);
    this.acknowledgedTimer.unref();
  }

  /**
   * Retention is decided by each partition's leader and applied by every replica: the cuts the rules
   * call for go through the partition's Raft log as TRIM commands (trimOperations removes them on apply),
   * so replicas hold the same events. A broker without peers leads all its partitions.
   */
  private async retentionPass(): Promise<void> {
    // A failed store takes no more writes: retention waits for the restart like everything else.
    if (this.closing || this.store.failed) return;
    const cuts = await this.retentionEnforcer.decide(this.rules, this.clock(), (partition) => this.partitionSet.leads(partition));
    for (const [partition, list] of cuts) {
      try {
        await this.partitionSet.proposeTrim(partition, list);
      } catch (error) {
        // Leadership moved meanwhile: the new leader decides on its next pass.
        if (!isNotLeader(error)) throw error;
      }
    }
    if (cuts.size > 0) await this.store.compact();
    this.updatePartitionGauges();
  }

  /** The removals of a replicated cut, as store operations for its apply batch. */
  private async trimOperations(partition: number, cuts: readonly TrimCut[]): Promise<StoreOperation[]> {
    const { operations, deleted } = await this.retentionEnforcer.cutOperations(partition, cuts);
    if (deleted > 0) {
      this.metrics.retentionDeletedEvents.inc(deleted);
      this.options.logger.info({ deletedEvents: deleted, partition }, 'retention removed events');
    }
    return operations;
  }

  /** A cut is written: cached groups may be gone, and the time index may point below the new start. */
  private onTrimmed(partition: number): void {
    this.cache.dropPartition(partition);
    void this.store.pruneTimeIndex(partition).catch((error: unknown) => this.options.logger.warn({ err: error, partition }, 'time index not pruned'));
    this.updatePartitionGauges();
  }

  private updatePartitionGauges(): void {
    this.partitionSizes().forEach((size, partition) => {
      this.metrics.partitionEvents.set({ partition: String(partition) }, size.events);
      this.metrics.partitionBytes.set({ partition: String(partition) }, size.bytes);
      this.metrics.partitionHead.set({ partition: String(partition) }, this.committed.nextOffset[partition]!);
    });
    this.metrics.cacheBytes.set(this.cache.sizeBytes);
  }
}
