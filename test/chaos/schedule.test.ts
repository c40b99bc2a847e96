// The nemesis schedule is a pure function of its seed: the same seed replays
// the same faults, other seeds choose other mixes, and every step fits the run
// and the topology.
import { describe, expect, it } from 'vitest';
import { availableKinds, buildSchedule, FAULT_KINDS, type Topology } from './schedule.js';

const single: Topology = { brokers: 1, replicated: false };
const cluster: Topology = { brokers: 5, replicated: true, loseUnsyncedHook: true, spareSlot: true };

describe('nemesis schedule', () => {
  it('gives the same schedule for the same seed', () => {
    const options = { seed: 4242, durationMs: 120_000, topology: cluster };
    expect(buildSchedule(options)).toEqual(buildSchedule(options));
  });

  it('gives different mixes for different seeds', () => {
    const mixes = new Set<string>();
    const kindSets = new Set<string>();
    for (let seed = 1; seed <= 20; seed++) {
      const schedule = buildSchedule({ seed, durationMs: 120_000, topology: cluster });
      mixes.add(JSON.stringify(schedule.mix));
      kindSets.add([...new Set(schedule.steps.map((step) => step.kind))].sort().join(','));
    }
    expect(mixes.size).toBeGreaterThan(15);
    expect(kindSets.size).toBeGreaterThan(5);
  });

  it('uses every fault kind across seeds on a cluster, and only kill and pause on a single broker', () => {
    const used = new Set<string>();
    for (let seed = 1; seed <= 50; seed++) for (const step of buildSchedule({ seed, durationMs: 120_000, topology: cluster }).steps) used.add(step.kind);
    expect([...used].sort()).toEqual([...FAULT_KINDS].sort());
    expect(availableKinds(single)).toEqual(['kill', 'pause']);
    for (let seed = 1; seed <= 20; seed++) {
      for (const step of buildSchedule({ seed, durationMs: 60_000, topology: single }).steps) {
        expect(['kill', 'pause']).toContain(step.kind);
        expect(step.targets).toEqual([0]);
      }
    }
  });

  it('runs faults one at a time inside the run and leaves a quiet tail', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const schedule = buildSchedule({ seed, durationMs: 60_000, topology: cluster, quietTailMs: 10_000 });
      let freeAtMs = 0;
      for (const step of schedule.steps) {
        expect(step.atMs).toBeGreaterThanOrEqual(freeAtMs);
        freeAtMs = step.atMs + step.durationMs;
        expect(step.targets.every((target) => target >= 0 && target < cluster.brokers)).toBe(true);
      }
      expect(freeAtMs).toBeLessThanOrEqual(50_000);
    }
  });

  it('cuts the links each partition kind promises', () => {
    const seen = new Map<string, Array<[number, number]>>();
    for (let seed = 1; seed <= 60; seed++) {
      for (const step of buildSchedule({ seed, durationMs: 120_000, topology: cluster }).steps) {
        if (step.cuts && !seen.has(step.kind)) seen.set(step.kind, step.cuts);
      }
    }
    const reach = (cuts: Array<[number, number]>, from: number, to: number): boolean => !cuts.some(([a, b]) => a === from && b === to);
    const isolate = seen.get('partition-isolate')!;
    expect(isolate).toHaveLength(2 * 4); // one broker, both ways, to four others
    const halves = seen.get('partition-halves')!;
    expect(halves).toHaveLength(2 * 2 * 3); // 2 against 3, both ways
    const bridge = seen.get('partition-bridge')!;
    const cutOff = new Set(bridge.flat());
    const middle = [0, 1, 2, 3, 4].filter((broker) => !cutOff.has(broker));
    expect(middle).toHaveLength(1);
    for (const other of cutOff) expect(reach(bridge, middle[0]!, other) && reach(bridge, other, middle[0]!)).toBe(true);
    const oneWay = seen.get('partition-one-way')!;
    for (const [from, to] of oneWay) expect(reach(oneWay, to, from)).toBe(true);
  });

  it('keeps to the kinds it is given', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const schedule = buildSchedule({ seed, durationMs: 60_000, topology: cluster, kinds: ['pause'] });
      expect(schedule.steps.length).toBeGreaterThan(0);
      expect(schedule.steps.every((step) => step.kind === 'pause')).toBe(true);
    }
  });
});
