// Minimal repro of chaos seed 101's stale read (3 brokers, before any fault):
// a broker answered POST /v1/events 201 with an id, and GET /v1/events/{id}
// on that same broker, sent after the answer, said 404 FLO_ERR_EVENT_NOT_FOUND.
// docs/api.md promises a produce is answered once applied on the broker asked,
// "so a read there sees them". Writes go to every broker in turn, each read at once.
// `npx tsx test/chaos/repro-read-own-write.ts [--dist DIR] [--writes N]`: exits 1 when a
// read misses its own acknowledged write (the bug), 0 otherwise.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { BrokerProcess } from './brokers.js';
import { snapshotCli } from './brokers.js';
import { ChaosCluster } from './cluster.js';
import { appendOverHttp } from './workload.js';

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { dist: { type: 'string' }, writes: { type: 'string', default: '600' } } });
  const dir = await mkdtemp(join(tmpdir(), 'flo-read-own-write-'));
  const cliPath = await snapshotCli(join(process.cwd(), '.tmp', 'chaos', 'dist-snapshots', `repro-${Date.now()}`), values.dist);
  const started: BrokerProcess[] = [];
  let cluster: ChaosCluster | undefined;
  try {
    cluster = await ChaosCluster.start({ brokers: 3, dir, cliPath }, started);
    const misses: string[] = [];
    let acknowledged = 0;
    for (let n = 0; n < Number(values.writes); n++) {
      const broker = cluster.brokers[n % 3]!;
      const outcome = await appendOverHttp(broker.url, `/repro/n${n % 8}`, `v${n}`, 5_000);
      if (outcome.type !== 'ok') continue;
      acknowledged++;
      const response = await fetch(`${broker.url}/v1/events/${outcome.id}`);
      if (response.status !== 200) misses.push(`${broker.name} acknowledged v${n} as ${outcome.id}, then answered ${response.status} for it (write #${n})`);
      await response.body?.cancel();
    }
    console.log(`${acknowledged} writes acknowledged, each read back at once from the broker that answered: ${misses.length} not found`);
    for (const miss of misses.slice(0, 10)) console.log(`  ${miss}`);
    return misses.length > 0 ? 1 : 0;
  } finally {
    for (const broker of started) await broker.stop();
    await cluster?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

main().then((code) => (process.exitCode = code), (error: unknown) => {
  console.error(error);
  process.exitCode = 2;
});
