// Minimal repro of chaos seed 412 (damage-truncate on a stopped member): a
// LevelDB table file (.ldb) whose tail was cut makes the broker exit at start
// with "cannot open the store … IO error: …ldb: Invalid argument
// (FLO_ERR_STORAGE)" — not refused as damage (FLO_ERR_STORAGE_CORRUPT, which
// names --recover-store), and --recover-store does not get past it either, so
// the member can never start again. The table check skips a table without a
// valid footer ("LevelDB reports it as corruption when it opens it"), but
// LevelDB's mmap reader reports a read past the cut end as EINVAL, an IO error.
// One broker is enough: the store's open path is the same for a member.
// `npx tsx test/chaos/repro-truncated-table.ts [--dist DIR] [--keep-percent P]`: exits 1 when
// the damaged store can be neither refused as damaged nor recovered (the bug), 0 otherwise.
import { mkdtemp, readdir, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BrokerProcess, snapshotCli } from './brokers.js';
import { appendOverHttp } from './workload.js';

async function largestTable(dataDir: string): Promise<{ path: string; sizeBytes: number } | undefined> {
  let best: { path: string; sizeBytes: number } | undefined;
  for (const name of (await readdir(dataDir)).filter((entry) => entry.endsWith('.ldb'))) {
    const { size } = await stat(join(dataDir, name));
    if (!best || size > best.sizeBytes) best = { path: join(dataDir, name), sizeBytes: size };
  }
  return best;
}

/** Starts the broker once; what its log's last `flo:` line said if it did not start. */
async function tryStart(broker: BrokerProcess, args: string[] = []): Promise<string | undefined> {
  try {
    await broker.start(args);
    await broker.stop();
    return undefined;
  } catch {
    return /flo: .*$/m.exec(broker.logTail(2_000).split('\n').filter((line) => line.startsWith('flo: ')).at(-1) ?? '')?.[0] ?? 'exited during start';
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { dist: { type: 'string' }, 'keep-percent': { type: 'string', default: '90' } } });
  const dir = await mkdtemp(join(tmpdir(), 'flo-truncated-table-'));
  const cliPath = await snapshotCli(join(process.cwd(), '.tmp', 'chaos', 'dist-snapshots', `repro-${Date.now()}`), values.dist);
  const dataDir = join(dir, 'data');
  const broker = new BrokerProcess({ index: 0, dataDir, logPath: join(dir, 'b0.log'), cliPath });
  try {
    await broker.start();
    let acknowledged = 0;
    for (let n = 0; n < 3_000; n++) if ((await appendOverHttp(broker.url, `/repro/n${n % 8}`, `v${n}-${'x'.repeat(200)}`, 5_000)).type === 'ok') acknowledged++;
    await broker.stop();
    // LevelDB turns the write-ahead log into a table (.ldb) when it opens the store again.
    await broker.start();
    await broker.stop();
    const table = await largestTable(dataDir);
    if (!table) throw new Error(`no .ldb table in ${dataDir} after a restart`);
    const keepBytes = Math.floor((table.sizeBytes * Number(values['keep-percent'])) / 100);
    await truncate(table.path, keepBytes);
    console.log(`${acknowledged} events acknowledged; truncated ${table.path} from ${table.sizeBytes} to ${keepBytes} bytes`);
    const plain = await tryStart(broker);
    const recovered = await tryStart(broker, ['--recover-store']);
    console.log(`start: ${plain ?? 'started'}`);
    console.log(`start with --recover-store: ${recovered ?? 'started'}`);
    const refusedAsDamage = plain !== undefined && /FLO_ERR_STORAGE_CORRUPT/.test(plain);
    if (plain === undefined) console.log('the damaged store was served without a refusal: check what it serves');
    return !refusedAsDamage && recovered !== undefined ? 1 : 0;
  } finally {
    await broker.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

main().then((code) => (process.exitCode = code), (error: unknown) => {
  console.error(error);
  process.exitCode = 2;
});
