// A test hook for the chaos harness's `kill-lose-unsynced` (our in-process LazyFS).
// With FLO_TEST_SYNC_LEDGER=<file>, each fsynced write, once it returned, appends
// "<write-ahead log name> <size>" to that file, before anything that write made
// durable is acknowledged. After a kill -9, cutting that log back to the last line
// leaves the store as a crash would have left it had no later fsync returned: what
// was written but never synced is gone, what anyone was told is durable is kept.
import { appendFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** LevelDB's write-ahead logs: NNNNNN.log, the highest number the one being written. */
const WAL_NAME = /^\d+\.log$/;

export const SYNC_LEDGER_ENV = 'FLO_TEST_SYNC_LEDGER';

export interface SyncLedger {
  /** A synced write returned: note how far the write-ahead log is durable. */
  noteSynced(): void;
}

export function syncLedgerFromEnv(dataDir: string, env: NodeJS.ProcessEnv = process.env): SyncLedger | undefined {
  const file = env[SYNC_LEDGER_ENV];
  if (file === undefined || file === '') return undefined;
  return {
    noteSynced(): void {
      const wal = readdirSync(dataDir).filter((name) => WAL_NAME.test(name)).sort().at(-1);
      if (wal !== undefined) appendFileSync(file, `${wal} ${statSync(join(dataDir, wal)).size}\n`);
    },
  };
}
