// One simulated group member: the production RaftNode (its Ready loop, persistence
// rule, pending proposals and reads, snapshots and compaction, heartbeat alignment on
// the broker's GroupTicker) with the production PartitionMachine as its state machine,
// applying real encoded partition commands (offsets, dedup of idempotent producers,
// snapshots of both). Around it only what a process has outside: a "disk" that keeps
// what was fsynced, the network, and the world's clock. A crash ends the process: the
// writes it had in flight are lost whole (as a LevelDB write batch would be) and a
// restart rebuilds everything from the disk alone.

import { crc32 } from 'node:zlib';
import type { Logger } from 'pino';
import { COMMAND_APPEND, NO_PRODUCER, decodeCommand, encodeCommand, type AppendCommand } from '../../../src/broker/partitions/commands.js';
import { PartitionMachine, type PartitionPlantedBugs } from '../../../src/broker/partitions/partition-machine.js';
import type { PlantedBugs } from '../../../src/broker/raft/config.js';
import type { RaftCore } from '../../../src/broker/raft/core.js';
import type { ConfChange } from '../../../src/broker/raft/membership.js';
import { EntryType, type Entry, type Message, type NodeId, type Ready, type Snapshot } from '../../../src/broker/raft/messages.js';
import type { SeededRandom } from '../../../src/broker/raft/random.js';
import { MemoryStorage, bootstrapState } from '../../../src/broker/raft/storage.js';
import { RaftNode, type RaftLogStore, type StateMachine } from '../../../src/broker/replication/raft-node.js';
import { GroupTicker } from '../../../src/broker/replication/ticker.js';
import type { MessageHandler, RaftTransport } from '../../../src/broker/transport/tcp-transport.js';

export const SIM_GROUP = 1;
const SIM_NAMESPACE = '/sim';

export interface NodeHooks {
  send(m: Message): void;
  schedule(delayMs: number, run: () => void): void;
  /** Runs `run` every `periodMs` until the returned cancel is called (a process's interval timer). */
  every(periodMs: number, run: () => void): () => void;
  /** After each tick of the node (the world checks leaders then). */
  onTick(node: SimNode): void;
  onApply(node: SimNode, entry: Entry): void;
  /** The machine gave op `opId` new offsets (a duplicate or a refused append gives none). */
  onAppended(node: SimNode, opId: number, offset: number): void;
  /** The machine's state at raft index `index`: a snapshot taken there, restored from disk at a restart, or installed from the leader. */
  onMachineSnapshot(node: SimNode, index: number, data: Uint8Array, how: 'taken' | 'restarted' | 'installed'): void;
  /** A write proposed here reached a definite outcome: its event's offset, or null (lost or unknown). */
  onWriteOutcome(opId: number, offset: number | null): void;
  /** A read served here: how many events it saw, or null when it failed. */
  onReadOutcome(opId: number, seen: number | null): void;
  /** The node's group stopped on an error while its process was alive (a failed apply or assertion). */
  onFailure(node: SimNode, error: Error): void;
}

export interface SimNodeConfig {
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly tickMs: number;
  /** The node's tick period: its clock runs fast or slow against the others. */
  readonly periodMs: number;
  readonly maxMessageBytes: number;
  readonly maxInflightMessages: number;
  readonly plantedBugs: PlantedBugs;
  readonly partitionBugs: PartitionPlantedBugs;
  readonly fsyncMaxMs: number;
  readonly snapshotEvery: number;
  readonly keepEntries: number;
}

/** A client write: one event whose data is the op id, from producer `producerId` at `sequence`. */
export function writeCommand(opId: number, producerId: number, sequence: number, timestamp: number): Buffer {
  const data = new Uint8Array(4);
  new DataView(data.buffer).setUint32(0, opId);
  const command: AppendCommand = { kind: COMMAND_APPEND, timestamp, producerId, firstSequence: sequence, events: [{ namespace: SIM_NAMESPACE, parentId: undefined, data }] };
  return encodeCommand(command);
}

function opOf(command: AppendCommand): number {
  const data = command.events[0]?.data;
  return data === undefined || data.byteLength !== 4 ? -1 : new DataView(data.buffer, data.byteOffset, 4).getUint32(0);
}

/** An entry's identity for the state machine safety check. */
export function entryKey(entry: Entry): string {
  if (entry.type === EntryType.ConfChange) return `conf:${Array.from(entry.data).join('.')}`;
  return entry.data.byteLength === 0 ? 'empty' : `cmd:${entry.data.byteLength}:${crc32(entry.data)}`;
}

/** The disk of one process lifetime: writes complete after a simulated fsync, unless the process crashed first. */
class SimDisk implements RaftLogStore {
  private inFlight = 0;
  private dead = false;
  private readonly rejects = new Set<(error: Error) => void>();

  constructor(private readonly disk: MemoryStorage, private readonly hooks: NodeHooks, private readonly random: SeededRandom, private readonly fsyncMaxMs: number) {}

  get writing(): boolean {
    return this.inFlight > 0;
  }

  crash(): void {
    this.dead = true;
    for (const reject of this.rejects) reject(new Error('crashed'));
    this.rejects.clear();
  }

  bootstrap(_groupId: number, founders: readonly NodeId[]): Promise<boolean> {
    if (this.disk.lastIndex() > 0) return Promise.resolve(false);
    const boot = bootstrapState(founders);
    this.disk.restore(this.disk.snapshot(), boot.entries, boot.hardState);
    return Promise.resolve(true);
  }

  load(): Promise<MemoryStorage> {
    const mem = new MemoryStorage();
    mem.restore(this.disk.snapshot(), this.disk.allEntries(), this.disk.hardState());
    return Promise.resolve(mem);
  }

  persist(_groupId: number, ready: Pick<Ready, 'hardState' | 'entries' | 'snapshot'>, sync = true): Promise<void> {
    return this.write(sync, () => this.disk.applyReady(ready));
  }

  saveSnapshot(_groupId: number, snapshot: Snapshot, compactTo: number): Promise<void> {
    return this.write(true, () => {
      if (snapshot.metadata.index > this.disk.snapshot().metadata.index) this.disk.createSnapshot(snapshot.metadata.index, snapshot.metadata.conf, snapshot.data);
      this.disk.compact(compactTo);
    });
  }

  private write(sync: boolean, land: () => void): Promise<void> {
    if (this.dead) return Promise.reject(new Error('crashed'));
    this.inFlight++;
    return new Promise<void>((resolve, reject) => {
      this.rejects.add(reject);
      this.hooks.schedule(sync ? this.random.nextInt(this.fsyncMaxMs + 1) : 0, () => {
        if (this.dead) return;
        this.rejects.delete(reject);
        this.inFlight--;
        land();
        resolve();
      });
    });
  }
}

/** The network end of one process lifetime. */
class SimTransport implements RaftTransport {
  private handler: MessageHandler | undefined;
  dead = false;

  constructor(readonly nodeId: NodeId, private readonly hooks: NodeHooks) {}

  send(_groupId: number, messages: readonly Message[]): void {
    if (!this.dead) for (const m of messages) this.hooks.send(m);
  }

  register(_groupId: number, handler: MessageHandler): void {
    this.handler = handler;
  }

  unregister(): void {
    this.handler = undefined;
  }

  deliver(m: Message): void {
    if (!this.dead) this.handler?.(m);
  }
}

/** One process lifetime of a member: what a crash throws away. */
interface Process {
  readonly disk: SimDisk;
  readonly transport: SimTransport;
  readonly waiting: Map<number, { opId: number; term: number }>;
  node: RaftNode | null;
}

export class SimNode {
  readonly disk = new MemoryStorage();
  private process: Process | null = null;
  private machine: PartitionMachine;
  /** Raft index the machine has applied. */
  applied = 0;
  restarts = 0;

  constructor(
    readonly id: NodeId,
    private readonly hooks: NodeHooks,
    private readonly config: SimNodeConfig,
    private readonly random: SeededRandom,
  ) {
    this.machine = new PartitionMachine(undefined, config.partitionBugs);
  }

  /** Running and booted (a process starting up is not yet reachable). */
  get up(): boolean {
    return this.process?.node != null;
  }

  get started(): boolean {
    return this.process !== null;
  }

  get core(): RaftCore | null {
    return this.process?.node?.coreForChecks ?? null;
  }

  /** How many events this member's machine holds. */
  get nextOffset(): number {
    return this.machine.nextOffset;
  }

  /** A write is being persisted: crashing now loses it (the adversary's favourite moment). */
  get writing(): boolean {
    return this.process?.disk.writing ?? false;
  }

  start(): void {
    if (this.process !== null) return;
    const process: Process = {
      disk: new SimDisk(this.disk, this.hooks, this.random.fork(), this.config.fsyncMaxMs),
      transport: new SimTransport(this.id, this.hooks),
      waiting: new Map(),
      node: null,
    };
    this.process = process;
    this.machine = new PartitionMachine(undefined, this.config.partitionBugs);
    this.applied = 0;
    const ticker = new GroupTicker(this.config.tickMs, {
      setInterval: (tick) => this.hooks.every(this.config.periodMs, () => {
        tick();
        this.hooks.onTick(this);
      }),
      clearInterval: (cancel) => (cancel as () => void)(),
    });
    void RaftNode.start({
      groupId: SIM_GROUP,
      nodeId: this.id,
      storage: process.disk,
      transport: process.transport,
      stateMachine: this.stateMachine(process),
      ticker,
      electionTicks: this.config.electionTicks,
      heartbeatTicks: this.config.heartbeatTicks,
      maxMessageBytes: this.config.maxMessageBytes,
      maxInflightMessages: this.config.maxInflightMessages,
      snapshotEvery: this.config.snapshotEvery,
      snapshotTrailingEntries: this.config.keepEntries,
      // The clients time out on the world's clock; the node's own timeout runs on the wall clock.
      proposalTimeoutMs: 1e12,
      seed: this.random.nextInt(2 ** 31),
      defer: (run) => this.hooks.schedule(0, run),
      plantedBugs: this.config.plantedBugs,
      onFailure: (error) => {
        if (this.process === process) this.hooks.onFailure(this, error);
      },
      logger: this.anomalies(process),
    }).then((node) => {
      if (this.process === process) process.node = node;
      else void node.close();
    }, (error: unknown) => {
      // A restart that fails (its snapshot does not restore) is a finding, not a node that stays down unexplained.
      if (this.process === process) this.hooks.onFailure(this, error instanceof Error ? error : new Error(String(error)));
    });
  }

  /**
   * RaftNode reports what it cannot explain (a snapshot skipped because applied is outside the stored log,
   * its group stopping) at warn and error: in the simulator those are findings while the process lives.
   */
  private anomalies(process: Process): Logger {
    const report = (fields: unknown, message?: string): void => {
      if (this.process !== process) return;
      const text = typeof fields === 'string' ? fields : `${message ?? ''} ${JSON.stringify(fields, (key, value: unknown) => (key === 'err' ? String(value) : value))}`;
      this.hooks.onFailure(this, new Error(`RaftNode logged: ${text}`));
    };
    const quiet = (): void => undefined;
    return { info: quiet, debug: quiet, trace: quiet, warn: report, error: report, fatal: report } as unknown as Logger;
  }

  crash(): void {
    const process = this.process;
    if (process === null) return;
    this.process = null;
    this.restarts++;
    process.disk.crash();
    process.transport.dead = true;
    // Writes in flight are now of unknown outcome: the client stops waiting; they may still commit.
    for (const { opId } of process.waiting.values()) this.hooks.onWriteOutcome(opId, null);
    process.waiting.clear();
    if (process.node !== null) void process.node.close();
  }

  deliver(m: Message): void {
    this.process?.transport.deliver(m);
  }

  private stateMachine(process: Process): StateMachine {
    const alive = (): boolean => this.process === process;
    return {
      apply: (entries) => {
        if (alive()) for (const entry of entries) this.apply(process, entry);
      },
      snapshot: () => {
        const data = this.machine.snapshot();
        if (alive()) this.hooks.onMachineSnapshot(this, this.applied, data, 'taken');
        return data;
      },
      restore: (data, index) => {
        if (!alive()) return;
        this.machine = PartitionMachine.restore(data, undefined, this.config.partitionBugs);
        this.applied = index;
        this.hooks.onMachineSnapshot(this, index, data, process.node === null ? 'restarted' : 'installed');
        for (const [at, write] of process.waiting) {
          if (at > index) continue;
          process.waiting.delete(at);
          this.hooks.onWriteOutcome(write.opId, null);
        }
      },
    };
  }

  /** As Partition does: the machine assigns offsets at apply; a write is acknowledged once applied here, with them. */
  private apply(process: Process, entry: Entry): void {
    if (entry.index <= this.applied) return;
    this.hooks.onApply(this, entry);
    this.applied = entry.index;
    let offset: number | null = null;
    if (entry.type === EntryType.Normal && entry.data.byteLength > 0) {
      const command = decodeCommand(entry.data);
      const outcome = this.machine.apply(command);
      if (command.kind === COMMAND_APPEND && outcome.kind === 'appended') {
        offset = outcome.firstOffset;
        this.hooks.onAppended(this, opOf(command), offset);
      } else if (outcome.kind === 'duplicate') {
        offset = outcome.firstOffset;
      }
    }
    const write = process.waiting.get(entry.index);
    if (write === undefined) return;
    process.waiting.delete(entry.index);
    this.hooks.onWriteOutcome(write.opId, entry.term === write.term ? offset : null);
  }

  /** True when proposed; otherwise the leader hint (0 when none). */
  proposeWrite(opId: number, producerId = NO_PRODUCER, sequence = 0, timestamp = 0): true | number {
    const process = this.process;
    const node = process?.node;
    if (process == null || node == null) return 0;
    let accepted: { index: number; term: number } | undefined;
    node.proposeBatch([writeCommand(opId, producerId, sequence, timestamp)], (index, term) => {
      accepted = { index, term };
    }).catch(() => undefined); // the outcome is taken at apply, as Partition takes it
    if (accepted === undefined) return node.status().leader ?? 0;
    process.waiting.set(accepted.index, { opId, term: accepted.term });
    return true;
  }

  /** True when asked; otherwise the leader hint. The outcome comes through onReadOutcome. */
  requestRead(opId: number): true | number {
    const node = this.process?.node;
    if (node == null) return 0;
    if (!node.isLeader) return node.status().leader ?? 0;
    const process = this.process;
    node.readIndex().then(
      () => this.hooks.onReadOutcome(opId, this.process === process ? this.machine.nextOffset : null),
      () => this.hooks.onReadOutcome(opId, null),
    );
    return true;
  }

  /** Proposes a membership change through RaftNode; true when the leader took it into its log. */
  changeMembership(change: ConfChange): boolean {
    const node = this.process?.node;
    if (node == null) return false;
    const before = node.coreForChecks.log.lastIndex();
    node.changeMembership(change).catch(() => undefined);
    return node.coreForChecks.log.lastIndex() > before;
  }

  transferLeadership(target: NodeId): boolean {
    try {
      this.process?.node?.transferLeadership(target);
      return this.process?.node != null;
    } catch {
      return false;
    }
  }
}
