// `npm run chaos -- --minutes M --brokers N --seed S [--kinds kill,pause] [--runs R] [--root DIR] [--independent] [--dist DIR]`:
// long chaos campaigns against real brokers (docs/chaos.md); N > 1 brokers form
// one cluster unless --independent. Without --seed a
// seed is drawn and printed; --runs R runs R seeds in a row (S, S+1, …). Exits
// non-zero if any run finds an anomaly, printing the command that replays it.
import { randomInt } from 'node:crypto';
import { parseArgs } from 'node:util';
import { defaultKinds, runCampaign, topologyOf, type CampaignFigures } from './campaign.js';
import { FAULT_KINDS, type FaultKind } from './schedule.js';

function parseOptions(): { minutes: number; brokers: number; seed: number; runs: number; kinds?: FaultKind[]; root?: string; independent: boolean; distDir?: string } {
  const { values } = parseArgs({
    options: {
      minutes: { type: 'string', default: '1' },
      brokers: { type: 'string', default: '1' },
      seed: { type: 'string' },
      runs: { type: 'string', default: '1' },
      kinds: { type: 'string' },
      root: { type: 'string' },
      independent: { type: 'boolean', default: false },
      dist: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`Usage: npm run chaos -- [options]

Long chaos campaigns against real Flo brokers on loopback (docs/chaos.md).

Options:
  --minutes <m>    length of each run (default 1)
  --brokers <n>    brokers; more than 1 form one cluster unless --independent (default 1)
  --seed <s>       seed of the first run (default: drawn and printed)
  --runs <r>       runs in a row, seeds s, s+1, ... (default 1)
  --kinds <list>   fault kinds, comma-separated (${FAULT_KINDS.join(', ')})
  --root <dir>     where run folders (histories, logs) are kept
  --independent    separate single brokers instead of one cluster
  --dist <dir>     run the brokers from this build instead of ./dist
  -h, --help       print this help
`);
    process.exit(0);
  }
  const minutes = Number(values.minutes);
  const brokers = Number(values.brokers);
  const runs = Number(values.runs);
  if (!(minutes > 0 && minutes <= 24 * 60)) throw new Error('--minutes must be in (0, 1440]');
  if (!Number.isInteger(brokers) || brokers < 1 || brokers > 9) throw new Error('--brokers must be 1 to 9');
  if (!Number.isInteger(runs) || runs < 1 || runs > 1000) throw new Error('--runs must be 1 to 1000');
  const seed = values.seed === undefined ? randomInt(1, 2 ** 31) : Number(values.seed);
  if (!Number.isInteger(seed)) throw new Error('--seed must be an integer');
  const kinds = values.kinds?.split(',').map((kind) => kind.trim()) as FaultKind[] | undefined;
  for (const kind of kinds ?? []) if (!FAULT_KINDS.includes(kind)) throw new Error(`unknown fault kind ${kind}; known: ${FAULT_KINDS.join(', ')}`);
  return { minutes, brokers, seed, runs, kinds, root: values.root, independent: values.independent ?? false, distDir: values.dist ?? process.env.FLO_CHAOS_DIST };
}

async function main(): Promise<void> {
  const options = parseOptions();
  const topology = topologyOf(options);
  console.log(`chaos: ${options.brokers} broker(s), ${topology.replicated ? 'one cluster' : 'independent'}; faults ${(options.kinds ?? defaultKinds(topology)).join(', ')}`);
  const all: CampaignFigures[] = [];
  let failures = 0;
  for (let run = 0; run < options.runs; run++) {
    const seed = options.seed + run;
    const result = await runCampaign({ seed, durationMs: Math.round(options.minutes * 60_000), brokers: options.brokers, independent: options.independent, distDir: options.distDir, kinds: options.kinds, root: options.root, log: (line) => console.log(line) });
    all.push(result.figures);
    if (!result.valid) failures++;
  }
  if (options.runs > 1) {
    const faults: Partial<Record<FaultKind, number>> = {};
    for (const figures of all) for (const [kind, count] of Object.entries(figures.faults)) faults[kind as FaultKind] = (faults[kind as FaultKind] ?? 0) + count;
    const acknowledged = all.reduce((sum, figures) => sum + figures.acknowledged, 0);
    console.log(`campaign: ${all.length} runs, ${all.length * options.minutes} min, faults ${JSON.stringify(faults)}, ${acknowledged} acknowledged, ${failures} failing run(s)`);
  }
  process.exitCode = failures > 0 ? 1 : 0;
}

main().catch((error: unknown) => {
  console.error(`chaos: ${(error as Error).message}`);
  process.exitCode = 2;
});
