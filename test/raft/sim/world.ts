// The seeded simulation: nodes running the production RaftNode and PartitionMachine
// (node.ts) over a simulated network
// (delay, loss, duplication, reordering, symmetric and one-way partitions), with
// crashes that keep only what was fsynced, restarts, membership changes, leader
// transfers, snapshots, and clients writing and reading throughout. Safety phase
// first; then the network heals and the cluster must make progress within a bound.

import type { PlantedBugs } from '../../../src/broker/raft/config.js';
import type { PartitionPlantedBugs } from '../../../src/broker/partitions/partition-machine.js';
import { ConfChangeType, type ConfChange } from '../../../src/broker/raft/membership.js';
import { Role, type Message, type NodeId } from '../../../src/broker/raft/messages.js';
import { SeededRandom } from '../../../src/broker/raft/random.js';
import { EMPTY_SNAPSHOT, bootstrapState } from '../../../src/broker/raft/storage.js';
import { SafetyChecker, SimViolation } from './checks.js';
import { Clients } from './clients.js';
import { EventHeap } from './heap.js';
import { SimNode } from './node.js';
import { profileFor, type FaultProfile } from './profile.js';

export const TICK_MS = 10;
/** After the heal, a leader must be elected and commit a new entry within this many ticks. */
export const LIVENESS_BOUND_TICKS = 200;
/** ... and every member must have applied it within this many (a far-behind member replicating one entry per round trip is slow). */
export const CONVERGENCE_BOUND_TICKS = 3000;
/** Hard cap on simulated events per run, so a livelock cannot hang the campaign. */
export const MAX_EVENTS = 3_000_000;
const LOG_MATCHING_EVERY_EVENTS = 400;
/** Largest one-way delay once the network has healed (one tick). */
const HEALED_MAX_DELAY_MS = 10;
const MAX_EXTRA_NODES = 4;

export interface SimOptions {
  readonly seed: number;
  readonly plantedBugs?: PlantedBugs;
  /** Defects planted in the partition state machine. */
  readonly partitionBugs?: PartitionPlantedBugs;
  /** Pins parts of the seed-derived fault mix (e.g. an adversarial mix for the planted-bug tests). */
  readonly profile?: Partial<FaultProfile>;
}

export interface SimStats {
  events: number;
  simulatedMs: number;
  leaderTerms: number;
  committedEntries: number;
  writesAcked: number;
  readsServed: number;
  crashes: number;
  partitions: number;
  confChanges: number;
  transfers: number;
  snapshotsInstalled: number;
  messagesSent: number;
  livenessTicks: number;
}

export interface SimResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly violation: string | null;
  readonly profile: FaultProfile;
  readonly stats: SimStats;
}

export class World {
  readonly rng: SeededRandom;
  readonly profile: FaultProfile;
  readonly nodes = new Map<NodeId, SimNode>();
  readonly checker = new SafetyChecker();
  readonly clients: Clients;
  readonly stats: SimStats = {
    events: 0, simulatedMs: 0, leaderTerms: 0, committedEntries: 0, writesAcked: 0, readsServed: 0, crashes: 0,
    partitions: 0, confChanges: 0, transfers: 0, snapshotsInstalled: 0, messagesSent: 0, livenessTicks: -1,
  };
  now = 0;
  private seq = 0;
  private readonly heap = new EventHeap();
  private readonly blocked = new Set<string>();
  private faulty = true;
  private nextNodeId: number;
  private readonly leaderSeen = new Map<NodeId, number>();
  /** Latest delivery time per link, for in-order delivery once healed. */
  private readonly linkClock = new Map<string, number>();
  /** A node's group stopped on an error: reported at the next event. */
  private failure: string | undefined;

  constructor(private readonly options: SimOptions) {
    this.rng = new SeededRandom(options.seed);
    this.profile = { ...profileFor(this.rng.fork()), ...options.profile };
    this.clients = new Clients(this);
    const founders = Array.from({ length: this.profile.voters }, (_, i) => i + 1);
    const boot = bootstrapState(founders);
    for (const id of founders) {
      const node = this.addNode(id);
      node.disk.restore(EMPTY_SNAPSHOT, boot.entries, boot.hardState);
    }
    this.nextNodeId = founders.length + 1;
  }

  private addNode(id: NodeId): SimNode {
    const p = this.profile;
    const phase = this.rng.nextInt(TICK_MS);
    const skew = p.clockSkewMs;
    const period = skew === 0 ? TICK_MS : TICK_MS - skew + this.rng.nextInt(2 * skew + 1);
    const node = new SimNode(
      id,
      {
        send: (m) => this.send(m),
        schedule: (delayMs, run) => this.at(this.now + delayMs, run),
        every: (periodMs, run) => {
          let cancelled = false;
          const loop = (): void => {
            if (cancelled) return;
            run();
            this.at(this.now + periodMs, loop);
          };
          this.at(this.now + phase, loop);
          return () => {
            cancelled = true;
          };
        },
        onTick: (n) => this.observe(n),
        onApply: (n, entry) => this.checker.onApply(n.id, entry),
        onAppended: (n, opId, offset) => this.checker.onAppended(n.id, opId, offset),
        onMachineSnapshot: (n, index, data, how) => {
          if (how === 'installed') this.stats.snapshotsInstalled++;
          this.checker.onMachineSnapshot(n.id, index, data);
        },
        onWriteOutcome: (opId, offset) => this.clients.writeOutcome(opId, offset),
        onReadOutcome: (opId, seen) => this.clients.readOutcome(opId, seen),
        onFailure: (n, error) => {
          // A check that failed inside apply stops the group too: report the check.
          this.failure ??= error instanceof SimViolation ? error.message : `node ${n.id}'s group stopped: ${error.name}: ${error.message}`;
        },
      },
      {
        electionTicks: 10,
        heartbeatTicks: 1,
        tickMs: TICK_MS,
        periodMs: period,
        maxMessageBytes: p.maxMessageBytes,
        maxInflightMessages: p.maxInflightMessages,
        plantedBugs: this.options.plantedBugs ?? {},
        partitionBugs: this.options.partitionBugs ?? {},
        fsyncMaxMs: p.fsyncMaxMs,
        snapshotEvery: p.snapshotEvery,
        keepEntries: p.keepEntriesAfterSnapshot,
      },
      this.rng.fork(),
    );
    this.nodes.set(id, node);
    return node;
  }

  at(time: number, run: () => void): void {
    this.heap.push({ time, seq: this.seq++, run });
  }

  /** Election safety and leader completeness are checked whenever a node is seen leading a new term. */
  observe(node: SimNode): void {
    const core = node.core;
    if (core === null || core.role !== Role.Leader || this.leaderSeen.get(node.id) === core.term) return;
    this.leaderSeen.set(node.id, core.term);
    this.stats.leaderTerms++;
    this.checker.onLeader(node.id, core);
    if (this.faulty && this.rng.chance(this.profile.isolateNewLeaderChance)) {
      // Adversarial: leaders that win and then vanish leave divergent logs of many terms behind.
      this.at(this.now + this.rng.nextInt(30), () => this.isolateLeader(node.id));
    }
  }

  private isolateLeader(id: NodeId): void {
    if (!this.faulty) return;
    this.blocked.clear();
    this.stats.partitions++;
    const others = [...this.nodes.keys()].filter((other) => other !== id);
    const keep = this.rng.chance(0.5) ? others[this.rng.nextInt(others.length)] : undefined;
    for (const other of others) if (other !== keep) this.blocked.add(`${id}>${other}`).add(`${other}>${id}`);
  }

  leader(): SimNode | null {
    let best: SimNode | null = null;
    for (const node of this.nodes.values()) {
      const core = node.core;
      if (core !== null && core.role === Role.Leader && (best === null || (best.core?.term ?? 0) < core.term)) best = node;
    }
    return best;
  }

  private send(m: Message): void {
    this.stats.messagesSent++;
    const p = this.profile;
    const copies = this.faulty && this.rng.chance(p.dupRate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      if (this.blocked.has(`${m.from}>${m.to}`)) continue;
      if (this.faulty && this.rng.chance(p.lossRate)) continue;
      const link = `${m.from}>${m.to}`;
      // Raft's timing requirement (§5.6): broadcast time well below the election timeout. The
      // faulty phase may break it (safety must still hold); a healed network satisfies it again.
      const maxDelayMs = this.faulty ? p.maxDelayMs : Math.min(p.maxDelayMs, HEALED_MAX_DELAY_MS);
      const minDelayMs = Math.min(p.minDelayMs, maxDelayMs);
      let deliverAt = this.now + minDelayMs + this.rng.nextInt(maxDelayMs - minDelayMs + 1);
      if (!this.faulty) {
        // A healed network behaves like the TCP transport: in order per link.
        deliverAt = Math.max(deliverAt, this.linkClock.get(link) ?? 0);
        this.linkClock.set(link, deliverAt);
      }
      this.at(deliverAt, () => {
        if (this.blocked.has(`${m.from}>${m.to}`)) return; // a partition also cuts what is on the wire
        const node = this.nodes.get(m.to);
        if (node === undefined) return;
        node.deliver(m);
        this.observe(node);
      });
    }
  }

  private gap(mean: number): number {
    return Math.max(1, Math.round(mean / 2 + this.rng.nextInt(mean + 1)));
  }

  private scheduleFaults(): void {
    const p = this.profile;
    const every = (mean: number, action: () => void): void => {
      if (mean <= 0) return;
      const loop = (): void => {
        if (!this.faulty) return;
        action();
        this.at(this.now + this.gap(mean), loop);
      };
      this.at(this.gap(mean), loop);
    };
    every(p.partitionGapMs, () => this.repartition());
    every(p.crashGapMs, () => this.crashOne());
    every(p.confChangeGapMs, () => this.changeMembership());
    every(p.transferGapMs, () => this.transfer());
  }

  private repartition(): void {
    this.blocked.clear();
    this.stats.partitions++;
    const ids = [...this.nodes.keys()];
    const victim = ids[this.rng.nextInt(ids.length)] ?? 1;
    switch (this.rng.nextInt(5)) {
      case 0:
        return; // heal
      case 1: // isolate one node
        for (const other of ids) if (other !== victim) this.blocked.add(`${victim}>${other}`).add(`${other}>${victim}`);
        return;
      case 2: { // split in two sides
        const side = new Set(ids.filter(() => this.rng.chance(0.5)));
        for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) this.blocked.add(`${a}>${b}`);
        return;
      }
      case 3: // one-way: the victim hears everyone but nobody hears it (or the reverse)
        for (const other of ids) this.blocked.add(this.rng.chance(0.5) ? `${victim}>${other}` : `${other}>${victim}`);
        return;
      default: // random one-way link cuts
        for (const a of ids) for (const b of ids) if (a !== b && this.rng.chance(0.25)) this.blocked.add(`${a}>${b}`);
    }
  }

  private crashOne(): void {
    const up = [...this.nodes.values()].filter((n) => n.up);
    const writing = up.filter((n) => n.writing);
    const leader = this.leader();
    let victim: SimNode | undefined;
    if (writing.length > 0 && this.rng.chance(0.5)) victim = writing[this.rng.nextInt(writing.length)]; // mid-fsync
    else if (leader !== null && this.rng.chance(0.5)) victim = leader;
    else victim = up[this.rng.nextInt(up.length)];
    if (victim === undefined) return;
    victim.crash();
    this.stats.crashes++;
    this.at(this.now + 1 + this.rng.nextInt(this.profile.maxDownMs), () => victim.start());
  }

  private changeMembership(): void {
    const leader = this.leader();
    const core = leader?.core;
    if (leader === null || core === null || core === undefined) return;
    const { voters, learners } = core.conf;
    let change: ConfChange;
    const learner = learners[0];
    if (learner !== undefined && this.rng.chance(0.7)) {
      change = { type: ConfChangeType.AddVoter, nodeId: learner };
    } else if (voters.length < 5 && this.nextNodeId <= this.profile.voters + MAX_EXTRA_NODES && this.rng.chance(0.6)) {
      change = { type: ConfChangeType.AddLearner, nodeId: this.nextNodeId };
    } else if (voters.length > 3) {
      change = { type: ConfChangeType.RemoveNode, nodeId: voters[this.rng.nextInt(voters.length)] ?? 1 };
    } else {
      return;
    }
    if (!leader.changeMembership(change)) return;
    this.stats.confChanges++;
    if (change.type === ConfChangeType.AddLearner) {
      this.nextNodeId++;
      this.addNode(change.nodeId).start();
    }
  }

  private transfer(): void {
    const leader = this.leader();
    const voters = leader?.core?.conf.voters ?? [];
    const target = voters[this.rng.nextInt(voters.length)];
    if (leader === null || target === undefined || target === leader.id) return;
    if (leader.transferLeadership(target)) this.stats.transfers++;
  }

  private heal(): void {
    this.faulty = false;
    this.blocked.clear();
    for (const node of this.nodes.values()) node.start();
  }

  /** Runs both phases; throws SimViolation on the first broken property. */
  async run(): Promise<void> {
    for (const node of this.nodes.values()) node.start();
    this.scheduleFaults();
    this.clients.start(this.profile.safetyMs);
    const safetyEnd = this.profile.safetyMs;
    this.at(safetyEnd, () => this.heal());
    let committed = false;
    let done = false;
    this.at(safetyEnd, () => this.clients.startLivenessProbe(() => {
      committed = true;
      this.stats.livenessTicks = Math.ceil((this.now - safetyEnd) / TICK_MS);
    }, () => {
      done = true;
    }));
    while (!done) {
      const event = this.heap.pop();
      if (event === undefined) throw new SimViolation('simulation ran out of events');
      this.now = event.time;
      if (!committed && this.now > safetyEnd + LIVENESS_BOUND_TICKS * TICK_MS) {
        throw new SimViolation(`liveness: no entry committed within ${LIVENESS_BOUND_TICKS} ticks after the heal`);
      }
      if (this.now > safetyEnd + CONVERGENCE_BOUND_TICKS * TICK_MS) {
        throw new SimViolation(`convergence: members did not all apply the post-heal entry within ${CONVERGENCE_BOUND_TICKS} ticks`);
      }
      event.run();
      // RaftNode continues through promises (its Ready loop awaits the disk): let them run before the next event.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.failure !== undefined) throw new SimViolation(this.failure);
      if (++this.stats.events % LOG_MATCHING_EVERY_EVENTS === 0) this.checkLogs();
      if (this.stats.events > MAX_EVENTS) throw new SimViolation('event budget exhausted');
    }
    this.checkLogs();
    this.stats.simulatedMs = this.now;
    this.stats.committedEntries = this.checker.history.size;
    const violation = this.clients.check(this.checker.opPosition);
    if (violation !== null) throw new SimViolation(`linearizability: ${violation}`);
  }

  private checkLogs(): void {
    const cores = [...this.nodes.values()].flatMap((n) => (n.core === null ? [] : [n.core]));
    this.checker.checkLogMatching(cores);
  }
}

export async function runSimulation(options: SimOptions): Promise<SimResult> {
  const world = new World(options);
  let violation: string | null = null;
  try {
    await world.run();
  } catch (error) {
    if (!(error instanceof Error)) throw error;
    // A core assertion is a detected safety breach too (e.g. a follower asked to overwrite a committed entry).
    violation = `${error.name}: ${error.message}`;
    if (!(error instanceof SimViolation)) violation += `\n${error.stack ?? ''}`;
  }
  world.stats.simulatedMs = world.now;
  return { seed: options.seed, ok: violation === null, violation, profile: world.profile, stats: world.stats };
}
