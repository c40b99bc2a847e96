// A broker cut off from the majority (the other two stopped) keeps serving what
// was committed, refuses writes with a retryable 503 naming the partition
// within a bounded time, and takes writes again once a second broker is back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionOf } from '../../src/common/namespace.js';
import { TestCluster } from '../support/cluster.js';
import { waitFor } from '../support/temp.js';
import { byPartition, isRetryableUnavailable, postEvents, readAll } from './http.js';

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await TestCluster.start({ brokers: 3 });
});
afterAll(async () => {
  await cluster?.close();
});

/** What the cluster promises is ~5 s; the bound asserted leaves room for a loaded 2-core machine. */
const REFUSAL_BOUND_MS = 10_000;

describe('a broker on the minority side', () => {
  it('refuses writes with a 503 naming the partition, serves committed reads, and writes again once a majority is back', async () => {
    const [survivor, second, third] = cluster.brokers;
    const namespaces = ['/minority/a', '/minority/b', '/minority/c', '/minority/d'];
    const before = await postEvents(survivor!.url, { events: namespaces.flatMap((namespace) => [1, 2, 3].map((i) => ({ namespace, data: `${namespace}:${i}` }))) });
    expect(before.status, JSON.stringify(before.body)).toBe(201);
    const committed = await waitFor(async () => {
      const page = await readAll(survivor!.url, { namespace: '/minority/**' });
      return page.events.length === 12 ? page.events : false;
    }, 'the survivor to apply the committed events');

    const stopping = Date.now();
    await cluster.stop(second!.nodeId);
    await cluster.stop(third!.nodeId);
    console.log(`minority: two graceful stops took ${Date.now() - stopping} ms`);

    // One request per namespace at once: each waits the ~5 s for a leader on its own.
    const refusals = await Promise.all(namespaces.map(async (namespace) => ({ namespace, refused: await postEvents(survivor!.url, { namespace, data: 'no quorum' }) })));
    const refusalMs: number[] = [];
    for (const { namespace, refused } of refusals) {
      expect(refused.status, JSON.stringify(refused.body)).toBe(503);
      expect(isRetryableUnavailable(refused), JSON.stringify(refused.body)).toBe(true);
      expect((refused.body as { detail: string }).detail).toMatch(new RegExp(`partition ${partitionOf(namespace, 8)}\\b`));
      expect(refused.elapsedMs).toBeLessThan(REFUSAL_BOUND_MS);
      refusalMs.push(refused.elapsedMs);
    }
    console.log(`minority: 503 refusals after ${refusalMs.join(', ')} ms`);
    const stillServed = await readAll(survivor!.url, { namespace: '/minority/**' });
    expect(byPartition(stillServed.events)).toEqual(byPartition(committed));

    cluster.restart(second!.nodeId);
    const restartedAt = Date.now();
    const resumed = await waitFor(async () => {
      const answer = await postEvents(survivor!.url, { namespace: '/minority/a', data: 'majority again' });
      if (answer.status !== 201 && !isRetryableUnavailable(answer)) throw new Error(`not a retryable refusal: ${answer.status} ${JSON.stringify(answer.body)}`);
      return answer.status === 201 ? answer : false;
    }, 'a write to succeed once two of three brokers run', 30_000);
    console.log(`minority: first write acknowledged ${Date.now() - restartedAt} ms after restarting broker ${second!.nodeId}`);
    const id = (resumed.body as { id: string }).id;
    const read = await waitFor(async () => {
      const page = await readAll(second!.url, { namespace: '/minority/a' });
      return page.events.some((e) => e.id === id) ? page.events : false;
    }, 'the restarted broker to serve the new write');
    expect(read.map((e) => e.data)).toEqual(['/minority/a:1', '/minority/a:2', '/minority/a:3', 'majority again']);
  });
});
