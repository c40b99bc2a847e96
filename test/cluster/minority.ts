// A broker cut off from the majority (the other two stopped) keeps serving what
// was committed, refuses writes with a retryable 503 naming the partition
// within a bounded time, and takes writes again once a second broker is back.
// Run twice: for partitions the survivor follows, and for partitions it led
// when the others went away (it has to notice it lost its quorum).
import { expect } from 'vitest';
import { partitionOf } from '../../src/common/namespace.js';
import type { TestCluster } from '../support/cluster.js';
import { waitFor } from '../support/temp.js';
import { byPartition, isRetryableUnavailable, postEvents, readAll } from './http.js';

/** What the cluster promises is ~5 s; the bound asserted leaves room for a loaded 2-core machine. */
export const REFUSAL_BOUND_MS = 10_000;
const PARTITIONS = 8;

/** Namespaces landing in the given partitions, one per partition, at most `count`. */
function namespacesIn(partitions: readonly number[], count: number): string[] {
  const found = new Map<number, string>();
  for (let i = 0; i < 10_000 && found.size < Math.min(count, partitions.length); i++) {
    const namespace = `/minority/n${i}`;
    const partition = partitionOf(namespace, PARTITIONS);
    if (partitions.includes(partition) && !found.has(partition)) found.set(partition, namespace);
  }
  return [...found.values()];
}

/** Writes to partitions the survivor leads (`led`) or follows (`followed`) at the moment the other two stop. */
export async function leaveOneBroker(cluster: TestCluster, survivorNodeId: number, writesTo: 'led' | 'followed'): Promise<void> {
  const survivor = cluster.broker(survivorNodeId);
  const [second, third] = cluster.brokers.filter((b) => b.nodeId !== survivorNodeId);
  const status = await cluster.status(survivorNodeId);
  const led = status.partitions.filter((p) => Number(p.leader) === survivorNodeId).map((p) => p.partition);
  const chosen = writesTo === 'led' ? led : status.partitions.map((p) => p.partition).filter((p) => !led.includes(p));
  const namespaces = namespacesIn(chosen, 4);
  expect(namespaces.length, `partitions broker ${survivorNodeId} ${writesTo === 'led' ? 'leads' : 'follows'}`).toBeGreaterThan(0);

  const before = await postEvents(survivor.url, { events: namespaces.flatMap((namespace) => [1, 2, 3].map((i) => ({ namespace, data: `${namespace}:${i}` }))) });
  expect(before.status, JSON.stringify(before.body)).toBe(201);
  const committed = await waitFor(async () => {
    const page = await readAll(survivor.url, { namespace: '/minority/**' });
    return page.events.length === namespaces.length * 3 ? page.events : false;
  }, 'the survivor to apply the committed events');

  const stopping = Date.now();
  await cluster.stop(second!.nodeId);
  await cluster.stop(third!.nodeId);
  console.log(`minority (${writesTo}): two graceful stops took ${Date.now() - stopping} ms`);

  // One request per namespace at once: each waits for a leader on its own.
  const refusals = await Promise.all(namespaces.map(async (namespace) => ({ namespace, refused: await postEvents(survivor.url, { namespace, data: 'no quorum' }) })));
  const raftView = (await cluster.status(survivorNodeId)).partitions.map((p) => `${p.partition}: ${p.raft.role} term ${p.raft.term}`).join(', ');
  for (const { namespace, refused } of refusals) {
    const partition = partitionOf(namespace, PARTITIONS);
    const what = `partition ${partition} (${writesTo} by broker ${survivorNodeId}), answered after ${refused.elapsedMs} ms: ${JSON.stringify(refused.body)}; the survivor's groups now: ${raftView}`;
    expect(refused.status, what).toBe(503);
    expect(isRetryableUnavailable(refused), what).toBe(true);
    expect((refused.body as { detail: string }).detail, what).toMatch(new RegExp(`partition ${partition}\\b`));
    expect(refused.elapsedMs, what).toBeLessThan(REFUSAL_BOUND_MS);
  }
  console.log(`minority (${writesTo}): 503 refusals after ${refusals.map((r) => r.refused.elapsedMs).join(', ')} ms`);
  const stillServed = await readAll(survivor.url, { namespace: '/minority/**' });
  expect(byPartition(stillServed.events)).toEqual(byPartition(committed));

  cluster.restart(second!.nodeId);
  const restartedAt = Date.now();
  const resumed = await waitFor(async () => {
    const answer = await postEvents(survivor.url, { namespace: namespaces[0]!, data: 'majority again' });
    if (answer.status !== 201 && !isRetryableUnavailable(answer)) throw new Error(`not a retryable refusal: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.status === 201 ? answer : false;
  }, 'a write to succeed once two of three brokers run', 30_000);
  console.log(`minority (${writesTo}): first write acknowledged ${Date.now() - restartedAt} ms after restarting broker ${second!.nodeId}`);
  const id = (resumed.body as { id: string }).id;
  // The restarted broker answers reads once it caught up with what the cluster committed (until then: 503).
  await cluster.waitFormed([survivorNodeId, second!.nodeId]);
  const read = await waitFor(async () => {
    const page = await readAll(second!.url, { namespace: namespaces[0]! });
    return page.events.some((e) => e.id === id) ? page.events : false;
  }, 'the restarted broker to serve the new write');
  // A refusal that says the outcome is unknown (a leader cut off after it appended) may be committed once a
  // majority is back — Raft keeps what the old leader had appended; a refusal that says nothing was stored may not.
  const unknown = refusals.find((r) => r.namespace === namespaces[0])?.refused.body as { code?: string } | undefined;
  const seen = read.map((e) => e.data).filter((data) => !(unknown?.code === 'FLO_ERR_OUTCOME_UNKNOWN' && data === 'no quorum'));
  expect(seen).toEqual([1, 2, 3].map((i) => `${namespaces[0]}:${i}`).concat('majority again'));
}
