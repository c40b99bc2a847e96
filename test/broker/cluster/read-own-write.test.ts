// A produce answered by a broker that does not lead the partition is answered once
// the events are written to that broker's own store: reading the id right after the
// 201 from the same broker finds it (it used to wait only for the machine's apply,
// before the store write readers see).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcessCluster, type InProcessCluster } from '../../support/in-process-cluster.js';

let cluster: InProcessCluster;

beforeAll(async () => {
  cluster = await startInProcessCluster({ partitions: 4 });
}, 60_000);

afterAll(async () => {
  await cluster.close();
});

describe('read your own write on any broker', () => {
  it('finds every event by id on the broker that acknowledged it, at once', async () => {
    const missing: string[] = [];
    const writes = 300;
    for (let n = 0; n < writes; n++) {
      const broker = cluster.brokers[n % 3]!;
      const posted = await fetch(`${broker.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ namespace: `/own/${n % 8}`, data: String(n) }) });
      expect(posted.status).toBe(201);
      const { id } = await posted.json() as { id: string };
      const read = await fetch(`${broker.url}/v1/events/${id}`);
      if (read.status !== 200) missing.push(`${id} on broker ${(n % 3) + 1}: ${read.status}`);
    }
    expect(missing).toEqual([]);
  }, 120_000);
});
