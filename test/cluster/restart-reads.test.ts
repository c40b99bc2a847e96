// A member restarted after missing writes answers no read until it has caught up with
// what the cluster committed: before that, an event acknowledged while it was down
// (chaos seed 511: even one it had acknowledged itself, before a --recover-store)
// would be answered 404 by it, as if it did not exist.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster } from '../support/cluster.js';
import { postEvents, request, type Answer } from './http.js';

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await TestCluster.start({ brokers: 3 });
});
afterAll(async () => {
  await cluster?.close();
});

const READ_WINDOW_MS = 20_000;

describe('a member restarted after missing writes', () => {
  it('refuses reads (503, retryable) until it holds what the cluster committed, never 404 for an acknowledged event', async () => {
    const victim = cluster.brokers[1]!;
    const survivor = cluster.brokers[0]!;
    await cluster.kill(victim.nodeId);
    await cluster.waitFormed(cluster.running().map((b) => b.nodeId));
    const acknowledged: string[] = [];
    for (let round = 0; round < 60; round++) {
      const answer = await postEvents(survivor.url, { events: Array.from({ length: 8 }, (_, i) => ({ namespace: `/restart-read/${i}`, data: `r${round}` })) });
      expect(answer.status, JSON.stringify(answer.body)).toBe(201);
      acknowledged.push(...(answer.body as { ids: string[] }).ids);
    }
    const latest = acknowledged.slice(-8);

    cluster.restart(victim.nodeId);
    const answers: Array<{ id: string; answer: Answer }> = [];
    const started = Date.now();
    const found = new Set<string>();
    while (found.size < latest.length && Date.now() - started < READ_WINDOW_MS) {
      for (const id of latest) {
        const answer = await request(`${victim.url}/v1/events/${id}`);
        if (answer.status !== 'refused') answers.push({ id, answer });
        if (answer.status === 200) found.add(id);
      }
    }
    const notFound = answers.filter(({ answer }) => answer.status === 404).map(({ id, answer }) => `${id} after ${answer.elapsedMs} ms: ${JSON.stringify(answer.body)}`);
    expect(notFound, `broker ${victim.nodeId} answered 404 for acknowledged events while catching up`).toEqual([]);
    expect([...found].sort(), `broker ${victim.nodeId} serves every acknowledged event once caught up`).toEqual([...latest].sort());
    // What it answered before: a retryable refusal naming the catch-up, so a client goes elsewhere.
    const refusals = answers.filter(({ answer }) => answer.status === 503);
    for (const { answer } of refusals) {
      expect(answer.body).toMatchObject({ code: 'FLO_ERR_UNAVAILABLE', retryable: true });
      expect((answer.body as { detail: string }).detail).toMatch(/catching up with the cluster since its start/);
    }
    console.log(`restart reads: ${answers.length} answers, ${refusals.length} refused while catching up, first 200 after ${answers.find(({ answer }) => answer.status === 200)?.answer.elapsedMs ?? '-'} ms of its request`);
  });
});
