// The kill-lose-unsynced cut (our in-process LazyFS): a broker started with
// FLO_TEST_SYNC_LEDGER notes after each fsync how far LevelDB's write-ahead log is
// durable; after its kill -9 this cuts the log back there, and empties any log
// started after it, so what was written but never synced is gone.
import { readFile, readdir, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';

export const SYNC_LEDGER_ENV = 'FLO_TEST_SYNC_LEDGER';
const WAL_NAME = /^\d+\.log$/;

/** Cuts `dataDir`'s write-ahead logs back to the last fsync `ledger` names; the bytes cut and what was done. */
export async function cutToLastSync(dataDir: string, ledger: string): Promise<{ cut: number; detail: string }> {
  const text = await readFile(ledger, 'utf8').catch(() => '');
  const last = text.trim().split('\n').at(-1);
  if (last === undefined || last === '') return { cut: 0, detail: 'no fsync noted yet: nothing cut' };
  const [wal, size] = last.split(' ') as [string, string];
  let cut = 0;
  const cuts: string[] = [];
  for (const name of (await readdir(dataDir)).filter((entry) => WAL_NAME.test(entry)).sort()) {
    // The log named was durable up to `size`; one started after it holds nothing synced.
    const keep = name === wal ? Number(size) : name > wal ? 0 : undefined;
    if (keep === undefined) continue;
    const path = join(dataDir, name);
    const { size: now } = await stat(path);
    if (now <= keep) continue;
    await truncate(path, keep);
    cut += now - keep;
    cuts.push(`${name} ${now} -> ${keep}`);
  }
  return { cut, detail: cuts.length === 0 ? `nothing written after the last fsync (${wal} ${size})` : `cut ${cut} unsynced bytes: ${cuts.join(', ')}` };
}
