// The fault mix of one simulation run, derived from its seed: every seed explores
// a different corner (lossy vs clean network, frequent crashes vs partitions, tiny
// messages, aggressive snapshots). Printed with a failure so it can be understood.

import type { SeededRandom } from '../../../src/broker/raft/random.js';

export interface FaultProfile {
  readonly voters: 3 | 5;
  readonly lossRate: number;
  readonly dupRate: number;
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
  /** Mean gap between partition changes (0: never partition). */
  readonly partitionGapMs: number;
  readonly crashGapMs: number;
  readonly maxDownMs: number;
  readonly fsyncMaxMs: number;
  /** Applied entries between snapshots (0: never snapshot). */
  readonly snapshotEvery: number;
  readonly keepEntriesAfterSnapshot: number;
  readonly confChangeGapMs: number;
  readonly transferGapMs: number;
  readonly maxMessageBytes: number;
  readonly maxInflightMessages: number;
  readonly clientThinkMs: number;
  readonly readRatio: number;
  readonly safetyMs: number;
  /** Chance that a newly elected leader is cut off from all but at most one peer shortly after winning. */
  readonly isolateNewLeaderChance: number;
  /** Each node's tick period differs from TICK_MS by up to this much (clocks run at different rates). */
  readonly clockSkewMs: number;
}

function pick<T>(rng: SeededRandom, options: readonly T[]): T {
  return options[rng.nextInt(options.length)] as T;
}

/**
 * The leader-hunting mix: a fast network where most new leaders are cut off within
 * a few milliseconds of winning, one entry per message. It leaves logs of many
 * terms half-replicated: the ground where commit-rule bugs (Figure 8) show.
 */
export const LEADER_HUNTING: Partial<FaultProfile> = {
  voters: 5, lossRate: 0, dupRate: 0, minDelayMs: 1, maxDelayMs: 5, maxMessageBytes: 1, isolateNewLeaderChance: 0.9,
  crashGapMs: 0, partitionGapMs: 0, transferGapMs: 0, confChangeGapMs: 0, clientThinkMs: 1, readRatio: 0.2,
};

export function profileFor(rng: SeededRandom): FaultProfile {
  const hunting = rng.chance(0.2);
  const profile = randomProfile(rng);
  return hunting ? { ...profile, ...LEADER_HUNTING } : profile;
}

function randomProfile(rng: SeededRandom): FaultProfile {
  const minDelayMs = pick(rng, [0, 1, 2, 5]);
  return {
    voters: rng.chance(0.5) ? 3 : 5,
    lossRate: pick(rng, [0, 0, 0.01, 0.05, 0.15, 0.3]),
    dupRate: pick(rng, [0, 0, 0.02, 0.1]),
    minDelayMs,
    maxDelayMs: minDelayMs + pick(rng, [1, 5, 15, 40, 120]),
    partitionGapMs: pick(rng, [0, 40, 150, 400, 1000]),
    crashGapMs: pick(rng, [0, 100, 200, 500, 1500]),
    maxDownMs: pick(rng, [50, 300, 1000]),
    fsyncMaxMs: pick(rng, [0, 1, 3, 10]),
    snapshotEvery: pick(rng, [0, 5, 20, 80]),
    keepEntriesAfterSnapshot: pick(rng, [0, 2, 10]),
    confChangeGapMs: pick(rng, [0, 0, 200, 600]),
    transferGapMs: pick(rng, [0, 60, 300, 1000]),
    maxMessageBytes: pick(rng, [1, 64, 1024 * 1024]),
    maxInflightMessages: pick(rng, [1, 4, 256]),
    clientThinkMs: pick(rng, [1, 5, 20]),
    readRatio: pick(rng, [0.2, 0.5]),
    safetyMs: pick(rng, [1500, 3000, 5000]),
    isolateNewLeaderChance: pick(rng, [0, 0.3, 0.7]),
    clockSkewMs: pick(rng, [0, 0, 1, 3]),
  };
}
