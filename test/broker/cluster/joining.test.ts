// Asking to join: a refusal that cannot change ends the join when a named seed (--join, the
// founders) or a member gave it; a broker found behind --peers-service may be no member at all (one
// that takes no joins), and the join goes on to the next address.
import { afterEach, describe, expect, it } from 'vitest';
import type { Discover } from '../../../src/broker/cluster/discovery.js';
import { joinCluster } from '../../../src/broker/cluster/joining.js';
import { TcpTransport } from '../../../src/broker/transport/tcp-transport.js';
import { FloError } from '../../../src/common/errors.js';
import { silentLogger, tempDir } from '../../support/temp.js';

const auth = { clusterId: 'flo', secret: undefined };
const open: TcpTransport[] = [];
const dirs: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((transport) => transport.close()));
  await Promise.all(dirs.splice(0).map((remove) => remove()));
});

/** A broker that takes no joins (answers FLO_ERR_MEMBERSHIP_REFUSED), and a member that gives id 7. */
async function brokers(): Promise<{ refuser: TcpTransport; member: TcpTransport }> {
  const refuser = await TcpTransport.listen({ nodeId: 9, host: '127.0.0.1', auth, acceptProbes: true });
  const member = await TcpTransport.listen({
    nodeId: 1, host: '127.0.0.1', auth, acceptProbes: true,
    onJoin: () => Promise.resolve({ id: 7, founders: [{ id: 1, peer: '127.0.0.1:1' }], members: [{ id: 1, peer: '127.0.0.1:1' }], replicationFactor: 1, partitions: 2 }),
  });
  open.push(refuser, member);
  return { refuser, member };
}

async function ask(seeds: number[], discovered: number[]): Promise<number> {
  const dir = await tempDir();
  dirs.push(dir.remove);
  const discover: Discover = () => Promise.resolve(discovered.map((port) => ({ host: '127.0.0.1', port })));
  const answer = await joinCluster({
    dataDir: dir.path, seeds: seeds.map((port) => ({ host: '127.0.0.1', port })), discover, auth, peer: '127.0.0.1:2', url: null, logger: silentLogger,
  });
  return answer.self;
}

describe('joining through --peers-service', () => {
  it('goes past a discovered broker that refuses for good, to a member that takes it', async () => {
    const { refuser, member } = await brokers();
    expect(await ask([], [refuser.port, member.port])).toBe(7);
  });

  it('ends on a discovered member\'s refusal that cannot change', async () => {
    const { member } = await brokers();
    const refusing = await TcpTransport.listen({
      nodeId: 3, host: '127.0.0.1', auth, acceptProbes: true, selfInfo: () => ({ url: null, peer: null, members: [1, 3] }),
      onJoin: () => Promise.reject(new FloError('FLO_ERR_MEMBERSHIP_REFUSED', 'node 4 was removed from the cluster')),
    });
    open.push(refusing);
    await expect(ask([], [refusing.port, member.port])).rejects.toThrow(/refused the join: node 4 was removed/);
  });

  it('still ends on a named seed\'s refusal that cannot change', async () => {
    const { refuser, member } = await brokers();
    await expect(ask([refuser.port], [member.port])).rejects.toThrow(/refused the join: this broker takes no joins/);
  });

  it('ends at once, naming both cluster ids, when a named seed belongs to another cluster (a wrong --cluster-id)', async () => {
    const { member } = await brokers();
    const dir = await tempDir();
    dirs.push(dir.remove);
    await expect(joinCluster({
      dataDir: dir.path, seeds: [{ host: '127.0.0.1', port: member.port }], auth: { clusterId: 'other', secret: undefined }, peer: '127.0.0.1:2', url: null, logger: silentLogger,
    })).rejects.toMatchObject({ code: 'FLO_ERR_CONFIG_INVALID', message: expect.stringMatching(/belongs to cluster "flo", not "other" \(--cluster-id\)/) });
  });
});
