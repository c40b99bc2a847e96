// A consumer group's position is replicated: committed through any broker, every
// broker answers with the same cursor, and it survives the group partition's
// snapshots (the machine keeps it).
import { crc32 } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PartitionMachine } from '../../../src/broker/partitions/partition-machine.js';
import { COMMAND_GROUP } from '../../../src/broker/partitions/commands.js';
import { startInProcessCluster, type InProcessCluster } from '../../support/in-process-cluster.js';
import { waitFor } from '../../support/temp.js';

let cluster: InProcessCluster;

beforeAll(async () => {
  cluster = await startInProcessCluster();
}, 60_000);

afterAll(async () => {
  await cluster.close();
});

function request(url: string, method: 'GET' | 'PUT', group: string, cursor?: string): Promise<Response> {
  return fetch(`${url}/v1/groups/${group}`, { method, headers: cursor === undefined ? {} : { 'content-type': 'application/json' }, body: cursor === undefined ? undefined : JSON.stringify({ cursor }) });
}

describe('consumer groups in a cluster', () => {
  it('a cursor committed through one broker is the group position on every broker', async () => {
    const [a, b, c] = cluster.brokers.map((broker) => broker.url!);
    await cluster.brokers[0]!.produce({ namespace: '/g/x', data: 'one' });
    const cursor = await (async () => {
      const page = await fetch(`${a}/v1/events?namespace=/g/**`, { headers: { accept: 'application/json' } });
      return (await page.json() as { cursor: string }).cursor;
    })();
    for (const [writer, name] of [[b!, 'billing'], [c!, 'shipping'], [a!, 'audit']] as const) {
      const put = await request(writer, 'PUT', name, cursor);
      expect(put.status, await put.clone().text()).toBe(200);
      // Answered once applied on the broker that took it: a read there sees it at once.
      expect(await (await request(writer, 'GET', name)).json()).toEqual({ group: name, cursor });
      await waitFor(async () => {
        const answers = await Promise.all([a!, b!, c!].map(async (url) => (await request(url, 'GET', name)).json() as Promise<{ cursor?: string }>));
        return answers.every((answer) => answer.cursor === cursor);
      }, `group ${name} on every broker`, 10_000);
    }
    expect((await request(c!, 'GET', 'never-committed')).status).toBe(404);
  }, 60_000);

  it('keeps group positions in the machine snapshot, and reads a snapshot from before groups', () => {
    const machine = new PartitionMachine();
    machine.apply({ kind: COMMAND_GROUP, group: 'billing', cursor: 'c1' });
    machine.apply({ kind: COMMAND_GROUP, group: 'billing', cursor: 'c2' });
    machine.apply({ kind: COMMAND_GROUP, group: 'shipping', cursor: 's1' });
    const restored = PartitionMachine.restore(machine.snapshot());
    expect(restored.groupCursor('billing')).toBe('c2');
    expect(restored.groupCursor('shipping')).toBe('s1');
    // A version-1 snapshot (no groups) as the previous build wrote it: header, no producers, checksum.
    const v1 = Buffer.alloc(25);
    v1.writeUInt8(1, 0);
    v1.writeDoubleBE(7, 1);
    v1.writeDoubleBE(1000, 9);
    v1.writeUInt32BE(0, 17);
    v1.writeUInt32BE(crc32(v1.subarray(0, 21)), 21);
    const old = PartitionMachine.restore(v1);
    expect(old.nextOffset).toBe(7);
    expect(old.groupCursor('billing')).toBeUndefined();
  });
});
