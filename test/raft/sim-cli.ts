// `npm run sim -- --seed S` replays one seed exactly and prints its fault profile
// and statistics; `npm run sim -- --seeds N [--from F]` runs a campaign and prints
// every failing seed. `--bug commit-previous-term|vote-without-log-check|send-before-persist|snapshot-without-dedup`
// plants a known defect (to watch the checkers catch it). Exit code 1 when any seed fails.

import { runCampaign } from './sim/campaign.js';
import { runSimulation } from './sim/world.js';
import type { PlantedBugs } from '../../src/broker/raft/config.js';
import type { PartitionPlantedBugs } from '../../src/broker/partitions/partition-machine.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function plantedBugs(): PlantedBugs & { partition?: PartitionPlantedBugs } {
  switch (arg('bug')) {
    case undefined:
      return {};
    case 'snapshot-without-dedup':
      return { partition: { snapshotWithoutDedup: true } };
    case 'commit-previous-term':
      return { commitPreviousTerm: true };
    case 'vote-without-log-check':
      return { voteWithoutLogCheck: true };
    case 'send-before-persist':
      return { sendBeforePersist: true };
    default:
      throw new Error(`unknown --bug ${arg('bug')}`);
  }
}

const seed = arg('seed');
const { partition: partitionBugs, ...bugs } = plantedBugs();
if (seed !== undefined) {
  const result = await runSimulation({ seed: Number(seed), plantedBugs: bugs, partitionBugs });
  console.log(JSON.stringify({ seed: result.seed, ok: result.ok, profile: result.profile, stats: result.stats }, null, 2));
  if (!result.ok) {
    console.log(`FAILED seed ${result.seed}: ${result.violation}`);
    process.exitCode = 1;
  }
} else {
  const seeds = Number(arg('seeds') ?? '1000');
  const from = Number(arg('from') ?? '1');
  const seconds = arg('seconds');
  const summary = await runCampaign({
    fromSeed: from,
    seeds,
    timeBudgetMs: seconds === undefined ? Number.POSITIVE_INFINITY : Number(seconds) * 1000,
    plantedBugs: bugs,
    partitionBugs,
    onFailure: (r) => console.log(`FAILED seed ${r.seed}: ${r.violation?.split('\n')[0]}  (replay: npm run sim -- --seed ${r.seed})`),
    onProgress: (done) => {
      if (done % 1000 === 0) console.log(`... ${done} seeds`);
    },
  });
  console.log(JSON.stringify(summary, null, 2));
  if (summary.failed.length > 0) process.exitCode = 1;
}
