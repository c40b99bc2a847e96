// Minimal repro of chaos seed 1 (3 brokers, 2026-12-02): a cluster member
// killed -9, restarted, and killed -9 again refuses to start with
// FLO_ERR_STORAGE_CORRUPT "offsets N-1048576 were acknowledged but are missing
// from the store". No network fault is involved.
// `npx tsx test/chaos/repro-double-kill.ts [--dist DIR]`: exits 1 when the
// broker refuses its second restart (the bug), 0 when it comes back.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { BrokerProcess } from './brokers.js';
import { snapshotCli } from './brokers.js';
import { ChaosCluster } from './cluster.js';
import { appendOverHttp } from './workload.js';

async function produce(url: string, count: number, tag: string): Promise<number> {
  let acknowledged = 0;
  for (let n = 0; n < count; n++) if ((await appendOverHttp(url, `/repro/n${n % 8}`, `${tag}:${n}`, 5_000)).type === 'ok') acknowledged++;
  return acknowledged;
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { dist: { type: 'string' }, keep: { type: 'boolean', default: false } } });
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
    console.log(`acknowledged ${await produce(other.url, 100, 'b')} of 100 after the first restart`);
    await victim.kill();
    try {
      await victim.start();
    } catch (error) {
      console.log(`REPRODUCED: the second restart failed: ${(error as Error).message}; data dir ${victim.dataDir}`);
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
