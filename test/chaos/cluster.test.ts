// The chaos cluster's peer traffic really runs through the proxy mesh: with
// every link of the broker leading most partitions cut both ways, the other
// two take the lead of every partition between them, and once healed all three agree again. (If a broker
// dialed a peer directly, the cut would not isolate it.) The same holds for a member that joined during the
// run, which every broker would otherwise dial at the one address it advertises.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI_PATH } from '../support/server-process.js';
import { waitFor } from '../support/temp.js';
import type { BrokerProcess } from './brokers.js';
import { ChaosCluster } from './cluster.js';
import { replaceMember } from './membership.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('chaos cluster', () => {
  it('isolates a broker when the mesh cuts its links', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flo-chaos-cluster-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const started: BrokerProcess[] = [];
    cleanups.push(async () => {
      for (const broker of started) await broker.kill();
    });
    const cluster = await ChaosCluster.start({ brokers: 3, dir, cliPath: CLI_PATH }, started);
    cleanups.push(() => cluster.close());

    // The broker leading most partitions is cut off, so the test shows leadership moving.
    const before = (await cluster.view(cluster.brokers[0]!))!.partitions.map((p) => p.leader);
    const victim = ['1', '2', '3'].sort((a, b) => before.filter((l) => l === b).length - before.filter((l) => l === a).length)[0]!;
    expect(before).toContain(victim);
    const index = Number(victim) - 1;
    const others = [0, 1, 2].filter((other) => other !== index);
    cluster.mesh.apply(others.flatMap((other): Array<[number, number]> => [[index, other], [other, index]]));
    const leaders = await waitFor(async () => {
      const view = await cluster.view(cluster.brokers[others[0]!]!);
      const named = view?.partitions.map((p) => p.leader) ?? [];
      return named.length > 0 && named.every((leader) => leader !== null && leader !== victim) ? named : false;
    }, `the other brokers to lead every partition without broker ${victim}`, 30_000);
    expect(leaders).not.toContain(victim);

    cluster.mesh.heal();
    await cluster.waitAgreed(30_000);
  }, 90_000);

  it('isolates a member that joined during the run when the mesh cuts its links', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flo-chaos-cluster-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const started: BrokerProcess[] = [];
    cleanups.push(async () => {
      for (const broker of started) await broker.kill();
    });
    const cluster = await ChaosCluster.start({ brokers: 3, dir, cliPath: CLI_PATH, spare: true }, started);
    cleanups.push(() => cluster.close());
    const joined = cluster.spare!;
    await replaceMember(cluster, cluster.brokers[0]!);
    const members = cluster.members.map((broker) => broker.index);
    expect(members).toContain(joined.index);
    await cluster.waitAgreed(30_000);

    const others = members.filter((other) => other !== joined.index);
    cluster.mesh.apply(others.flatMap((other): Array<[number, number]> => [[joined.index, other], [other, joined.index]]));
    // Cut off, it hears no leader of any partition; had it kept a direct connection, it would.
    await waitFor(async () => {
      const view = await cluster.view(joined);
      return view !== undefined && view.partitions.length > 0 && view.partitions.every((p) => p.leader === null);
    }, `${joined.name}, which joined, to hear no leader once its links are cut`, 30_000);

    cluster.mesh.heal();
    await cluster.waitAgreed(30_000);
  }, 150_000);
});
