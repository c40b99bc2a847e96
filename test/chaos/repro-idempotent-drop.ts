// Minimal repro of chaos seed 200 (3 brokers, no kills, 2026-12-02): an
// idempotent HTTP producer (Flo-Producer-Id + Flo-Producer-Sequence, every
// unknown outcome sent again with the same sequence) gets some of its events
// stored twice, at consecutive offsets, on every broker, while the peer
// connections of a partition leader are reset mid-frame (link-drop). Here: the
// producers' broker's link to the leader is reset every few KiB while the
// leader's link to the third broker is slow, so a commit takes a while.
// `npx tsx test/chaos/repro-idempotent-drop.ts [--dist DIR] [--seconds S] [--drop-bytes B] [--delay-ms D]`:
// exits 1 when an event is stored twice (the bug), 0 otherwise.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { BrokerProcess } from './brokers.js';
import { snapshotCli } from './brokers.js';
import { ChaosCluster } from './cluster.js';
import { appendOverHttp, readEverything, type Outcome } from './workload.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Attempted {
  value: string;
  attempts: string[];
}

/** One producer, one request at a time; an unknown outcome is retried with the same sequence (at most 40 times). */
async function producer(url: string, producerId: number, until: number, log: Attempted[]): Promise<void> {
  for (let sequence = 0; Date.now() < until; sequence++) {
    const value = `p${producerId}:${sequence}`;
    const entry: Attempted = { value, attempts: [] };
    log.push(entry);
    let outcome: Outcome;
    let attempt = 0;
    do {
      outcome = await appendOverHttp(url, `/repro/n${sequence % 8}`, value, 5_000, { id: producerId, sequence });
      entry.attempts.push(outcome.type === 'ok' ? `ok ${outcome.id}` : `${outcome.type} ${outcome.error}`);
      if (outcome.type !== 'ok') await sleep(100);
    } while (outcome.type === 'info' && ++attempt < 40);
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { dist: { type: 'string' }, seconds: { type: 'string', default: '20' }, 'drop-bytes': { type: 'string', default: '8192' }, 'delay-ms': { type: 'string', default: '200' }, keep: { type: 'boolean', default: false } } });
  const dir = await mkdtemp(join(tmpdir(), 'flo-idempotent-drop-'));
  const cliPath = await snapshotCli(join(process.cwd(), '.tmp', 'chaos', 'dist-snapshots', `repro-${Date.now()}`), values.dist);
  const started: BrokerProcess[] = [];
  let cluster: ChaosCluster | undefined;
  try {
    cluster = await ChaosCluster.start({ brokers: 3, dir, cliPath }, started);
    const leaders = (await cluster.view(cluster.brokers[0]!))!.partitions.map((p) => p.leader);
    const leader = ['1', '2', '3'].sort((a, b) => leaders.filter((l) => l === b).length - leaders.filter((l) => l === a).length)[0]!;
    const leaderIndex = Number(leader) - 1;
    const followerIndex = (leaderIndex + 1) % 3;
    const otherIndex = (leaderIndex + 2) % 3;
    const follower = cluster.brokers[followerIndex]!;
    console.log(`leader of most partitions: node ${leader}; producers write through ${follower.name}, whose link to the leader is reset after ${values['drop-bytes']} bytes while the leader's link to the third broker is delayed ${values['delay-ms']} ms (commits wait on it), 3 s on, 1 s off`);
    const until = Date.now() + Number(values.seconds) * 1_000;
    const log: Attempted[] = [];
    const producers = [101, 102, 103, 104].map((id) => producer(follower.url, id, until, log));
    while (Date.now() < until) {
      for (const link of [cluster.mesh.link(followerIndex, leaderIndex), cluster.mesh.link(leaderIndex, followerIndex)]) link.dropAfter(Number(values['drop-bytes']));
      for (const link of [cluster.mesh.link(otherIndex, leaderIndex), cluster.mesh.link(leaderIndex, otherIndex)]) link.delay(Number(values['delay-ms']));
      await sleep(3_000);
      cluster.mesh.heal();
      await sleep(1_000);
    }
    await Promise.all(producers);
    await cluster.waitAgreed(30_000);
    const events = await readEverything(follower.url, '/repro/**', 10_000);
    const ids = new Map<string, string[]>();
    for (const event of events) ids.set(event.value, [...(ids.get(event.value) ?? []), event.id]);
    const twice = [...ids].filter(([, at]) => at.length > 1);
    console.log(`${log.length} appends, ${log.filter((entry) => entry.attempts.length > 1).length} retried, ${events.length} events stored, ${twice.length} stored twice`);
    for (const [value, at] of twice.slice(0, 10)) console.log(`  ${value} at ${at.join(', ')}; attempts: ${log.find((entry) => entry.value === value)?.attempts.join(' | ')}`);
    return twice.length > 0 ? 1 : 0;
  } finally {
    for (const broker of started) await broker.stop();
    await cluster?.close();
    if (!values.keep) await rm(dir, { recursive: true, force: true });
  }
}

main().then((code) => (process.exitCode = code), (error: unknown) => {
  console.error(error);
  process.exitCode = 2;
});
