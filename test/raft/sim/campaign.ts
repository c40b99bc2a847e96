// A campaign: run consecutive seeds until the count or the time budget runs out,
// collecting every failing seed and aggregate statistics (including the worst
// observed time to recover after the heal).

import type { PartitionPlantedBugs } from '../../../src/broker/partitions/partition-machine.js';
import type { PlantedBugs } from '../../../src/broker/raft/config.js';
import type { FaultProfile } from './profile.js';
import { runSimulation, type SimResult } from './world.js';

export interface CampaignOptions {
  readonly fromSeed: number;
  readonly seeds: number;
  readonly timeBudgetMs: number;
  readonly plantedBugs?: PlantedBugs;
  readonly partitionBugs?: PartitionPlantedBugs;
  /** Pins parts of every seed's fault mix. */
  readonly profile?: Partial<FaultProfile>;
  /** Stop at the first failure (for planted-bug tests). */
  readonly stopOnFailure?: boolean;
  readonly onFailure?: (result: SimResult) => void;
  readonly onProgress?: (done: number) => void;
}

export interface CampaignSummary {
  seedsRun: number;
  failed: { seed: number; violation: string }[];
  wallMs: number;
  maxLivenessTicks: number;
  totals: { events: number; committedEntries: number; writesAcked: number; readsServed: number; crashes: number;
    partitions: number; confChanges: number; transfers: number; snapshotsInstalled: number; leaderTerms: number };
}

export async function runCampaign(options: CampaignOptions): Promise<CampaignSummary> {
  const started = performance.now();
  const summary: CampaignSummary = {
    seedsRun: 0, failed: [], wallMs: 0, maxLivenessTicks: 0,
    totals: { events: 0, committedEntries: 0, writesAcked: 0, readsServed: 0, crashes: 0, partitions: 0, confChanges: 0,
      transfers: 0, snapshotsInstalled: 0, leaderTerms: 0 },
  };
  for (let i = 0; i < options.seeds; i++) {
    if (performance.now() - started > options.timeBudgetMs) break;
    const result = await runSimulation({ seed: options.fromSeed + i, plantedBugs: options.plantedBugs ?? {}, partitionBugs: options.partitionBugs ?? {}, profile: options.profile });
    summary.seedsRun++;
    const t = summary.totals;
    for (const key of Object.keys(t) as (keyof typeof t)[]) t[key] += result.stats[key];
    summary.maxLivenessTicks = Math.max(summary.maxLivenessTicks, result.stats.livenessTicks);
    options.onProgress?.(summary.seedsRun);
    if (!result.ok) {
      summary.failed.push({ seed: result.seed, violation: result.violation ?? '' });
      options.onFailure?.(result);
      if (options.stopOnFailure === true) break;
    }
  }
  summary.wallMs = Math.round(performance.now() - started);
  return summary;
}
