// kill -9 that also loses every write not yet fsynced (the chaos harness's
// kill-lose-unsynced, an in-process LazyFS): the broker notes, after each fsync, how
// far LevelDB's write-ahead log is durable (FLO_TEST_SYNC_LEDGER); the test cuts the
// log back there after the kill. Every acknowledged event must survive, and the
// broker must start without calling the cut damage.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cutToLastSync } from '../chaos/lose-unsynced.js';
import { startServer, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/temp.js';

let server: ServerProcess | undefined;
afterEach(async () => {
  await server?.stop('SIGKILL');
  server = undefined;
});

describe('kill -9 losing unsynced writes', () => {
  it('keeps every acknowledged event and starts cleanly after the write-ahead log is cut back to its last fsync', async () => {
    const temp = await tempDir('flo-lose-unsynced-');
    const dir = temp.path;
    const dataDir = join(dir, 'data');
    const ledger = join(dir, 'sync-ledger');
    const env = { FLO_TEST_SYNC_LEDGER: ledger };
    const acknowledged: string[] = [];
    let cutTotal = 0;
    for (let round = 0; round < 3; round++) {
      server = await startServer(dataDir, [], undefined, env);
      const url = server.url;
      let stop = false;
      // Four producers keep requests in flight, so the kill lands between a write and its fsync.
      const producers = Array.from({ length: 4 }, async (_, p) => {
        for (let n = 0; n < 5_000 && !stop; n++) {
          try {
            const response = await fetch(`${url}/v1/events`, {
              method: 'POST', headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ events: Array.from({ length: 4 }, (_, i) => ({ namespace: `/unsynced/p${p}/${i}`, data: `r${round}-${p}-${n}-${i}` })) }),
            });
            if (response.status === 201) acknowledged.push(...((await response.json()) as { ids: string[] }).ids);
          } catch {
            return; // the broker was killed under this request: its outcome is unknown, not acknowledged
          }
        }
      });
      await new Promise((resolve) => setTimeout(resolve, 700));
      await server.stop('SIGKILL');
      stop = true;
      await Promise.all(producers);
      server = undefined;
      cutTotal += (await cutToLastSync(dataDir, ledger)).cut;
    }
    expect(cutTotal, 'bytes written after the last fsync that the cuts removed (0: the test cut nothing)').toBeGreaterThan(0);

    server = await startServer(dataDir, [], undefined, env);
    const missing: string[] = [];
    for (const id of acknowledged) {
      const response = await fetch(`${server.url}/v1/events/${id}`);
      if (response.status !== 200) missing.push(`${id}: ${response.status}`);
    }
    console.log(`lose-unsynced: ${acknowledged.length} acknowledged over 3 kills, ${cutTotal} unsynced bytes cut, ${missing.length} missing`);
    expect(missing, server.output()).toEqual([]);
    await server.stop();
    await temp.remove();
  });
});
