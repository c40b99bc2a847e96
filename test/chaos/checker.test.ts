// The checker's self-test: a clean history passes, and each anomaly planted in
// it is caught, alone where the anomaly allows. The last test points the same
// code the campaign uses at a planted-bad run folder on disk, so a campaign
// that met this anomaly would fail.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatEventId, parseEventId } from '../../src/common/ids.js';
import { ANOMALY_KINDS, check, type AnomalyKind, type Verdict } from './checker.js';
import type { AppendOp, CheckInput, ObservedEvent, PointRead } from './history.js';
import { checkRunFolder, writeRunArtifacts } from './artifacts.js';

const NAMESPACES = ['/chaos/a', '/chaos/b', '/chaos/c'];

/**
 * A clean run: 3 processes with 2 appends in flight each, interleaved; the log
 * takes each event when its write completes, so it respects acknowledgement order.
 * Every 7th write's outcome is unknown (half of those stored), one write fails.
 */
function cleanRun(): CheckInput {
  const history: AppendOp[] = [];
  const log: ObservedEvent[] = [];
  const nextOffset = NAMESPACES.map(() => 0);
  const push = (op: Omit<AppendOp, 'index' | 'timeMs' | 'f'>): void => void history.push({ ...op, index: history.length, timeMs: history.length, f: 'append' });
  let written = 0;
  for (let round = 0; round < 20; round++) {
    const open: Array<{ process: string; namespace: string; value: string }> = [];
    for (let p = 0; p < 3; p++) {
      for (let slot = 0; slot < 2; slot++) {
        const write = { process: `p${p}`, namespace: NAMESPACES[(round + p + slot) % NAMESPACES.length]!, value: `v${written++}` };
        open.push(write);
        push({ ...write, type: 'invoke' });
      }
    }
    for (const write of open.reverse()) {
      const n = Number(write.value.slice(1));
      if (n === 5) {
        push({ ...write, type: 'fail', error: 'FLO_ERR_REQUEST_INVALID' });
        continue;
      }
      const partition = NAMESPACES.indexOf(write.namespace);
      const stored = n % 7 !== 3 || n % 2 === 0;
      const id = formatEventId(partition, nextOffset[partition]!);
      if (stored) {
        nextOffset[partition]!++;
        log.push({ id, namespace: write.namespace, value: write.value });
      }
      push(n % 7 === 3 ? { ...write, type: 'info', error: 'FLO_ERR_CONNECTION' } : { ...write, type: 'ok', id });
    }
  }
  const byPartition = [...log].sort((a, b) => a.id.localeCompare(b.id));
  // Point reads of every 10th acknowledged write, each begun right after its ack.
  const pointReads: PointRead[] = history.filter((op) => op.type === 'ok' && Number(op.value.slice(1)) % 10 === 0).map((op) => ({
    process: 'r0', broker: 'b0', id: op.id!, invokedAt: op.index + 1, completedAt: op.index + 1, result: 'found', got: { namespace: op.namespace, value: op.value },
  }));
  return {
    history,
    finalReads: [{ broker: 'b0', events: byPartition }],
    subscriptions: [{ subscriber: 's0', broker: 'b0', fromEarliest: true, deliveries: [...log] }],
    pointReads,
  };
}

function only(verdict: Verdict, kind: AnomalyKind): void {
  expect(verdict.valid).toBe(false);
  const found = ANOMALY_KINDS.filter((k) => verdict.counts[k] > 0);
  expect(found).toEqual([kind]);
}

function caught(verdict: Verdict, kind: AnomalyKind): void {
  expect(verdict.valid).toBe(false);
  expect(verdict.counts[kind]).toBeGreaterThan(0);
}

function okOps(run: CheckInput, namespace: string): AppendOp[] {
  return run.history.filter((op) => op.type === 'ok' && op.namespace === namespace);
}

function readEvent(run: CheckInput, value: string): ObservedEvent {
  return run.finalReads[0]!.events.find((event) => event.value === value)!;
}

describe('chaos checker', () => {
  it('passes a clean history, counting unknown outcomes seen and unseen', () => {
    const verdict = check(cleanRun());
    expect(verdict.examples).toEqual([]);
    expect(verdict.valid).toBe(true);
    expect(verdict.stats).toMatchObject({ invoked: 120, failed: 1, unknown: 17, unknownSeen: 8, unseen: 9, incomplete: 0 });
    expect(verdict.stats.acknowledged).toBe(120 - 1 - 17);
    expect(verdict.stats.pointReads).toBeGreaterThan(5);
  });

  it('catches a lost write: acknowledged, missing from the final read', () => {
    const run = cleanRun();
    const victim = okOps(run, '/chaos/a').at(-1)!;
    run.finalReads[0]!.events.splice(run.finalReads[0]!.events.indexOf(readEvent(run, victim.value)), 1);
    run.subscriptions[0]!.deliveries = run.subscriptions[0]!.deliveries.filter((event) => event.value !== victim.value);
    only(check(run), 'lost-write');
  });

  it('catches a duplicate: one value stored again at a second id', () => {
    const run = cleanRun();
    const victim = readEvent(run, okOps(run, '/chaos/b')[0]!.value);
    const last = run.finalReads[0]!.events.filter((event) => event.namespace === '/chaos/b').at(-1)!;
    const { partition, offset } = parseEventId(last.id);
    run.finalReads[0]!.events.splice(run.finalReads[0]!.events.indexOf(last) + 1, 0, { ...victim, id: formatEventId(partition, offset + 1) });
    run.subscriptions[0]!.deliveries = [];
    only(check(run), 'duplicate');
  });

  it('catches a value read twice at the same id', () => {
    const run = cleanRun();
    run.subscriptions[0]!.deliveries = [];
    run.finalReads[0]!.events.push(run.finalReads[0]!.events.at(-1)!);
    caught(check(run), 'duplicate');
  });

  it('catches an inconsistent offset: the acknowledged id holds another value', () => {
    const run = cleanRun();
    const [first, second] = okOps(run, '/chaos/c');
    second!.id = first!.id;
    caught(check(run), 'inconsistent-offset');
  });

  it('catches a phantom: a value nobody wrote, or one read in another namespace', () => {
    const run = cleanRun();
    run.subscriptions[0]!.deliveries.push({ id: formatEventId(0, 999), namespace: '/chaos/a', value: 'never-written' });
    only(check(run), 'phantom');
    const moved = cleanRun();
    moved.subscriptions[0]!.deliveries = [];
    const event = readEvent(moved, okOps(moved, '/chaos/a')[0]!.value);
    event.namespace = '/chaos/b';
    caught(check(moved), 'phantom');
  });

  it('catches a refused write that was stored anyway', () => {
    const run = cleanRun();
    const refused = run.history.find((op) => op.type === 'fail')!;
    run.finalReads[0]!.events.push({ id: formatEventId(9, 0), namespace: refused.namespace, value: refused.value });
    only(check(run), 'failed-write-read');
  });

  it('catches an order violation: acknowledged first, stored second', () => {
    const run = cleanRun();
    const acked = okOps(run, '/chaos/a');
    // The first and the last of one namespace: rounds apart, so a was acknowledged before b was invoked.
    const a = acked[0]!;
    const b = acked.at(-1)!;
    expect(a.index).toBeLessThan(firstInvoke(run, b.value));
    const eventA = readEvent(run, a.value);
    const eventB = readEvent(run, b.value);
    [eventA.value, eventB.value] = [eventB.value, eventA.value];
    [a.id, b.id] = [b.id, a.id];
    run.subscriptions[0]!.deliveries = [];
    run.pointReads = [];
    only(check(run), 'order-violation');
  });

  it('catches a final read that goes back within a partition', () => {
    const run = cleanRun();
    run.subscriptions[0]!.deliveries = [];
    const events = run.finalReads[0]!.events;
    [events[0], events[1]] = [events[1]!, events[0]!];
    caught(check(run), 'nonmonotonic-read');
  });

  it('catches a subscription that goes back, and one that skips', () => {
    const backwards = cleanRun();
    const deliveries = backwards.subscriptions[0]!.deliveries;
    const later = deliveries.findIndex((event, i) => i > 0 && event.namespace === deliveries[0]!.namespace);
    [deliveries[0], deliveries[later]] = [deliveries[later]!, deliveries[0]!];
    caught(check(backwards), 'nonmonotonic-subscription');

    const skipping = cleanRun();
    const skipped = skipping.subscriptions[0]!.deliveries;
    skipped.splice(skipped.findIndex((event, i) => i > 3 && event.namespace === '/chaos/b'), 1);
    only(check(skipping), 'skipping-subscription');

    const lateStart = cleanRun();
    lateStart.subscriptions[0]!.deliveries.shift();
    only(check(lateStart), 'skipping-subscription');
  });

  it('catches brokers whose final reads of one log diverge', () => {
    const run = cleanRun();
    const unseen = run.history.filter((op) => op.type === 'info').find((op) => !run.finalReads[0]!.events.some((event) => event.value === op.value))!;
    const events = [...run.finalReads[0]!.events, { id: formatEventId(7, 0), namespace: unseen.namespace, value: unseen.value }];
    run.finalReads = [...run.finalReads, { broker: 'b1', events }];
    only(check(run), 'divergence');
  });

  it('catches a stale read: an id acknowledged before the read began, not found', () => {
    const run = cleanRun();
    const reads = run.pointReads as PointRead[];
    reads[0] = { ...reads[0]!, result: 'missing', got: undefined };
    only(check(run), 'stale-read');
    // Not found by a read that began before the ack: no claim was broken.
    reads[0] = { ...reads[0]!, invokedAt: 0, completedAt: 0 };
    expect(check(run).valid).toBe(true);
  });

  it('catches a point read that finds another value at an acknowledged id', () => {
    const run = cleanRun();
    const reads = run.pointReads as PointRead[];
    reads[0] = { ...reads[0]!, got: { ...reads[1]!.got! } };
    caught(check(run), 'inconsistent-offset');
  });

  it('reports a planted-bad run folder as invalid, through the code the campaign uses', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flo-chaos-check-'));
    try {
      const good = cleanRun();
      await writeRunArtifacts(dir, good);
      expect((await checkRunFolder(dir)).valid).toBe(true);
      const bad = cleanRun();
      bad.finalReads[0]!.events.pop();
      await writeRunArtifacts(dir, bad);
      const verdict = await checkRunFolder(dir);
      expect(verdict.valid).toBe(false);
      expect(verdict.counts['lost-write']).toBe(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

function firstInvoke(run: CheckInput, value: string): number {
  return run.history.find((op) => op.type === 'invoke' && op.value === value)!.index;
}
