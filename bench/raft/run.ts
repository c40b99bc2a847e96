// `npm run bench:raft`: Flo's Raft (three RaftNode processes over loopback TCP,
// LevelDB with fsync before ack) against a 3-member etcd cluster, both driven by
// a closed loop of 256-byte proposals with up to 1,000 in flight. Prints one table
// (median run of each system by throughput) and the CPU of every process.
// Options: --seconds S (measured window, default 10), --warmup S (default 3),
// --runs N (default 3), --inflight N (default 1000), --size B (default 256),
// --no-etcd, --etcd-binary PATH.

import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { runEtcd } from './etcd.js';
import { runFlo, type LoadOptions, type RunResult } from './flo.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const load: LoadOptions = {
  warmupSeconds: Number(arg('warmup', '3')),
  seconds: Number(arg('seconds', '10')),
  inflight: Number(arg('inflight', '1000')),
  size: Number(arg('size', '256')),
};
const runs = Number(arg('runs', '3'));
const etcdBinary = arg('etcd-binary', 'etcd');

function hasEtcd(): boolean {
  try {
    execFileSync(etcdBinary, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const allRuns = new Map<string, number[]>();

async function median(system: string, run: () => Promise<RunResult>): Promise<RunResult> {
  const results: RunResult[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await run();
    console.error(`${system} run ${i + 1}/${runs}: ${Math.round(r.entriesPerSecond)} /s, p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms, errors ${r.errors}`);
    results.push(r);
  }
  results.sort((a, b) => a.entriesPerSecond - b.entriesPerSecond);
  const middle = results[Math.floor(results.length / 2)] as RunResult;
  allRuns.set(middle.system, results.map((r) => Math.round(r.entriesPerSecond / 1000)));
  return middle;
}

const results: RunResult[] = [await median('flo', () => runFlo(load))];
if (!process.argv.includes('--no-etcd')) {
  if (hasEtcd()) results.push(await median('etcd', () => runEtcd(load, etcdBinary)));
  else console.error('etcd not found: apt-get install etcd-server (or pass --etcd-binary), skipping the etcd column');
}

const cores = os.cpus();
console.log(`\nRaft benchmark: ${load.size}-byte proposals, ${load.inflight} in flight, fsync before ack, ${load.seconds} s measured after ${load.warmupSeconds} s warm-up, median of ${runs}`);
console.log(`machine: ${cores.length} × ${cores[0]?.model ?? 'cpu'}, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}, Node ${process.version}\n`);
console.log('| system | committed entries/s (median) | all runs (k/s) | p50 ms | p99 ms | CPU per process (cores) |');
console.log('|---|---:|---|---:|---:|---|');
for (const r of results) {
  const cpu = Object.entries(r.cpu).map(([name, cores]) => `${name} ${cores.toFixed(2)}`).join(', ');
  const all = (allRuns.get(r.system) ?? []).join(' / ');
  console.log(`| ${r.system} | ${Math.round(r.entriesPerSecond).toLocaleString('en-US')} | ${all} | ${r.p50Ms.toFixed(1)} | ${r.p99Ms.toFixed(1)} | ${cpu} |`);
}
const flo = results[0];
const etcd = results[1];
if (flo !== undefined && etcd !== undefined && etcd.entriesPerSecond > 0) {
  console.log(`\nFlo / etcd throughput: ${(flo.entriesPerSecond / etcd.entriesPerSecond).toFixed(1)}×`);
}
