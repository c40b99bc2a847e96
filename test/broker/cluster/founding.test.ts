import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLUSTER_FILE, foundCluster, LostFounderError, parsePeerAddress, readMembership, type FoundingOptions } from '../../../src/broker/cluster/founding.js';
import type { MemberInfo } from '../../../src/broker/transport/frame.js';
import { silentLogger, tempDir as makeTempDir } from '../../support/temp.js';

const made: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(made.splice(0).map((remove) => remove()));
});
async function tempDir(): Promise<string> {
  const dir = await makeTempDir();
  made.push(dir.remove);
  return dir.path;
}

const peers = ['127.0.0.1:4001', '127.0.0.1:4002', '127.0.0.1:4003'].map((peer) => parsePeerAddress(peer));

/**
 * A transport whose probe answers with the id configured for each port (undefined: nobody listens there yet),
 * the others with `info`; the prober itself (node `self`, 1 unless told) has formed nothing and says so.
 */
function fakeProbe(ids: Record<number, number | undefined>, info: Partial<MemberInfo> = {}, self = 1): FoundingOptions['transport'] {
  return {
    probe: async (address) => {
      const id = ids[address.port];
      if (id === undefined) throw new Error('connection refused');
      return { id, info: { url: null, peer: null, probe: false, ...(id === self ? {} : info) } };
    },
  };
}

function options(dataDir: string, ids: Record<number, number | undefined>, extra: Partial<FoundingOptions> = {}): FoundingOptions {
  return { dataDir, nodeId: 1, clusterId: 'flo', founders: peers, replicationFactor: undefined, transport: fakeProbe(ids), logger: silentLogger, ...extra };
}

describe('founding a cluster', () => {
  it('refuses an empty founder once its cluster formed over a minute ago or a member has replicated with it: it lost its data', async () => {
    const formed = { members: [1, 2, 3] };
    await expect(foundCluster({ ...options(await tempDir(), {}), transport: fakeProbe({ 4001: 1, 4002: 2, 4003: 3 }, { ...formed, formedAgoMs: 120_000 }) }))
      .rejects.toThrow(/formed 120 s ago .* --join 127\.0\.0\.1:400\d .*DELETE \/v1\/admin\/members\/1\?force=true/);
    await expect(foundCluster({ ...options(await tempDir(), {}), transport: fakeProbe({ 4001: 1, 4002: 2, 4003: 3 }, { ...formed, formedAgoMs: 2_000, seen: true }) }))
      .rejects.toThrow(/has already replicated with node 1/);
    // Formed by an older version (no age): treated as formed long ago.
    await expect(foundCluster({ ...options(await tempDir(), {}), transport: fakeProbe({ 4001: 1, 4002: 2, 4003: 3 }, { ...formed }) })).rejects.toThrow(/a while ago/);
    // A founder that is merely late (formed moments ago, never replicated with it) still forms.
    const late = await foundCluster({ ...options(await tempDir(), {}), transport: fakeProbe({ 4001: 1, 4002: 2, 4003: 3 }, { ...formed, formedAgoMs: 2_000, seen: false }) });
    expect(late.members.map((member) => member.id)).toEqual([1, 2, 3]);
  });

  it('refuses as a configuration error, not a lost volume, when a member of the formed cluster answers as this node', async () => {
    // Started with node 2's flags on another data dir (and another peer port): node 2 answers at its own address.
    const formed = { members: [1, 2, 3], formedAgoMs: 120_000 };
    const duplicate = foundCluster({ ...options(await tempDir(), {}), nodeId: 2, transport: fakeProbe({ 4001: 1, 4002: 2, 4003: 3 }, formed, 9) });
    await expect(duplicate).rejects.toThrow(/node 2 is running at 127\.0\.0\.1:4002, a member of the formed cluster: this broker was started with its --node-id on another data dir/);
    await expect(duplicate).rejects.toMatchObject({ code: 'FLO_ERR_CONFIG_INVALID' });
    await expect(duplicate).rejects.not.toBeInstanceOf(LostFounderError);
  });

  it('asks the brokers behind --peers-service too: a lone founder whose volume was lost is refused, naming a member to join through', async () => {
    const alone = [parsePeerAddress('127.0.0.1:4001')];
    // Itself (not formed) and a joined member of its cluster, formed long ago, at the same peer port.
    const discover = async (): Promise<Array<{ host: string; port: number }>> => [{ host: '127.0.0.1', port: 4001 }, { host: '127.0.0.2', port: 4001 }];
    const transport: FoundingOptions['transport'] = {
      probe: async (address) => (address.host === '127.0.0.2'
        ? { id: 2, info: { url: null, peer: null, probe: false, members: [1], formedAgoMs: 600_000 } }
        : { id: 1, info: { url: null, peer: null, probe: false } }),
    };
    const refused = foundCluster({ ...options(await tempDir(), {}), founders: alone, transport, discover });
    await expect(refused).rejects.toThrow(/127\.0\.0\.2:4001 says so/);
    await expect(refused).rejects.toMatchObject({ code: 'FLO_ERR_DATA_DIR_MISMATCH', seed: { host: '127.0.0.2', port: 4001 } });
    // Nobody else formed (the first start of the cluster): it forms.
    const first = await foundCluster({ ...options(await tempDir(), {}), founders: alone, transport, discover: async () => [{ host: '127.0.0.1', port: 4001 }] });
    expect(first.members.map((member) => member.id)).toEqual([1]);
  });

  it('never takes an empty or failing lookup, or a broker that does not answer, for "nobody formed": it waits', async () => {
    const alone = [parsePeerAddress('127.0.0.1:4001')];
    let rounds = 0;
    let memberUp = false;
    // The lookup finds nobody at first (DNS down), then itself and a member that answers only later.
    const discover = async (): Promise<Array<{ host: string; port: number }>> => (++rounds < 3 ? [] : [{ host: '127.0.0.1', port: 4001 }, { host: '127.0.0.2', port: 4001 }]);
    setTimeout(() => { memberUp = true; }, 700);
    const transport: FoundingOptions['transport'] = {
      probe: async (address) => {
        if (address.host !== '127.0.0.2') return { id: 1, info: { url: null, peer: null, probe: false } };
        if (!memberUp) throw new Error('connection refused');
        return { id: 2, info: { url: null, peer: null, probe: false, members: [1], formedAgoMs: 600_000 } };
      },
    };
    await expect(foundCluster({ ...options(await tempDir(), {}), founders: alone, transport, discover })).rejects.toMatchObject({ seed: { host: '127.0.0.2', port: 4001 } });
    expect(rounds).toBeGreaterThanOrEqual(3);
  });

  it('parses host:port, [v6]:port and DNS names, and names the flag on anything else', () => {
    expect(parsePeerAddress('flo-0.flo.ns.svc:4000')).toEqual({ host: 'flo-0.flo.ns.svc', port: 4000 });
    expect(parsePeerAddress('[::1]:4001')).toEqual({ host: '::1', port: 4001 });
    for (const bad of ['127.0.0.1', ':4000', 'host:0', 'host:70000', 'a b:1', 'http://x:1']) {
      expect(() => parsePeerAddress(bad), bad).toThrow(/--peers: .* is not host:port/);
    }
  });

  it('refuses a founder whose dir holds only a join\'s incarnation (a rejoin stopped half-way) as lost, whatever the others say', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'incarnation'), '0b7c3f52-0000-4000-8000-000000000000\n');
    await mkdir(join(dir, 'damaged-2026-12-03T10-00-00-000Z'));
    const refused = foundCluster(options(dir, { 4001: 1, 4002: 2, 4003: 3 }));
    await expect(refused).rejects.toThrow(/join that did not finish/);
    await expect(refused).rejects.toBeInstanceOf(LostFounderError);
    // With anything else beside it, it is the usual refusal of a store that is not a member's.
    await writeFile(join(dir, '000001.log'), '');
    await expect(foundCluster(options(dir, { 4001: 1, 4002: 2, 4003: 3 }))).rejects.toThrow(/not a cluster member/);
  });

  it('refuses a founder whose cluster.json outlived its store (or was copied in) once the cluster formed a minute ago', async () => {
    const dir = await tempDir();
    const membership = await foundCluster(options(dir, { 4001: 1, 4002: 2, 4003: 3 }));
    // Moments after forming, before the store was created: a crash there restarts as itself.
    expect((await foundCluster(options(dir, {}))).members).toEqual(membership.members);
    const old = JSON.parse(await readFile(join(dir, CLUSTER_FILE), 'utf8')) as Record<string, unknown>;
    await writeFile(join(dir, CLUSTER_FILE), JSON.stringify({ ...old, formedAt: Date.now() - 120_000 }));
    await expect(foundCluster(options(dir, {}))).rejects.toThrow(/cluster\.json but no store, and the cluster formed 120 s ago/);
    // With a store beside it, it is an ordinary restart.
    await writeFile(join(dir, 'CURRENT'), 'MANIFEST-000001\n');
    expect((await foundCluster(options(dir, {}))).members).toEqual(membership.members);
  });

  it('takes a fresh ext4 volume (only lost+found in it) for an empty data dir', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'lost+found'));
    expect((await foundCluster(options(dir, { 4001: 1, 4002: 2, 4003: 3 }))).members.map((m) => m.id)).toEqual([1, 2, 3]);
    const lost = await tempDir();
    await mkdir(join(lost, 'lost+found'));
    await expect(foundCluster({ ...options(lost, {}), transport: fakeProbe({ 4001: 1, 4002: 2, 4003: 3 }, { members: [1, 2, 3], formedAgoMs: 120_000 }) })).rejects.toThrow(/formed 120 s ago/);
  });

  it('forms once every founder answered, ids sorted, and saves the membership', async () => {
    const dir = await tempDir();
    const membership = await foundCluster(options(dir, { 4001: 1, 4002: 7, 4003: 3 }));
    expect(membership.members).toEqual([{ id: 1, peer: '127.0.0.1:4001' }, { id: 3, peer: '127.0.0.1:4003' }, { id: 7, peer: '127.0.0.1:4002' }]);
    expect(membership.replicationFactor).toBe(3);
    expect(await readMembership(dir)).toEqual(membership);
  });

  it('waits for a founder that is not up yet, then forms', async () => {
    const dir = await tempDir();
    const ids: Record<number, number | undefined> = { 4001: 1, 4002: 2, 4003: undefined };
    setTimeout(() => (ids[4003] = 3), 400);
    const membership = await foundCluster(options(dir, ids));
    expect(membership.members.map((m) => m.id)).toEqual([1, 2, 3]);
  });

  it('a later start reads the saved membership and needs nobody', async () => {
    const dir = await tempDir();
    await foundCluster(options(dir, { 4001: 1, 4002: 2, 4003: 3 }));
    const again = await foundCluster(options(dir, {}));
    expect(again.members.map((m) => m.id)).toEqual([1, 2, 3]);
  });

  it('refuses two founders with one id, a list without this broker, and a replication factor this version cannot place', async () => {
    await expect(foundCluster(options(await tempDir(), { 4001: 1, 4002: 2, 4003: 2 }))).rejects.toThrow(/two founders have node id 2/);
    await expect(foundCluster(options(await tempDir(), { 4001: 5, 4002: 2, 4003: 3 }))).rejects.toThrow(/does not include this broker's own peer address/);
    await expect(foundCluster(options(await tempDir(), { 4001: 1, 4002: 2, 4003: 3 }, { replicationFactor: 2 }))).rejects.toThrow(/replication factor is 3/);
    await expect(foundCluster(options(await tempDir(), { 4001: 1, 4002: 2, 4003: 3 }, { replicationFactor: 4 }))).rejects.toThrow(/from 1 to the number of founders/);
  });

  it('refuses a hand-edited cluster.json that lists one member id twice', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, CLUSTER_FILE), JSON.stringify({ format: 1, clusterId: 'flo', replicationFactor: 2, members: [{ id: 1, peer: '127.0.0.1:4001' }, { id: 1, peer: '127.0.0.1:4002' }] }));
    await expect(readMembership(dir)).rejects.toThrow(/lists a member id twice \(1, 1\)/);
  });

  it('refuses a data dir that holds a one-broker store, another member\'s membership, or a damaged cluster.json', async () => {
    const single = await tempDir();
    await writeFile(join(single, 'CURRENT'), 'MANIFEST-000001\n');
    await expect(foundCluster(options(single, { 4001: 1, 4002: 2, 4003: 3 }))).rejects.toThrow(/not a cluster member .* starts from an empty data dir/);

    const other = await tempDir();
    await foundCluster(options(other, { 4001: 1, 4002: 2, 4003: 3 }));
    await expect(foundCluster(options(other, {}, { nodeId: 9 }))).rejects.toThrow(/not to node 9/);
    await expect(foundCluster(options(other, {}, { clusterId: 'other' }))).rejects.toThrow(/belongs to cluster "flo"/);

    const damaged = await tempDir();
    await mkdir(damaged, { recursive: true });
    await writeFile(join(damaged, CLUSTER_FILE), '{"format":1,');
    await expect(readMembership(damaged)).rejects.toThrow(/is not JSON/);
    await writeFile(join(damaged, CLUSTER_FILE), JSON.stringify({ format: 1, clusterId: 'flo', members: [{ id: -1, peer: 'x:1' }], replicationFactor: 1 }));
    await expect(readMembership(damaged)).rejects.toThrow(/has a "members" entry \(\{"id":-1,"peer":"x:1"\}\) without a positive integer "id"/);
    expect(await readFile(join(damaged, CLUSTER_FILE), 'utf8')).toContain('"id":-1');
    const valid = { format: 1, clusterId: 'flo', members: [{ id: 1, peer: 'x:1' }], replicationFactor: 1 };
    await writeFile(join(damaged, CLUSTER_FILE), JSON.stringify({ ...valid, formerIds: 'x' }));
    await expect(readMembership(damaged)).rejects.toThrow(/has "formerIds" "x", not a list of positive integers/);
    await writeFile(join(damaged, CLUSTER_FILE), JSON.stringify({ ...valid, self: 0 }));
    await expect(readMembership(damaged)).rejects.toThrow(/has "self" 0/);
    await writeFile(join(damaged, CLUSTER_FILE), JSON.stringify({ ...valid, format: 2 }));
    await expect(readMembership(damaged)).rejects.toThrow(/has "format" 2, not 1/);
    await writeFile(join(damaged, CLUSTER_FILE), 'null');
    await expect(readMembership(damaged)).rejects.toThrow(/is not a JSON object/);
  });
});
