// Minimal repro of the duplicates of chaos seed 200: two copies of one
// idempotent request (same Flo-Producer-Id and Flo-Producer-Sequence) that
// reach a partition's leader before its pending appends are proposed are
// proposed as ONE command of two events (the pending run is keyed by producer
// and first sequence), which the machine takes as a new batch: the event is
// stored twice, at consecutive offsets; and the machine then takes the
// producer's last sequence to be one past it, so its next request is refused
// 409 FLO_ERR_SEQUENCE_STALE though it was never sent before. In the chaos run the second copy was
// the broker's own retry of a forward whose connection was reset. One broker
// is enough. `npx tsx test/chaos/repro-idempotent-concurrent.ts [--dist DIR] [--brokers 1|3]`:
// exits 1 when an event is stored twice (the bug), 0 otherwise.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BrokerProcess, snapshotCli } from './brokers.js';
import { appendOverHttp, readEverything } from './workload.js';

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { dist: { type: 'string' }, rounds: { type: 'string', default: '200' } } });
  const dir = await mkdtemp(join(tmpdir(), 'flo-idempotent-concurrent-'));
  const cliPath = await snapshotCli(join(process.cwd(), '.tmp', 'chaos', 'dist-snapshots', `repro-${Date.now()}`), values.dist);
  const broker = new BrokerProcess({ index: 0, dataDir: join(dir, 'data'), logPath: join(dir, 'b0.log'), cliPath });
  try {
    await broker.start();
    const producerId = 4242;
    const answers: string[] = [];
    for (let sequence = 0; sequence < Number(values.rounds); sequence++) {
      // The same request twice at once, as a retry racing its first attempt.
      const send = (): ReturnType<typeof appendOverHttp> => appendOverHttp(broker.url, '/repro/n', `v${sequence}`, 5_000, { id: producerId, sequence });
      const outcomes = await Promise.all([send(), send()]);
      answers.push(outcomes.map((outcome) => (outcome.type === 'ok' ? outcome.id : `${outcome.type} ${outcome.error}`)).join(' / '));
    }
    const events = await readEverything(broker.url, '/repro/**', 1_000);
    const ids = new Map<string, string[]>();
    for (const event of events) ids.set(event.value, [...(ids.get(event.value) ?? []), event.id]);
    const twice = [...ids].filter(([, at]) => at.length > 1);
    const refused = answers.filter((answer) => answer.includes('FLO_ERR_SEQUENCE_STALE')).length;
    console.log(`${answers.length} requests sent twice at once; ${events.length} events stored; ${twice.length} stored twice; ${refused} refused as stale (both copies)`);
    for (const answer of answers.filter((text) => text.includes('STALE')).slice(0, 2)) console.log(`  refused: ${answer}`);
    for (const [value, at] of twice.slice(0, 5)) console.log(`  ${value} at ${at.join(', ')}; answers: ${answers[Number(value.slice(1))]}`);
    return twice.length > 0 ? 1 : 0;
  } finally {
    await broker.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

main().then((code) => (process.exitCode = code), (error: unknown) => {
  console.error(error);
  process.exitCode = 2;
});
