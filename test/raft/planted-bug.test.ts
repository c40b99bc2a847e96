// Proves the checkers can fail: with a known defect planted behind a test-only
// flag (in the Raft core, or in the partition state machine), an ordinary seed campaign (the same fault mixes CI runs) must report a
// violation, and the failing seed must replay to the same violation.

import { describe, expect, it } from 'vitest';
import { runCampaign } from './sim/campaign.js';
import { runSimulation } from './sim/world.js';

describe('planted bugs are caught by the simulator', () => {
  it('finds the Figure 8 bug: committing an earlier term\'s entry by counting replicas', async () => {
    const summary = await runCampaign({ fromSeed: 1, seeds: 2000, timeBudgetMs: 60_000, plantedBugs: { commitPreviousTerm: true }, stopOnFailure: true });
    const failure = summary.failed[0];
    expect(failure, `no violation in ${summary.seedsRun} seeds`).toBeDefined();
    expect(failure?.violation).toMatch(/leader completeness|state machine safety|linearizability|AssertionError/);
    const replay = await runSimulation({ seed: failure?.seed ?? 0, plantedBugs: { commitPreviousTerm: true } });
    expect(replay.violation).toBe(failure?.violation);
    // The same seeds are clean without the bug: the violation is the bug's, not the simulator's.
    expect((await runSimulation({ seed: failure?.seed ?? 0 })).ok).toBe(true);
  }, 120_000);

  it('finds the persistence rule broken: votes and acknowledgements sent before they are durable', async () => {
    const summary = await runCampaign({ fromSeed: 1, seeds: 1000, timeBudgetMs: 60_000, plantedBugs: { sendBeforePersist: true }, stopOnFailure: true });
    // A member that acknowledged entries it then lost may also leave its leader probing it for ever (the event budget runs out).
    expect(summary.failed[0]?.violation).toMatch(/election safety|leader completeness|state machine safety|linearizability|AssertionError|event budget exhausted/);
    const replay = await runSimulation({ seed: summary.failed[0]?.seed ?? 0, plantedBugs: { sendBeforePersist: true } });
    expect(replay.violation).toBe(summary.failed[0]?.violation);
    expect((await runSimulation({ seed: summary.failed[0]?.seed ?? 0 })).ok).toBe(true);
  }, 120_000);

  it('finds votes granted without the up-to-date log check', async () => {
    const summary = await runCampaign({ fromSeed: 1, seeds: 500, timeBudgetMs: 60_000, plantedBugs: { voteWithoutLogCheck: true }, stopOnFailure: true });
    expect(summary.failed[0]?.violation).toMatch(/leader completeness|state machine safety|linearizability|AssertionError/);
  }, 120_000);

  it('finds a partition state machine whose snapshots leave the dedup windows out: a producer\'s retry is stored twice', async () => {
    const partitionBugs = { snapshotWithoutDedup: true };
    const summary = await runCampaign({ fromSeed: 1, seeds: 300, timeBudgetMs: 60_000, partitionBugs, stopOnFailure: true });
    const failure = summary.failed[0];
    expect(failure, `no violation in ${summary.seedsRun} seeds`).toBeDefined();
    expect(failure?.violation).toMatch(/appended twice|linearizability/);
    const replay = await runSimulation({ seed: failure?.seed ?? 0, partitionBugs });
    expect(replay.violation).toBe(failure?.violation);
    expect((await runSimulation({ seed: failure?.seed ?? 0 })).ok).toBe(true);
  }, 120_000);
});
