// A member whose store is damaged while it is down (a table cut short) never
// serves or votes on it: started with --rebuild-when-damaged and --join, it moves
// the store aside, joins again as a new member retiring its old id, and ends up
// holding every acknowledged event, copied from the others. A founder whose data dir
// was lost (an empty volume) does the same, even when --join names itself (pod 0 on
// Kubernetes, where every pod has the same FLO_JOIN), and starts again as its new id with the
// same command line.
import { readdir, rm, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TestCluster } from '../support/cluster.js';
import { waitFor } from '../support/temp.js';
import { checkStored, holdsEvery, produceContinuously, summarize, type ProduceRun } from './failover.js';
import { readAll, request } from './http.js';

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

/** Waits until `observer` reports every broker in `states` (member:state, …) and a healthy cluster, then for more appends. */
async function waitReplaced(observer: number, states: string, run: ProduceRun, what: string): Promise<void> {
  await waitFor(async () => {
    const answer = await request(`${cluster!.broker(observer).url}/v1/cluster/health`);
    const seen = (await cluster!.status(observer)).brokers.map((b) => `${b.member}:${b.state}`).join(',');
    return (answer.body as { healthy: boolean }).healthy && seen === states;
  }, what, 60_000);
  const acked = run.acked.size;
  await waitFor(() => run.acked.size >= acked + 300, 'appends acknowledged after the replacement', 20_000);
}

/** The replacement holds every acknowledged event, once, and is the new member id. */
async function checkReplacement(nodeId: number, run: ProduceRun, newId: number, label: string): Promise<void> {
  const held = await waitFor(async () => {
    const page = await readAll(cluster!.broker(nodeId).url, { namespace: '/failover/**' });
    return holdsEvery(page.events, run.acked) ? page.events : false;
  }, `the ${label} to hold every acknowledged event`, 30_000);
  checkStored(held, run.acked, label);
  expect((await cluster!.status(nodeId)).member).toBe(newId);
}

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

      // --join names the damaged member itself: the founders in --peers are asked instead.
      cluster.restart(3, ['--rebuild-when-damaged', '--join', `127.0.0.1:${cluster.broker(3).peerPort}`]);
      await waitReplaced(1, '1:active,2:active,3:removed,4:active', run, 'node 3 retired and its replacement (node 4) active in every group');
    } finally {
      await run.stop();
    }
    summarize('rebuild a damaged member', run);
    expect(cluster.broker(3).output()).toMatch(/moved it aside, joining the cluster again as a new member/);
    expect((await readdir(cluster.broker(3).dataDir)).some((name) => name.startsWith('damaged-')), 'the damaged store is kept aside').toBe(true);
    await checkReplacement(3, run, 4, 'rebuilt member');
  });
});

describe('a founder whose data dir was lost', () => {
  it('is refused as itself; with --rebuild-when-damaged and --join naming itself it joins through another member as a new id and holds every acknowledged event', { timeout: 120_000 }, async () => {
    cluster = await TestCluster.start({ brokers: 3, args: ['--partitions', '4'] });
    const run = produceContinuously(cluster.broker(2).url);
    const ownPeer = `127.0.0.1:${cluster.broker(1).peerPort}`;
    try {
      await waitFor(() => run.acked.size >= 1000, 'events acknowledged before the loss', 30_000);
      await cluster.kill(1);
      await rm(cluster.broker(1).dataDir, { recursive: true, force: true });
      cluster.restart(1);
      await waitFor(() => cluster!.broker(1).child === undefined, 'the wiped founder to be refused', 30_000);
      expect(cluster.broker(1).output()).toMatch(/--rebuild-when-damaged[\s\S]*FLO_ERR_DATA_DIR_MISMATCH/);

      cluster.restart(1, ['--rebuild-when-damaged', '--join', ownPeer]);
      await waitReplaced(2, '1:removed,2:active,3:active,4:active', run, 'node 1 retired and its replacement (node 4) active in every group');
      // Restarted with the very same command line (still --node-id 1): it is node 4, not refused.
      await cluster.stop(1);
      cluster.restart(1, ['--rebuild-when-damaged', '--join', ownPeer]);
      await waitFor(async () => (await cluster!.status(1).catch(() => undefined))?.member === 4 || cluster!.broker(1).child === undefined, 'the rebuilt founder to start again as node 4', 30_000);
      expect(cluster.broker(1).child, `restarted with --node-id 1:\n${cluster.broker(1).output().slice(-2000)}`).toBeDefined();
      await waitReplaced(2, '1:removed,2:active,3:active,4:active', run, 'node 4 back after its restart');
      // The same volume lost again: its flags still say node 1 (retired), so node 4 at its address is the one retired.
      await cluster.kill(1);
      await rm(cluster.broker(1).dataDir, { recursive: true, force: true });
      cluster.restart(1, ['--rebuild-when-damaged', '--join', ownPeer]);
      await waitReplaced(2, '1:removed,2:active,3:active,4:removed,5:active', run, 'node 4 retired and its replacement (node 5) active in every group');
    } finally {
      await run.stop();
    }
    summarize('rejoin a lost founder, twice', run);
    expect(cluster.broker(1).output()).toMatch(/data dir is empty but the cluster formed long ago: joining as a new member/);
    await checkReplacement(1, run, 5, 'rejoined founder');
  });
});
