// A run folder: what a chaos run leaves behind, enough to check it again without
// the brokers. history.jsonl (one op per line), final-reads.json,
// subscriptions.json, point-reads.jsonl; the runner adds timeline.jsonl, broker logs and verdict.json.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { check, type Verdict } from './checker.js';
import { parseJsonLines, type AppendOp, type CheckInput, type FinalRead, type PointRead, type SubscriptionRecord } from './history.js';

export const RUN_FILES = {
  history: 'history.jsonl',
  finalReads: 'final-reads.json',
  subscriptions: 'subscriptions.json',
  pointReads: 'point-reads.jsonl',
  timeline: 'timeline.jsonl',
  verdict: 'verdict.json',
} as const;

export async function writeRunArtifacts(dir: string, input: CheckInput): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, RUN_FILES.history), input.history.map((op) => JSON.stringify(op)).join('\n') + '\n');
  await writeFile(join(dir, RUN_FILES.finalReads), JSON.stringify(input.finalReads));
  await writeFile(join(dir, RUN_FILES.subscriptions), JSON.stringify(input.subscriptions));
  await writeFile(join(dir, RUN_FILES.pointReads), (input.pointReads ?? []).map((read) => JSON.stringify(read) + '\n').join(''));
}

export async function readRunArtifacts(dir: string): Promise<CheckInput> {
  return {
    history: parseJsonLines<AppendOp>(await readFile(join(dir, RUN_FILES.history), 'utf8')),
    finalReads: JSON.parse(await readFile(join(dir, RUN_FILES.finalReads), 'utf8')) as FinalRead[],
    subscriptions: JSON.parse(await readFile(join(dir, RUN_FILES.subscriptions), 'utf8')) as SubscriptionRecord[],
    pointReads: parseJsonLines<PointRead>(await readFile(join(dir, RUN_FILES.pointReads), 'utf8').catch(() => '')),
  };
}

/** Checks a run folder from its files alone; the campaign judges every run this way. */
export async function checkRunFolder(dir: string): Promise<Verdict> {
  const verdict = check(await readRunArtifacts(dir));
  await writeFile(join(dir, RUN_FILES.verdict), JSON.stringify(verdict, null, 2) + '\n');
  return verdict;
}
