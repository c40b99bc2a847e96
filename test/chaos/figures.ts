// `npx tsx test/chaos/figures.ts RUN_DIR…`: the figures of finished chaos runs,
// from their folders alone (verdict.json, timeline.jsonl, the history): faults
// carried out by kind, acknowledged and unknown appends, anomalies, and the
// write outages: the longest time without an acknowledgement in the whole
// cluster, and in one namespace (one partition), each with the fault it
// started under (or after, within 5 s), so a leader kill and a partition heal
// can be told apart; and per fault kind, the longest write outage in one
// namespace across a kill (the moment the broker died) and across the heal of a
// partition (the moment its links came back), with how much of it came after.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CampaignFigures } from './campaign.js';
import { parseJsonLines, type AppendOp } from './history.js';
import type { TimelineEntry } from './nemesis.js';

interface Outage {
  ms: number;
  atMs: number;
  namespace?: string;
  during: string;
}

/** Faults whose window (start, end + 5 s) holds `atMs`: what an outage starting then came from. */
function faultAt(timeline: readonly TimelineEntry[], atMs: number): string {
  const open = new Map<string, TimelineEntry>();
  const hits: string[] = [];
  for (const entry of timeline) {
    const key = `${entry.kind}:${entry.targets.join(',')}`;
    if (entry.phase === 'start') open.set(key, entry);
    if (entry.phase !== 'end') continue;
    const start = open.get(key);
    open.delete(key);
    if (start && entry.kind !== 'run' && entry.kind !== 'heal' && start.timeMs - 500 <= atMs && atMs <= entry.timeMs + 5_000) hits.push(`${entry.kind} ${entry.targets.join(',')}`);
  }
  return hits.join(' + ') || 'no fault';
}

function longestGap(ops: readonly AppendOp[]): { ms: number; atMs: number } {
  let last: number | undefined;
  let best = { ms: 0, atMs: 0 };
  for (const op of ops) {
    if (op.type !== 'ok') continue;
    if (last !== undefined && op.timeMs - last > best.ms) best = { ms: op.timeMs - last, atMs: last };
    last = op.timeMs;
  }
  return best;
}

/** A write outage in one namespace that spans one fault moment (a kill, a heal). */
export interface OutageAcross {
  /** From the namespace's last acknowledgement before the moment to its first after it. */
  ms: number;
  /** Of that, after the moment: how long writes took to come back once the broker died / the links healed. */
  afterMs: number;
  namespace: string;
  /** The fault: kind, targets and the moment (ms into the run). */
  fault: string;
}

/**
 * For each fault the timeline carried out whose kind matches, its moment — the kill itself
 * (`start`) or the heal (`end`) — and in every namespace that acknowledged something after it,
 * the outage spanning it; the longest such outage, or undefined without any.
 */
export function longestOutageAcross(history: readonly AppendOp[], timeline: readonly TimelineEntry[], kind: (kind: string) => boolean, moment: 'start' | 'end'): OutageAcross | undefined {
  const acks = new Map<string, number[]>();
  for (const op of history) {
    if (op.type !== 'ok') continue;
    let times = acks.get(op.namespace);
    if (!times) acks.set(op.namespace, (times = []));
    times.push(op.timeMs);
  }
  for (const times of acks.values()) times.sort((a, b) => a - b);
  let best: OutageAcross | undefined;
  for (const entry of timeline) {
    if (entry.phase !== moment || !kind(entry.kind)) continue;
    const atMs = entry.timeMs;
    for (const [namespace, times] of acks) {
      // First acknowledgement after the moment (binary search); the one before it is the last before.
      let low = 0;
      let high = times.length;
      while (low < high) {
        const middle = (low + high) >>> 1;
        if (times[middle]! <= atMs) low = middle + 1;
        else high = middle;
      }
      if (low === times.length) continue;
      const before = low === 0 ? 0 : times[low - 1]!;
      const ms = times[low]! - before;
      if (!best || ms > best.ms) best = { ms, afterMs: times[low]! - atMs, namespace, fault: `${entry.kind} ${entry.targets.join(',')} at ${atMs} ms` };
    }
  }
  return best;
}

export async function runFigures(dir: string): Promise<{ figures: CampaignFigures; valid: boolean; cluster: Outage; namespace: Outage; subscriptions: number; afterKill?: OutageAcross; afterPartitionHeal?: OutageAcross }> {
  const verdict = JSON.parse(await readFile(join(dir, 'verdict.json'), 'utf8')) as { valid: boolean; figures: CampaignFigures };
  const timeline = parseJsonLines<TimelineEntry>(await readFile(join(dir, 'timeline.jsonl'), 'utf8'));
  const history = parseJsonLines<AppendOp>(await readFile(join(dir, 'cluster', 'history.jsonl'), 'utf8'));
  const whole = longestGap(history);
  const byNamespace = new Map<string, AppendOp[]>();
  for (const op of history) {
    let list = byNamespace.get(op.namespace);
    if (!list) byNamespace.set(op.namespace, (list = []));
    list.push(op);
  }
  let namespace: Outage = { ms: 0, atMs: 0, during: '' };
  for (const [name, ops] of byNamespace) {
    const gap = longestGap(ops);
    if (gap.ms > namespace.ms) namespace = { ...gap, namespace: name, during: '' };
  }
  namespace.during = faultAt(timeline, namespace.atMs);
  // One record per (re)start of a live subscriber: more than one per subscriber means it had to start over.
  const subscriptions = (JSON.parse(await readFile(join(dir, 'cluster', 'subscriptions.json'), 'utf8')) as unknown[]).length;
  const afterKill = longestOutageAcross(history, timeline, (kind) => kind === 'kill', 'start');
  const afterPartitionHeal = longestOutageAcross(history, timeline, (kind) => kind.startsWith('partition-'), 'end');
  return { figures: verdict.figures, valid: verdict.valid, cluster: { ...whole, during: faultAt(timeline, whole.atMs) }, namespace, subscriptions, afterKill, afterPartitionHeal };
}

async function main(): Promise<void> {
  for (const dir of process.argv.slice(2)) {
    const { figures, valid, cluster, namespace, subscriptions, afterKill, afterPartitionHeal } = await runFigures(dir);
    const across = (outage: OutageAcross | undefined): string => outage ? `${outage.ms} ms in ${outage.namespace}, ${outage.afterMs} ms of it after (${outage.fault})` : 'none';
    const anomalies = Object.entries(figures.anomalies).filter(([, count]) => count > 0).map(([kind, count]) => `${kind} ${count}`).join(', ') || 'none';
    console.log(JSON.stringify({
      dir, seed: figures.seed, minutes: figures.minutes, valid, faults: figures.faults, acknowledged: figures.acknowledged, unknown: figures.unknown, unseen: figures.unseen,
      failed: figures.failed, delivered: figures.delivered, pointReads: figures.pointReads, anomalies, idempotent: figures.idempotent,
      refusedRestarts: figures.refusedRestarts.length, liveness: figures.liveness.length, subscriptionRecords: subscriptions,
      longestClusterOutage: `${cluster.ms} ms at ${cluster.atMs} ms (${cluster.during})`,
      longestNamespaceOutage: `${namespace.ms} ms in ${namespace.namespace} at ${namespace.atMs} ms (${namespace.during})`,
      longestOutageAcrossKill: across(afterKill),
      longestOutageAcrossPartitionHeal: across(afterPartitionHeal),
    }));
  }
}

if (process.argv[1]?.endsWith('figures.ts')) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 2;
  });
}
