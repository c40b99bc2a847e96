// `flo cluster health | drain | remove | restart-check` against real brokers: what
// a person types to grow and shrink a cluster, with its output and exit codes.
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster } from '../support/cluster.js';
import { CLI_PATH } from '../support/server-process.js';

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await TestCluster.start({ brokers: 3, args: ['--partitions', '2'] });
});
afterAll(async () => {
  await cluster?.close();
});

function flo(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI_PATH, ...args], { timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('flo cluster membership commands', () => {
  it('has --help for every command', async () => {
    for (const command of ['health', 'drain', 'remove', 'restart-check']) {
      const { code, stdout } = await flo(['cluster', command, '--help']);
      expect(code).toBe(0);
      expect(stdout).toContain(`flo cluster ${command}`);
    }
  });

  it('drains and removes a broker that joined, refusing what would lose replicas, with clear lines and exit codes', async () => {
    const url = cluster.broker(1).url;
    const joined = await cluster.join();
    await expect.poll(async () => (await flo(['cluster', 'health', '--url', url])).code, { timeout: 60_000, interval: 500 }).toBe(0);
    const health = await flo(['cluster', 'health', '--url', url]);
    expect(health.stdout).toMatch(/^healthy: 2 partitions, 0 without a leader, 0 under-replicated; controller leader \d; members active: 1, 2, 3, 4\n/);

    const status = await flo(['cluster', 'status', '--url', joined.url]);
    expect(status.stdout).toMatch(/4 .* active .* 2 replicas .*\(this broker\)/);

    const early = await flo(['cluster', 'remove', String(joined.nodeId), '--url', url]);
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(/^flo: node 4 still holds replicas .* drain it first; only a broker gone for good is removed with force \(flo cluster remove --force, or \?force=true\) \(FLO_ERR_MEMBERSHIP_REFUSED\)\n$/);

    const check = await flo(['cluster', 'restart-check', '2', '--url', url]);
    expect(check).toMatchObject({ code: 0 });
    expect(check.stdout).toMatch(/^node 2: restart safe/);

    const drain = await flo(['cluster', 'drain', String(joined.nodeId), '--wait', '--url', url]);
    expect(drain.code, drain.stderr).toBe(0);
    expect(drain.stdout).toMatch(/node 4: draining .*\n.*node 4: drained; remove it with: flo cluster remove 4 --url http:\/\/127\.0\.0\.1:\d+\n$/s);
    // Drained, it holds no replica: it refuses reads and writes rather than answer from what it no longer keeps.
    const stale = await fetch(`${joined.url}/v1/events?from=earliest`);
    expect(stale.status).toBe(503);
    expect(await stale.json()).toMatchObject({ code: 'FLO_ERR_UNAVAILABLE', detail: expect.stringMatching(/node 4 is drained \(it holds no replica\): remove it .*use another broker/) });
    // The CLI, given only that broker, learns the others from it and reads there instead.
    const consume = await flo(['consume', '--url', joined.url, '-n', '/**']);
    expect(consume.code, consume.stderr).toBe(0);
    const drained = await flo(['cluster', 'status', '--url', url]);
    expect(drained.stdout).toMatch(/\n {2}4 .* drained .* 0 replicas/);
    expect(drain.stderr).toMatch(/flo: node 4: 0 partitions left, leads 0/);

    const belowRf = await flo(['cluster', 'drain', '3', '--url', url]);
    expect(belowRf.code).toBe(1);
    expect(belowRf.stderr).toMatch(/would leave 2 brokers to hold 3 replicas .* add a broker first \(FLO_ERR_MEMBERSHIP_REFUSED\)/);

    const removed = await flo(['cluster', 'remove', String(joined.nodeId), '--url', url]);
    expect(removed).toMatchObject({ code: 0, stdout: 'node 4: removed\n' });
    expect((await flo(['cluster', 'status', '--url', url])).stdout).toMatch(/\n {2}4 .* - +removed /);
    expect((await flo(['cluster', 'drain', '4', '--url', url])).stderr).toMatch(/node 4 was removed from the cluster \(FLO_ERR_MEMBER_NOT_FOUND\)/);
    const unknown = await flo(['cluster', 'drain', '9', '--url', url]);
    expect(unknown.stderr).toMatch(/no member 9 .*FLO_ERR_MEMBER_NOT_FOUND/);
    const bad = await flo(['cluster', 'drain', 'x', '--url', url]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/expected a positive whole number/);
  });
});
