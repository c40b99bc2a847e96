// Minimal repro of chaos seed 1 (3 brokers, 2026-12-02): a cluster member
// killed -9, restarted, and killed -9 again refuses to start with
// FLO_ERR_STORAGE_CORRUPT "offsets N-1048576 were acknowledged but are missing
// from the store". No network fault is involved.
// `npx tsx test/chaos/repro-double-kill.ts [--dist DIR] [--clean-stop] [--no-writes] [--recover] [--keep]`: exits 1 when the
// broker refuses its second restart (the bug), 0 when it comes back.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { BrokerProcess } from './brokers.js';
import { snapshotCli } from './brokers.js';
import { ChaosCluster } from './cluster.js';
import { appendOverHttp, readEverything } from './workload.js';

async function produce(url: string, count: number, tag: string): Promise<number> {
  let acknowledged = 0;
  for (let n = 0; n < count; n++) if ((await appendOverHttp(url, `/repro/n${n % 8}`, `${tag}:${n}`, 5_000)).type === 'ok') acknowledged++;
  return acknowledged;
}

/** --recover: start the refused broker with --recover-store, as its message advises, and compare what it serves. */
async function recoverAndCompare(cluster: ChaosCluster, victim: BrokerProcess, other: BrokerProcess): Promise<void> {
  await victim.start(['--recover-store']);
  await cluster.waitAgreed(30_000);
  console.log(`recovered; acknowledged ${await produce(other.url, 100, 'c')} of 100 after it`);
  for (let attempt = 0; attempt < 20; attempt++) {
    const [mine, theirs] = await Promise.all([readEverything(victim.url, '/repro/**', 1_000), readEverything(other.url, '/repro/**', 1_000)]);
    if (mine.length === theirs.length || attempt === 19) {
      const written = (events: typeof mine, tag: string): number => events.filter((event) => event.value.startsWith(`${tag}:`)).length;
      console.log(`after 0.5 s × ${attempt}: ${victim.name} serves ${mine.length} events (${['a', 'b', 'c'].map((tag) => `${tag}: ${written(mine, tag)}`).join(', ')}), ${other.name} ${theirs.length}`);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { dist: { type: 'string' }, keep: { type: 'boolean', default: false }, 'clean-stop': { type: 'boolean', default: false }, 'no-writes': { type: 'boolean', default: false }, recover: { type: 'boolean', default: false } } });
  const dir = await mkdtemp(join(tmpdir(), 'flo-double-kill-'));
  const cliPath = await snapshotCli(join(process.cwd(), '.tmp', 'chaos', 'dist-snapshots', `repro-${Date.now()}`), values.dist);
  const started: BrokerProcess[] = [];
  let cluster: ChaosCluster | undefined;
  try {
    cluster = await ChaosCluster.start({ brokers: 3, dir, cliPath }, started);
    const [victim, other] = cluster.brokers as [BrokerProcess, BrokerProcess];
    console.log(`acknowledged ${await produce(other.url, 100, 'a')} of 100 before the first kill`);
    await victim.kill();
    await victim.start();
    await cluster.waitAgreed(30_000);
    if (!values['no-writes']) console.log(`acknowledged ${await produce(other.url, 100, 'b')} of 100 after the first restart`);
    // --clean-stop: the second stop is a graceful SIGTERM instead of kill -9.
    if (values['clean-stop']) await victim.stop();
    else await victim.kill();
    try {
      await victim.start();
    } catch (error) {
      console.log(`REPRODUCED: the second restart failed: ${(error as Error).message}; data dir ${victim.dataDir}`);
      if (values.recover) await recoverAndCompare(cluster, victim, other);
      return 1;
    }
    console.log('not reproduced: the broker came back after the second kill -9');
    return 0;
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
