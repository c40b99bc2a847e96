// `npx tsx test/chaos/probe-damage.ts [--wait-ms N] [--probes N]`: what one broker
// does with a damaged data file after kill -9. Each probe acknowledges 1,000
// events (HTTP, 50 in flight), waits --wait-ms, kills the broker, truncates or
// bit-flips its LevelDB log (seeded by the probe number), restarts it and reads
// everything back. Fail stop (refusing to start) is right; serving with
// acknowledged events missing is the anomaly the checker reports.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BrokerProcess } from './brokers.js';
import { check } from './checker.js';
import { damageDataDir, type DamageKind } from './damage.js';
import { HistoryRecorder } from './history.js';
import { appendOverHttp, readEverything } from './workload.js';

async function acknowledge(broker: BrokerProcess, recorder: HistoryRecorder): Promise<void> {
  for (let batch = 0; batch < 20; batch++) {
    await Promise.all(Array.from({ length: 50 }, async (_, i) => {
      const value = `v${batch}-${i}`;
      const namespace = `/chaos/b0/n${i % 4}`;
      recorder.record({ process: `p${i}`, type: 'invoke', namespace, value });
      recorder.record({ process: `p${i}`, namespace, value, ...(await appendOverHttp(broker.url, namespace, value, 10_000)) });
    }));
  }
}

async function probe(kind: DamageKind, pick: number, waitMs: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'flo-chaos-probe-'));
  const broker = new BrokerProcess({ index: 0, dataDir: join(dir, 'data'), logPath: join(dir, 'b0.log') });
  try {
    await broker.start();
    const recorder = new HistoryRecorder();
    await acknowledge(broker, recorder);
    await new Promise((resolve) => setTimeout(resolve, waitMs));
    await broker.kill();
    const what = (await damageDataDir(broker.dataDir, kind, pick)).replace(dir, '');
    try {
      await broker.start();
    } catch {
      const code = /FLO_ERR_[A-Z_]+/.exec(await readFile(join(dir, 'b0.log'), 'utf8'))?.[0] ?? 'no code';
      return `${what}: refused to start (${code})`;
    }
    const events = await readEverything(broker.url, '/chaos/b0/**', 1_000);
    const verdict = check({ history: recorder.ops, finalReads: [{ broker: 'b0', events }], subscriptions: [] });
    return `${what}: served ${events.length} of ${verdict.stats.acknowledged} acknowledged events, ${verdict.valid ? 'valid' : `lost ${verdict.counts['lost-write']}`}`;
  } finally {
    await broker.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'wait-ms': { type: 'string', default: '0' }, probes: { type: 'string', default: '6' } } });
  const waitMs = Number(values['wait-ms']);
  const probes = Math.min(100, Number(values.probes));
  for (const kind of ['truncate', 'bitflip'] as const) {
    for (let pick = 1; pick <= probes; pick++) console.log(`${kind} #${pick} (wait ${waitMs} ms): ${await probe(kind, pick * 7919, waitMs)}`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 2;
});
