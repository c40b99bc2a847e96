// A member whose store is damaged while it is down (a table cut short) never
// serves or votes on it: started with --rebuild-when-damaged and --join, it moves
// the store aside, joins again as a new member retiring its old id, and ends up
// holding every acknowledged event, copied from the others.
import { readdir, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TestCluster } from '../support/cluster.js';
import { waitFor } from '../support/temp.js';
import { checkStored, holdsEvery, produceContinuously, summarize } from './failover.js';
import { readAll, request } from './http.js';

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

async function cutLargestTable(dataDir: string): Promise<string> {
  const tables = await Promise.all((await readdir(dataDir)).filter((name) => name.endsWith('.ldb')).map(async (name) => ({ path: join(dataDir, name), size: (await stat(join(dataDir, name))).size })));
  const largest = tables.sort((a, b) => b.size - a.size)[0];
  if (largest === undefined) throw new Error(`no table in ${dataDir}`);
  await truncate(largest.path, Math.floor(largest.size * 0.9));
  return largest.path;
}

describe('a member whose store was damaged while it was down', () => {
  it('refuses it, then with --rebuild-when-damaged moves it aside, joins as a new member and holds every acknowledged event', { timeout: 120_000 }, async () => {
    cluster = await TestCluster.start({ brokers: 3, args: ['--partitions', '4'] });
    const run = produceContinuously(cluster.broker(1).url);
    try {
      await waitFor(() => run.acked.size >= 1500, 'events acknowledged before the damage', 30_000);
      await cluster.stop(3);
      // A restart moves the write-ahead log into a table; the damage goes there.
      cluster.restart(3);
      await cluster.waitFormed();
      await cluster.stop(3);
      await cutLargestTable(cluster.broker(3).dataDir);
      cluster.restart(3);
      await waitFor(() => cluster!.broker(3).child === undefined, 'the damaged member to refuse to start', 30_000);
      expect(cluster.broker(3).output()).toMatch(/FLO_ERR_STORAGE_CORRUPT/);

      const seed = `127.0.0.1:${cluster.broker(1).peerPort}`;
      cluster.restart(3, ['--rebuild-when-damaged', '--join', seed]);
      await waitFor(async () => {
        const answer = await request(`${cluster!.broker(1).url}/v1/cluster/health`);
        const status = await cluster!.status(1);
        const states = status.brokers.map((b) => `${b.member}:${b.state}`).join(',');
        return (answer.body as { healthy: boolean }).healthy && states === '1:active,2:active,3:removed,4:active' ? true : false;
      }, 'node 3 retired and its replacement (node 4) active in every group', 60_000);
      const acked = run.acked.size;
      await waitFor(() => run.acked.size >= acked + 300, 'appends acknowledged after the rebuild', 20_000);
    } finally {
      await run.stop();
    }
    summarize('rebuild a damaged member', run);
    expect(cluster.broker(3).output()).toMatch(/moved it aside, joining the cluster again as a new member/);
    expect((await readdir(cluster.broker(3).dataDir)).some((name) => name.startsWith('damaged-')), 'the damaged store is kept aside').toBe(true);
    const rebuilt = await waitFor(async () => {
      const page = await readAll(cluster!.broker(3).url, { namespace: '/failover/**' });
      return holdsEvery(page.events, run.acked) ? page.events : false;
    }, 'the rebuilt member to hold every acknowledged event', 30_000);
    checkStored(rebuilt, run.acked, 'rebuilt member');
    expect((await cluster.status(3)).member).toBe(4);
  });
});
