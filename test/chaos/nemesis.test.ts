// The nemesis with brokers that cannot come back: the heal still ends (the run
// then judges what the others serve), and damage is never done while it would
// stop a majority (chaos seed 412: a broker that could not restart, then damage
// on another, left no quorum; a failed start at the heal ended the run without
// a verdict).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BrokerProcess } from './brokers.js';
import { finalReadBrokers } from './cluster-campaign.js';
import { Nemesis, type TimelineEntry } from './nemesis.js';
import type { FaultStep, Schedule } from './schedule.js';

/** An empty data dir: damage finds nothing to damage there. */
const emptyDataDir = mkdtempSync(join(tmpdir(), 'flo-chaos-nemesis-'));
afterAll(() => rmSync(emptyDataDir, { recursive: true, force: true }));

/** Stands in for a broker process: `startable` false makes every start fail, as a store the broker cannot open. */
function fakeBroker(name: string, options: { running: boolean; startable: boolean }): BrokerProcess & { kills: number } {
  const broker = {
    name, dataDir: emptyDataDir, running: options.running, kills: 0,
    async start(): Promise<void> {
      if (!options.startable) throw new Error(`${name} exited during start`);
      broker.running = true;
    },
    async kill(): Promise<void> {
      broker.kills++;
      broker.running = false;
    },
    pause(): void {},
    resume(): void {},
    logTail: (): string => 'flo: cannot open the store (FLO_ERR_STORAGE)',
  };
  return broker as unknown as BrokerProcess & { kills: number };
}

function scheduleOf(steps: FaultStep[]): Schedule {
  return { seed: 1, durationMs: 60_000, faultWindowEndMs: 60_000, mix: {} as Schedule['mix'], steps };
}

describe('a broker process rebuilt as a new member', () => {
  it('drops its founder id and founders list and joins through the seed on every later start', () => {
    const broker = new BrokerProcess({ index: 0, dataDir: emptyDataDir, logPath: join(emptyDataDir, 'b0.log'), extraArgs: ['--node-id', '1', '--peer-port', '4001', '--peers', 'a,b'] });
    broker.rejoinThrough('127.0.0.1:9002');
    expect(broker.flags).toEqual(['--peer-port', '4001', '--join', '127.0.0.1:9002']);
    broker.rejoinThrough('127.0.0.1:9003');
    expect(broker.flags).toEqual(['--peer-port', '4001', '--join', '127.0.0.1:9003']);
  });
});

describe('nemesis with a broker that cannot restart', () => {
  it('ends the heal, logging the broker that stays down as an error', async () => {
    const timeline: TimelineEntry[] = [];
    const brokers = [fakeBroker('b0', { running: true, startable: true }), fakeBroker('b1', { running: false, startable: false }), fakeBroker('b2', { running: false, startable: true })];
    const nemesis = new Nemesis({ schedule: scheduleOf([]), brokers, startedAtMs: Date.now(), timeline, aborted: () => false });
    await nemesis.heal();
    expect(timeline.filter((entry) => entry.phase === 'error')).toMatchObject([{ kind: 'heal', targets: ['b1'] }]);
    expect(brokers[2]!.running).toBe(true);
    expect(timeline.at(-1)).toMatchObject({ kind: 'heal', phase: 'end' });
  });

  it('skips damage that would stop a majority, and does it on a minority', async () => {
    const damage: FaultStep = { atMs: 0, gapMs: 0, kind: 'damage-bitflip', targets: [0], durationMs: 1, damagePick: 7 };
    const timeline: TimelineEntry[] = [];
    const three = [fakeBroker('b0', { running: true, startable: true }), fakeBroker('b1', { running: false, startable: false }), fakeBroker('b2', { running: true, startable: true })];
    const nemesis = new Nemesis({ schedule: scheduleOf([damage]), brokers: three, startedAtMs: Date.now(), timeline, aborted: () => false });
    await nemesis.run();
    expect(three[0]!.kills).toBe(0);
    expect(nemesis.executed).toEqual({});
    expect(timeline).toMatchObject([{ kind: 'damage-bitflip', phase: 'skipped', targets: ['b0'] }]);

    // Five brokers, one down: damaging a second stops 2 of 5, still a minority.
    const five = [0, 1, 2, 3, 4].map((index) => fakeBroker(`b${index}`, { running: index !== 1, startable: index !== 1 }));
    const onFive = new Nemesis({ schedule: scheduleOf([damage]), brokers: five, startedAtMs: Date.now(), timeline: [], aborted: () => false });
    await onFive.run();
    expect(five[0]!.kills).toBe(1);
    expect(onFive.executed).toEqual({ 'damage-bitflip': 1 });
  });

  it('rebuilds a refused store whatever the refusal says, by its code (a cut table: "LevelDB found damage"), and joins on every later start', async () => {
    const starts: string[][] = [];
    const broker = fakeBroker('b0', { running: false, startable: true });
    Object.assign(broker, {
      async start(args: string[] = []): Promise<void> {
        starts.push([...args]);
        if (!args.includes('--rebuild-when-damaged')) throw new Error('b0 exited during start');
      },
      flags: ['--node-id', '1', '--peers', 'p'],
      rejoinThrough: (seed: string): void => void starts.push([`rejoin through ${seed}`]),
      logTail: (): string => 'flo: LevelDB found damage while the store in /d/b0 was verified (IO error: /d/b0/000005.ldb: Invalid argument); refusing to start. Restore the data dir from a backup, or start once with --recover-store (FLO_ERR_STORAGE_CORRUPT)\n--- chaos b0: exited (code 1)\n',
    });
    const nemesis = new Nemesis({ schedule: scheduleOf([]), brokers: [broker], startedAtMs: Date.now(), timeline: [], aborted: () => false, rejoinSeed: () => '127.0.0.1:9002' });
    await nemesis.heal();
    expect(starts).toEqual([[], ['--rebuild-when-damaged', '--join', '127.0.0.1:9002'], ['rejoin through 127.0.0.1:9002']]);
    expect(nemesis.refusedRestarts).toHaveLength(1);
  });

  it('reads back from the running brokers only, the others a liveness failure', () => {
    const liveness: string[] = [];
    const brokers = [fakeBroker('b0', { running: true, startable: true }), fakeBroker('b1', { running: false, startable: false })];
    expect(finalReadBrokers(brokers, liveness).map((broker) => broker.name)).toEqual(['b0']);
    expect(liveness).toEqual(['b1 is not running after the heal: no final read from it']);
  });
});

describe('nemesis on a cluster with a spare slot', () => {
  it('acts on the k-th member, skipping the spare, and never starts the spare at the heal', async () => {
    const brokers = [0, 1, 2, 3].map((index) => fakeBroker(`b${index}`, { running: index !== 1, startable: true }));
    const kill: FaultStep = { atMs: 0, gapMs: 0, kind: 'kill', targets: [1], durationMs: 1 };
    const timeline: TimelineEntry[] = [];
    const slots = { brokers, mesh: undefined as never, spare: brokers[1] };
    const nemesis = new Nemesis({ schedule: scheduleOf([kill]), brokers, slots, startedAtMs: Date.now(), timeline, aborted: () => false });
    await nemesis.run();
    expect(brokers.map((broker) => broker.kills)).toEqual([0, 0, 1, 0]);
    expect(timeline[0]).toMatchObject({ kind: 'kill', phase: 'start', targets: ['b2'] });
    await nemesis.heal();
    expect(brokers[1]!.running).toBe(false);
  });

  it('skips a member replacement while a member is down', async () => {
    const brokers = [0, 1, 2, 3].map((index) => fakeBroker(`b${index}`, { running: index !== 3 && index !== 0, startable: false }));
    const replace: FaultStep = { atMs: 0, gapMs: 0, kind: 'member-replace', targets: [2], durationMs: 1 };
    const timeline: TimelineEntry[] = [];
    const nemesis = new Nemesis({ schedule: scheduleOf([replace]), brokers, slots: { brokers, mesh: undefined as never, spare: brokers[3] }, startedAtMs: Date.now(), timeline, aborted: () => false });
    await nemesis.run();
    expect(nemesis.executed).toEqual({});
    expect(timeline).toMatchObject([{ kind: 'member-replace', phase: 'skipped', detail: 'b0 not running: a membership change waits for every member' }]);
  });
});

