// A member killed -9, restarted, and killed -9 again comes back: a member's
// store resumes where its events end (its Raft log decides offsets), so its
// offsets file never records an unclean stop's reservation as acknowledged
// (which made the second restart refuse the store as missing acknowledged events).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster } from '../support/cluster.js';
import { postEvents } from './http.js';

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await TestCluster.start({ brokers: 3 });
});
afterAll(async () => {
  await cluster?.close();
});

async function produce(url: string, tag: string): Promise<void> {
  for (let n = 0; n < 24; n++) {
    const answer = await postEvents(url, { namespace: `/twice/n${n % 8}`, data: `${tag}:${n}` });
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
  }
}

describe('a cluster member killed twice', () => {
  it('starts again after each kill -9 and serves every event', async () => {
    const victim = cluster.brokers[2]!;
    const survivor = cluster.brokers[0]!;
    await produce(victim.url, 'a');
    await cluster.kill(victim.nodeId);
    cluster.restart(victim.nodeId);
    await cluster.waitFormed();
    await produce(victim.url, 'b');
    await cluster.kill(victim.nodeId);
    cluster.restart(victim.nodeId);
    await cluster.waitFormed();
    await produce(survivor.url, 'c');
    const statuses = await cluster.waitFormed();
    expect(statuses.length).toBe(3);
  }, 120_000);
});
