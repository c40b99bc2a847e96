// Carries out a nemesis schedule on real broker processes and writes the fault
// timeline: kill -9 + restart, SIGSTOP / SIGCONT, file damage on a stopped
// broker, kill -9 losing what was not fsynced (lose-unsynced.ts), and partitions
// through the proxy mesh on the peer links (given one); the schedule offers
// partitions and damage only to replicated clusters.
import { cutToLastSync } from './lose-unsynced.js';
import type { BrokerProcess } from './brokers.js';
import { damageDataDir } from './damage.js';
import { replaceMember, type MemberSlots } from './membership.js';
import type { ProxyMesh } from './mesh.js';
import type { FaultKind, FaultStep, Schedule } from './schedule.js';

export interface TimelineEntry {
  timeMs: number;
  kind: FaultKind | 'heal' | 'run';
  phase: 'start' | 'end' | 'error' | 'refused' | 'skipped';
  targets: string[];
  detail?: string;
}

export interface NemesisOptions {
  schedule: Schedule;
  brokers: readonly BrokerProcess[];
  startedAtMs: number;
  timeline: TimelineEntry[];
  /** Checked before each step: a run being aborted stops the nemesis. */
  aborted: () => boolean;
  /** The peer-link proxies of a cluster run. */
  mesh?: ProxyMesh;
  /** A cluster run with a spare slot (member-replace): schedule targets are then member ranks, mapped to slots. */
  slots?: MemberSlots;
  /** The member a broker whose store was refused joins again through (see startOrRecover); none: left down. */
  rejoinSeed?: (broker: BrokerProcess) => string | undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

export class Nemesis {
  /** Steps carried out, by kind. */
  readonly executed: Partial<Record<FaultKind, number>> = {};
  /** Restarts the broker refused (its store failed verification), each then rebuilt (see startOrRecover). */
  readonly refusedRestarts: string[] = [];

  constructor(private readonly options: NemesisOptions) {}

  private log(entry: Omit<TimelineEntry, 'timeMs'>): void {
    this.options.timeline.push({ timeMs: Date.now() - this.options.startedAtMs, ...entry });
  }

  async run(): Promise<void> {
    const windowEndMs = this.options.startedAtMs + this.options.schedule.faultWindowEndMs;
    for (const step of this.options.schedule.steps) {
      await sleep(step.gapMs);
      // Restarts make the real timeline run later than the nominal one: stop at the end of the fault window.
      if (this.options.aborted() || Date.now() + step.durationMs > windowEndMs) return;
      const onSlots = this.onSlots(step);
      const skip = this.whySkip(onSlots);
      if (skip !== undefined) {
        this.log({ kind: onSlots.kind, phase: 'skipped', targets: onSlots.targets.map((index) => this.options.brokers[index]!.name), detail: skip });
        continue;
      }
      await this.apply(onSlots);
      this.executed[onSlots.kind] = (this.executed[onSlots.kind] ?? 0) + 1;
    }
  }

  /**
   * Damage is done on a stopped minority only, so the others hold every committed entry: with
   * brokers already down (one that could not restart), stopping the target too could stop a
   * majority, and the step is skipped (logged as such, not counted).
   */
  private whySkip(step: FaultStep): string | undefined {
    const members = this.memberSlots();
    if (step.kind === 'member-replace') {
      const down = members.filter((index) => !this.options.brokers[index]!.running).map((index) => this.options.brokers[index]!.name);
      if (this.options.slots?.spare === undefined) return 'no spare slot to join';
      return down.length === 0 ? undefined : `${down.join(', ')} not running: a membership change waits for every member`;
    }
    if (!step.kind.startsWith('damage-')) return undefined;
    const brokers = this.options.brokers;
    const down = members.filter((index) => !brokers[index]!.running && !step.targets.includes(index)).map((index) => brokers[index]!.name);
    if (down.length + step.targets.length <= Math.floor((members.length - 1) / 2)) return undefined;
    return `${down.join(', ')} not running: stopping ${step.targets.map((index) => brokers[index]!.name).join(', ')} as well would stop a majority`;
  }

  /** Slot indices of the members now, in slot order (every slot when there is no spare). */
  private memberSlots(): number[] {
    return this.options.brokers.map((_, index) => index).filter((index) => this.options.brokers[index] !== this.options.slots?.spare);
  }

  /** The step with its member ranks turned into slot indices. */
  private onSlots(step: FaultStep): FaultStep {
    const members = this.memberSlots();
    const slot = (rank: number): number => members[rank % members.length]!;
    return { ...step, targets: step.targets.map(slot), ...(step.cuts === undefined ? {} : { cuts: step.cuts.map(([from, to]) => [slot(from), slot(to)] as [number, number]) }) };
  }

  private async apply(step: FaultStep): Promise<void> {
    const targets = step.targets.map((index) => this.options.brokers[index]!);
    const names = targets.map((broker) => broker.name);
    const magnitude = step.magnitude === undefined ? '' : step.kind === 'link-delay' ? `, ${step.magnitude} ms per chunk` : `, reset after ${step.magnitude} bytes`;
    this.log({ kind: step.kind, phase: 'start', targets: names, detail: `${step.durationMs} ms${magnitude}` });
    switch (step.kind) {
      case 'kill':
        await Promise.all(targets.map((broker) => broker.kill()));
        await sleep(step.durationMs);
        await this.restart(step.kind, targets);
        break;
      case 'pause':
        for (const broker of targets) broker.pause();
        await sleep(step.durationMs);
        for (const broker of targets) broker.resume();
        break;
      case 'damage-truncate':
      case 'damage-bitflip':
        await this.killAlterRestart(step, targets, (broker) => damageDataDir(broker.dataDir, step.kind === 'damage-truncate' ? 'truncate' : 'bitflip', step.damagePick ?? 0));
        return;
      case 'kill-lose-unsynced':
        await this.killAlterRestart(step, targets, async (broker) => `${broker.name}: ${(await cutToLastSync(broker.dataDir, broker.syncLedger)).detail}`);
        return;
      case 'member-replace': {
        const slots = this.options.slots;
        if (!slots) throw new Error('the member-replace nemesis needs a cluster run with a spare slot');
        try {
          this.log({ kind: step.kind, phase: 'end', targets: names, detail: await replaceMember(slots, targets[0]!) });
        } catch (error) {
          this.log({ kind: step.kind, phase: 'error', targets: names, detail: (error as Error).message });
        }
        return;
      }
      case 'partition-isolate':
      case 'partition-halves':
      case 'partition-bridge':
      case 'partition-one-way': {
        const mesh = this.options.mesh;
        if (!mesh) throw new Error(`the ${step.kind} nemesis needs the peer-link proxy mesh of a cluster run (issue 9)`);
        mesh.apply(step.cuts ?? []);
        await sleep(step.durationMs);
        mesh.heal();
        break;
      }
      case 'link-delay':
      case 'link-drop':
      case 'link-blackhole': {
        const mesh = this.options.mesh;
        if (!mesh) throw new Error(`the ${step.kind} nemesis needs the peer-link proxy mesh of a cluster run`);
        for (const target of step.targets) {
          for (const link of mesh.linksOf(target)) {
            if (step.kind === 'link-delay') link.delay(step.magnitude ?? 100);
            else if (step.kind === 'link-drop') link.dropAfter(step.magnitude ?? 1_024);
            else link.blackhole();
          }
        }
        await sleep(step.durationMs);
        mesh.heal();
        break;
      }
    }
    this.log({ kind: step.kind, phase: 'end', targets: names });
  }

  /** Kills each target, changes its files while it is down (what `alter` says it did goes in the timeline), restarts them. */
  private async killAlterRestart(step: { kind: FaultKind; durationMs: number }, targets: readonly BrokerProcess[], alter: (broker: BrokerProcess) => Promise<string>): Promise<void> {
    const details: string[] = [];
    for (const broker of targets) {
      await broker.kill();
      details.push(await alter(broker));
    }
    await sleep(step.durationMs);
    await this.restart(step.kind, targets);
    this.log({ kind: step.kind, phase: 'end', targets: targets.map((broker) => broker.name), detail: details.join('; ') });
  }

  private async restart(kind: FaultKind | 'heal', targets: readonly BrokerProcess[]): Promise<void> {
    for (const broker of targets) {
      try {
        await this.startOrRecover(kind, broker);
      } catch (error) {
        // A broker that cannot come back is itself a finding: record it, the heal retries once more.
        this.log({ kind, phase: 'error', targets: [broker.name], detail: (error as Error).message });
      }
    }
  }

  /**
   * A store refused at start (FLO_ERR_STORAGE_CORRUPT) is a finding kept in `refusedRestarts`; given
   * a seed, the broker is then started as an operator would start a member whose disk is bad: with
   * --rebuild-when-damaged --join, so it moves the store aside and joins again as a new member whose
   * replicas are rebuilt from the others (the checker then judges what it serves like any broker's).
   */
  private async startOrRecover(kind: FaultKind | 'heal', broker: BrokerProcess): Promise<void> {
    try {
      await broker.start();
    } catch (error) {
      // By the code, not the wording: "the store … failed verification", "LevelDB found damage …" (a cut table) and others.
      const refusal = /^flo: (.*\(FLO_ERR_STORAGE_CORRUPT\))$/m.exec(broker.logTail())?.[1];
      const seed = refusal === undefined || broker.running ? undefined : this.options.rejoinSeed?.(broker);
      if (seed === undefined) throw error;
      this.refusedRestarts.push(`${broker.name} (${kind}): ${refusal!.slice(0, 400)}`);
      this.log({ kind, phase: 'refused', targets: [broker.name], detail: `${refusal!.slice(0, 400)}; rebuilding it: --rebuild-when-damaged --join ${seed}` });
      // A founder's store names no id of its own: this start keeps --node-id and --peers (the id it retires).
      await broker.start(['--rebuild-when-damaged', ...(broker.flags.includes('--join') ? [] : ['--join', seed])]);
      // Rebuilt, it is the member the cluster gave a new id, which its data dir keeps.
      broker.rejoinThrough(seed);
    }
  }

  /**
   * Ends every fault: resumes paused brokers and starts stopped ones. A broker that still cannot
   * start is logged as an error (a liveness failure of the run) and left down, so the run goes on
   * to judge what the others serve instead of ending without a verdict.
   */
  async heal(): Promise<void> {
    this.log({ kind: 'heal', phase: 'start', targets: this.options.brokers.map((broker) => broker.name) });
    this.options.mesh?.heal();
    for (const broker of this.options.brokers) {
      broker.resume();
      if (broker.running || broker === this.options.slots?.spare) continue;
      try {
        await this.startOrRecover('heal', broker);
      } catch (error) {
        this.log({ kind: 'heal', phase: 'error', targets: [broker.name], detail: (error as Error).message });
      }
    }
    this.log({ kind: 'heal', phase: 'end', targets: this.options.brokers.map((broker) => broker.name) });
  }
}
