// A broker that was down while the others wrote so much that the leaders
// compacted their Raft logs past it (a partition snapshots every 256 entries)
// catches up from a snapshot when restarted and serves every event, with no
// operator action.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionOf } from '../../src/common/namespace.js';
import { TestCluster } from '../support/cluster.js';
import { waitFor } from '../support/temp.js';
import { byPartition, postEvents, readAll } from './http.js';

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await TestCluster.start({ brokers: 3 });
});
afterAll(async () => {
  await cluster?.close();
});

/** Each request is its own Raft entry: well past one snapshot interval (256) plus the 64 entries kept behind it. */
const REQUESTS_PER_NAMESPACE = 400;
/** Two namespaces in different partitions, written at once. */
const NAMESPACES = ['/catch-up/a', '/catch-up/b'];

describe('a broker restarted after the leaders compacted their logs', () => {
  it('catches up and serves every event without operator action', async () => {
    expect(partitionOf(NAMESPACES[0]!, 8)).not.toBe(partitionOf(NAMESPACES[1]!, 8));
    const [entry, , lagging] = cluster.brokers;
    const early = await postEvents(entry!.url, { events: NAMESPACES.map((namespace) => ({ namespace, data: 'before' })) });
    expect(early.status).toBe(201);
    await waitFor(async () => (await readAll(lagging!.url, { namespace: '/catch-up/**' })).events.length === 2, 'the lagging broker to hold the first events');
    const startIndex = (await cluster.status(entry!.nodeId)).partitions.map((p) => p.raft.commitIndex);
    await cluster.stop(lagging!.nodeId);

    const acked = new Map<string, string>();
    await Promise.all(NAMESPACES.map(async (namespace) => {
      for (let i = 0; i < REQUESTS_PER_NAMESPACE; i++) {
        const answer = await postEvents(entry!.url, { namespace, data: `${namespace}:${i}` });
        expect(answer.status, JSON.stringify(answer.body)).toBe(201);
        acked.set((answer.body as { id: string }).id, `${namespace}:${i}`);
      }
    }));
    const written = (await cluster.status(entry!.nodeId)).partitions.map((p) => p.raft.commitIndex - startIndex[p.partition]!);
    for (const namespace of NAMESPACES) expect(written[partitionOf(namespace, 8)]).toBeGreaterThanOrEqual(REQUESTS_PER_NAMESPACE);

    cluster.restart(lagging!.nodeId);
    await cluster.waitFormed();
    const reference = await readAll(entry!.url, { namespace: '/catch-up/**' });
    expect(reference.events.length).toBe(acked.size + 2);
    let lastRead = '';
    const caughtUp = await waitFor(async () => {
      if (lagging!.child === undefined) throw new Error(`broker ${lagging!.nodeId} exited while catching up:\n${lagging!.output().slice(-3000)}`);
      const page = await readAll(lagging!.url, { namespace: '/catch-up/**' }).catch((error: Error) => void (lastRead = error.message));
      if (page !== undefined) lastRead = `${page.events.length} events`;
      return page !== undefined && page.events.length >= reference.events.length ? page : false;
    }, `broker ${lagging!.nodeId} to serve all ${reference.events.length} events`, 30_000).catch((error: Error) => {
      throw new Error(`${error.message}; its last read: ${lastRead}; the end of its log:\n${lagging!.output().slice(-3000)}`);
    });
    expect(byPartition(caughtUp.events)).toEqual(byPartition(reference.events));
    const status = await cluster.status(lagging!.nodeId);
    expect(status.brokers.find((b) => b.self)?.ready).toBe(true);
  });
});
