// The client against a real three-broker cluster on loopback: produce goes to
// each partition's leader, goes on through the other brokers when the one it
// bootstrapped from is killed (kill -9), never resends a produce whose outcome is
// unknown, and a subscription whose broker is killed resumes on another from its
// cursor with no gap and no duplicate.
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type FloClient } from '../../src/client/index.js';
import { ProduceOutcomeUnknownError } from '../../src/client/produce-outcome.js';
import { partitionOf } from '../../src/common/namespace.js';
import { waitFor } from '../support/temp.js';
import { clusterView, producedAt, startCluster, type TestCluster } from './cluster-support.js';

let cluster: TestCluster | undefined;
const clients: FloClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await cluster?.stop();
  cluster = undefined;
});

async function open(urls: string | string[], idempotent = true): Promise<FloClient> {
  const client = await connect(urls, { timeoutMs: 5_000, closeTimeoutMs: 2_000, idempotent });
  clients.push(client);
  return client;
}

/** Every event of a namespace glob, read to the end of the stream from `url`. */
async function readAll(client: FloClient, namespace: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const event of client.subscribe({ namespace, follow: false })) ids.push(event.id);
  return ids;
}

describe('a client given every broker of a cluster', () => {
  it('sends each produce straight to its partition\'s leader, so no broker has to forward it', async () => {
    cluster = await startCluster();
    const view = await clusterView(cluster.urls[0]!);
    const urlOf = new Map(view.brokers.map((broker) => [broker.nodeId, broker.url!]));
    const leaderOf = view.partitions.map((p) => urlOf.get(p.leader!)!);
    // Bootstrap from a broker that leads nothing if there is one, so sending there would need a forward.
    const ordered = [...cluster.urls].sort((a, b) => Number(leaderOf.includes(a)) - Number(leaderOf.includes(b)));
    const client = await open(ordered);
    const namespaces = Array.from({ length: 40 }, (_, i) => `/route/${i}`);
    const expected = new Map(cluster.urls.map((url) => [url, 0]));
    for (const namespace of namespaces) {
      const leader = leaderOf[partitionOf(namespace, view.partitions.length)]!;
      expected.set(leader, expected.get(leader)! + 1);
    }
    await Promise.all(namespaces.map((namespace) => client.produce({ namespace, data: namespace })));
    expect((await clusterView(cluster.urls[0]!)).partitions.map((p) => urlOf.get(p.leader!))).toEqual(leaderOf); // no election meanwhile
    // flo_produced_events_total counts events at the broker the client sent them to, not at the leader a follower forwarded them to.
    const received = new Map(await Promise.all(cluster.urls.map(async (url) => [url, await producedAt(url)] as const)));
    expect(received).toEqual(expected);
  });

  it('goes on producing through the other brokers when the one it bootstrapped from is killed', async () => {
    cluster = await startCluster();
    const view = await clusterView(cluster.urls[0]!);
    const leaderNode = view.partitions[0]!.leader!;
    const victim = cluster.brokers[Number(leaderNode) - 1]!; // founders' node ids are 1..3 in order
    // Namespaces the victim leads: every produce goes to it until it dies, and to the new leader after.
    const namespaces = Array.from({ length: 200 }, (_, i) => `/failover/${i}`)
      .filter((ns) => view.partitions[partitionOf(ns, view.partitions.length)]!.leader === leaderNode).slice(0, 10);
    const client = await open([victim.url, ...cluster.urls.filter((url) => url !== victim.url)]);
    expect(client.topology.table!.answeredBy).toBe(victim.url);
    const stored: string[] = [];
    const unknown: string[] = [];
    let killedAt = 0;
    let firstAfterKill = 0;
    for (let i = 0; i < 300; i++) {
      if (i === 100) {
        victim.child.kill('SIGKILL');
        killedAt = performance.now();
      }
      try {
        await client.produce({ namespace: namespaces[i % namespaces.length]!, data: String(i) });
        stored.push(String(i));
        if (killedAt > 0 && firstAfterKill === 0) firstAfterKill = performance.now();
      } catch (error) {
        // Only a produce caught in flight by the kill may fail, and it must say its outcome is unknown.
        if (!(error instanceof ProduceOutcomeUnknownError)) throw error;
        unknown.push(String(i));
      }
    }
    expect(unknown.length).toBeLessThanOrEqual(1);
    expect(stored.length).toBe(300 - unknown.length);
    console.log(`first produce stored ${Math.round(firstAfterKill - killedAt)} ms after the kill; outcome unknown: ${unknown.join(', ') || 'none'}`);
    const survivor = await open(cluster.urls.filter((url) => url !== victim.url));
    const payloads: string[] = [];
    for await (const event of survivor.subscribe({ namespace: '/failover/**', follow: false })) payloads.push(event.data.toString());
    // Every acknowledged event exactly once; besides them, at most the one whose outcome was unknown.
    expect(payloads.filter((payload, i) => payloads.indexOf(payload) !== i)).toEqual([]);
    expect(new Set(payloads)).toEqual(new Set([...stored, ...unknown.filter((payload) => payloads.includes(payload))]));
  });

  it('without idempotence, does not resend a produce whose outcome is unknown, and says so', async () => {
    cluster = await startCluster();
    const leaderNode = (await clusterView(cluster.urls[0]!)).partitions[0]!.leader!;
    const victim = cluster.brokers[Number(leaderNode) - 1]!;
    const others = cluster.urls.filter((url) => url !== victim.url);
    const client = await open([victim.url, ...others], false);
    const namespace = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => `/unknown/${i}`).find((ns) => client.topology.produceTarget(client.topology.partitionOf(ns)) === victim.url)!;
    // The produce socket to the leader is open before it stops (a socket still opening when it dies provably sent nothing).
    await client.produce({ namespace, data: 'first' });
    expect(await producedAt(victim.url)).toBe(1);
    // Stopped, the leader never reads the batch; killed, it drops the connection: the client cannot know it stored nothing.
    victim.child.kill('SIGSTOP');
    const produced = client.produce({ namespace, data: 'lost in flight' });
    const outcome = produced.then(() => undefined, (error: unknown) => error);
    await new Promise((resolve) => setTimeout(resolve, 200)); // the batch is in the socket, unread
    victim.child.kill('SIGKILL');
    const error = await outcome;
    expect(error).toBeInstanceOf(ProduceOutcomeUnknownError);
    expect(error).toMatchObject({ code: 'FLO_ERR_CONNECTION', outcomeUnknown: true, message: expect.stringMatching(/outcome unknown/) });
    // A resend would have reached a survivor, and been stored once one of them leads.
    await waitFor(async () => (await clusterView(others[0]!)).partitions.every((p) => p.leader !== null && p.leader !== leaderNode), 'a new leader of every partition', 20_000);
    const survivor = await open(others);
    await survivor.produce({ namespace: '/after', data: 'the cluster works again' });
    expect(await readAll(survivor, namespace)).toHaveLength(1); // 'first' only
    expect((await Promise.all(others.map(producedAt))).reduce((a, b) => a + b, 0)).toBe(1); // only /after
  });

  it('idempotent (the default), resends a produce whose outcome is unknown and it is stored exactly once', async () => {
    cluster = await startCluster();
    const leaderNode = (await clusterView(cluster.urls[0]!)).partitions[0]!.leader!;
    const victim = cluster.brokers[Number(leaderNode) - 1]!;
    const others = cluster.urls.filter((url) => url !== victim.url);
    const client = await open([victim.url, ...others]);
    const namespace = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => `/exactly-once/${i}`).find((ns) => client.topology.produceTarget(client.topology.partitionOf(ns)) === victim.url)!;
    await client.produce({ namespace, data: 'first' });
    // The batch reaches the leader's socket; the leader may or may not have proposed it when it dies.
    victim.child.kill('SIGSTOP');
    const produced = client.produce({ namespace, data: 'in flight' });
    await new Promise((resolve) => setTimeout(resolve, 200));
    victim.child.kill('SIGKILL');
    const id = await produced;
    expect(id).toMatch(/^\d{4}-/);
    const survivor = await open(others);
    const stored: string[] = [];
    for await (const event of survivor.subscribe({ namespace, follow: false })) stored.push(Buffer.from(event.data).toString());
    expect(stored).toEqual(['first', 'in flight']);
  });

  it('resumes a subscription on another broker when its broker is killed, with no gap and no duplicate', async () => {
    cluster = await startCluster();
    const view = await clusterView(cluster.urls[0]!);
    // The victim leads the fewest partitions, and the events go to partitions it does not lead:
    // the writer goes on undisturbed while the reader's broker is gone.
    const leads = (nodeId: string): number => view.partitions.filter((p) => p.leader === nodeId).length;
    const victimNode = ['1', '2', '3'].sort((a, b) => leads(a) - leads(b))[0]!;
    const victim = cluster.brokers[Number(victimNode) - 1]!;
    const namespaces = Array.from({ length: 64 }, (_, i) => `/resume/${i}`)
      .filter((ns) => view.partitions[partitionOf(ns, view.partitions.length)]!.leader !== victimNode).slice(0, 5);
    const writer = await open(cluster.urls);
    const produced: string[] = [];
    const produce = async (from: number, to: number): Promise<void> => {
      for (let i = from; i < to; i++) produced.push(await writer.produce({ namespace: namespaces[i % namespaces.length]!, data: String(i) }));
    };
    await produce(0, 50);
    const reader = await open([victim.url, ...cluster.urls.filter((url) => url !== victim.url)]);
    let resumed = 0;
    const retriedAt: string[] = [];
    const subscription = reader.subscribe({ namespace: '/resume/**', onRetry: (retry) => retriedAt.push(retry.error.message), onResumed: () => resumed++ });
    const seen: string[] = [];
    for await (const event of subscription) {
      seen.push(event.id);
      if (seen.length === 30) {
        victim.child.kill('SIGKILL');
        await produce(50, 100); // stored while the reader's broker is gone: only another broker can deliver them
      }
      if (seen.length === 100) break;
    }
    expect(resumed).toBe(1);
    expect(retriedAt.length).toBeGreaterThan(0);
    expect(retriedAt.every((message) => message.includes(victim.url))).toBe(true);
    expect(seen).toHaveLength(100);
    expect(new Set(seen)).toEqual(new Set(produced));
    // Per partition, in offset order: the resumed stream continued exactly where the dead broker's left off.
    const byPartition = new Map<string, number[]>();
    for (const id of seen) {
      const [partition, offset] = id.split('-');
      byPartition.set(partition!, [...(byPartition.get(partition!) ?? []), parseInt(offset!, 16)]);
    }
    for (const offsets of byPartition.values()) expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
  });
});
