// Membership as an adversary would try it: a join with the wrong cluster secret,
// admin calls with ids that are not ids, and two drains racing on a cluster that
// can lose only one broker. Real brokers on loopback.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster } from '../support/cluster.js';
import { tempDir, waitFor } from '../support/temp.js';
import { request } from '../cluster/http.js';

let cluster: TestCluster;
let dir: Awaited<ReturnType<typeof tempDir>>;

beforeAll(async () => {
  dir = await tempDir();
  await writeFile(join(dir.path, 'secret'), 'the-right-secret-of-this-cluster\n');
  await writeFile(join(dir.path, 'wrong'), 'a-wrong-secret-somebody-guessed\n');
  cluster = await TestCluster.start({ brokers: 3, args: ['--partitions', '2', '--cluster-secret-file', join(dir.path, 'secret')] });
});
afterAll(async () => {
  await cluster?.close();
  await dir?.remove();
});

async function members(): Promise<string> {
  return (await cluster.status(1)).brokers.map((b) => `${b.member}:${b.state}`).join(',');
}

describe('hostile membership requests', () => {
  it('registers no member for a join with the wrong cluster secret', async () => {
    const before = await members();
    const joining = cluster.join({ args: ['--cluster-secret-file', join(dir.path, 'wrong')] }).catch((error: Error) => error);
    // It keeps asking (a join waits for its seed); give it several rounds.
    await new Promise((resolve) => setTimeout(resolve, 4000));
    expect(await members()).toBe(before);
    await cluster.close();
    const outcome = await joining;
    expect(outcome).toBeInstanceOf(Error);
    cluster = await TestCluster.start({ brokers: 3, args: ['--partitions', '2', '--cluster-secret-file', join(dir.path, 'secret')] });
  });

  it.each(['0', '-1', 'abc', '99999999999', '1.5'])('answers a member id of %s with a 4xx problem, never a 500 or a hang', async (id) => {
    for (const [method, path] of [['POST', `/v1/admin/members/${id}/drain`], ['DELETE', `/v1/admin/members/${id}`], ['GET', `/v1/admin/members/${id}/restart-check`]] as const) {
      const answer = await request(`${cluster.broker(1).url}${path}`, { method });
      expect(typeof answer.status === 'number' && answer.status >= 400 && answer.status < 500, `${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`).toBe(true);
      expect(answer.contentType).toMatch(/json/);
    }
  });

  it('lets at most one of two racing drains pass when the cluster can lose only one broker', async () => {
    const fourth = await cluster.join();
    await waitFor(async () => (await members()).endsWith(`${fourth.nodeId}:active`), 'the fourth broker to become active', 60_000);
    const [a, b] = await Promise.all([
      request(`${cluster.broker(1).url}/v1/admin/members/2/drain`, { method: 'POST' }),
      request(`${cluster.broker(3).url}/v1/admin/members/3/drain`, { method: 'POST' }),
    ]);
    expect([a.status, b.status].sort()).toEqual([202, 409]);
    const status = await cluster.status(1);
    expect(status.brokers.filter((broker) => broker.state === 'draining')).toHaveLength(1);
  });
});
