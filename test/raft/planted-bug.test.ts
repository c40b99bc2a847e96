// Proves the checkers can fail: with a known defect planted behind a test-only
// flag, an ordinary seed campaign (the same fault mixes CI runs) must report a
// violation, and the failing seed must replay to the same violation.

import { describe, expect, it } from 'vitest';
import { runCampaign } from './sim/campaign.js';
import { runSimulation } from './sim/world.js';

describe('planted bugs are caught by the simulator', () => {
  it('finds the Figure 8 bug: committing an earlier term\'s entry by counting replicas', () => {
    const summary = runCampaign({ fromSeed: 1, seeds: 2000, timeBudgetMs: 60_000, plantedBugs: { commitPreviousTerm: true }, stopOnFailure: true });
    const failure = summary.failed[0];
    expect(failure, `no violation in ${summary.seedsRun} seeds`).toBeDefined();
    expect(failure?.violation).toMatch(/leader completeness|state machine safety|linearizability|AssertionError/);
    const replay = runSimulation({ seed: failure?.seed ?? 0, plantedBugs: { commitPreviousTerm: true } });
    expect(replay.violation).toBe(failure?.violation);
    // The same seeds are clean without the bug: the violation is the bug's, not the simulator's.
    expect(runSimulation({ seed: failure?.seed ?? 0 }).ok).toBe(true);
  }, 120_000);

  it('finds the persistence rule broken: votes and acknowledgements sent before they are durable', () => {
    const summary = runCampaign({ fromSeed: 1, seeds: 1000, timeBudgetMs: 60_000, plantedBugs: { sendBeforePersist: true }, stopOnFailure: true });
    expect(summary.failed[0]?.violation).toMatch(/election safety|leader completeness|state machine safety|linearizability|AssertionError/);
  }, 120_000);

  it('finds votes granted without the up-to-date log check', () => {
    const summary = runCampaign({ fromSeed: 1, seeds: 500, timeBudgetMs: 60_000, plantedBugs: { voteWithoutLogCheck: true }, stopOnFailure: true });
    expect(summary.failed[0]?.violation).toMatch(/leader completeness|state machine safety|linearizability|AssertionError/);
  }, 120_000);
});
