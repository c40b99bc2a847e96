// `npx tsx test/chaos/figures.ts RUN_DIR…`: the figures of finished chaos runs,
// from their folders alone (verdict.json, timeline.jsonl, the history): faults
// carried out by kind, acknowledged and unknown appends, anomalies, and the
// write outages: the longest time without an acknowledgement in the whole
// cluster, and in one namespace (one partition), each with the fault it
// started under (or after, within 5 s), so a leader kill and a partition heal
// can be told apart.
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

export async function runFigures(dir: string): Promise<{ figures: CampaignFigures; valid: boolean; cluster: Outage; namespace: Outage; subscriptions: number }> {
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
  return { figures: verdict.figures, valid: verdict.valid, cluster: { ...whole, during: faultAt(timeline, whole.atMs) }, namespace, subscriptions };
}

async function main(): Promise<void> {
  for (const dir of process.argv.slice(2)) {
    const { figures, valid, cluster, namespace, subscriptions } = await runFigures(dir);
    const anomalies = Object.entries(figures.anomalies).filter(([, count]) => count > 0).map(([kind, count]) => `${kind} ${count}`).join(', ') || 'none';
    console.log(JSON.stringify({
      dir, seed: figures.seed, minutes: figures.minutes, valid, faults: figures.faults, acknowledged: figures.acknowledged, unknown: figures.unknown, unseen: figures.unseen,
      failed: figures.failed, delivered: figures.delivered, pointReads: figures.pointReads, anomalies, idempotent: figures.idempotent,
      refusedRestarts: figures.refusedRestarts.length, liveness: figures.liveness.length, subscriptionRecords: subscriptions,
      longestClusterOutage: `${cluster.ms} ms at ${cluster.atMs} ms (${cluster.during})`,
      longestNamespaceOutage: `${namespace.ms} ms in ${namespace.namespace} at ${namespace.atMs} ms (${namespace.during})`,
    }));
  }
}

if (process.argv[1]?.endsWith('figures.ts')) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 2;
  });
}
