// The short seeded chaos campaign of `npm test`: a real broker process under
// kill -9 + restart and SIGSTOP/SIGCONT while HTTP writers, TypeScript-client
// writers and live subscribers run; then heal, final read, checker. It fails on
// any anomaly or liveness failure, printing the verdict and the replay command.
// (That the checker catches anomalies is proven in checker.test.ts, through
// the same run-folder check this campaign uses.)
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RUN_FILES } from './artifacts.js';
import { runCampaign } from './campaign.js';
import { summarize } from './checker.js';

/** Chosen for its mix: both kill and pause (kpppkkkppkp over 30 s). */
const SEED = 3;

describe('chaos campaign (single broker)', () => {
  it('loses, duplicates and reorders nothing under kill -9 and pauses', async () => {
    const lines: string[] = [];
    const result = await runCampaign({ seed: SEED, durationMs: 30_000, brokers: 1, kinds: ['kill', 'pause'], log: (line) => lines.push(line) });
    const report = [...lines, ...result.verdicts.map((entry) => `${entry.log}: ${summarize(entry.verdict)}`), `replay: ${result.replayCommand}`].join('\n');
    expect(result.valid, report).toBe(true);
    expect(result.figures.faults.kill, report).toBeGreaterThan(0);
    expect(result.figures.faults.pause, report).toBeGreaterThan(0);
    expect(result.figures.acknowledged, report).toBeGreaterThan(100);
    expect(result.figures.delivered, report).toBeGreaterThan(0);
    expect(result.figures.pointReads, report).toBeGreaterThan(0);
    for (const file of [RUN_FILES.timeline, RUN_FILES.verdict, 'run.json', 'logs/b0.log', `b0/${RUN_FILES.history}`, `b0/${RUN_FILES.finalReads}`, `b0/${RUN_FILES.verdict}`]) {
      await access(join(result.dir, file));
    }
  }, 120_000);
});
