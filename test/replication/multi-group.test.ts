import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RaftNode } from '../../src/broker/replication/raft-node.js';
import { GroupTicker } from '../../src/broker/replication/ticker.js';
import { RaftStorage } from '../../src/broker/storage/raft-storage.js';
import { TcpTransport } from '../../src/broker/transport/tcp-transport.js';
import { RecordingMachine, until } from './cluster.js';

describe('multi-Raft', () => {
  it('runs several groups over one transport and one LevelDB per broker, each with its own log', async () => {
    const ids = [1, 2, 3];
    const groups = [10, 11, 12];
    const dirs = await Promise.all(ids.map((id) => mkdtemp(path.join(tmpdir(), `flo-multi-${id}-`))));
    const transports = await Promise.all(ids.map((nodeId) => TcpTransport.listen({ nodeId })));
    const storages = await Promise.all(dirs.map((dataDir) => RaftStorage.open({ dataDir })));
    // One ticker per broker drives all of its groups.
    const tickers = ids.map(() => new GroupTicker(10));
    for (const t of transports) for (const u of transports) if (t !== u) t.addPeer(u.nodeId, { host: '127.0.0.1', port: u.port });
    const nodes: { group: number; node: RaftNode; machine: RecordingMachine }[] = [];
    try {
      for (const group of groups) {
        for (let i = 0; i < ids.length; i++) {
          const machine = new RecordingMachine();
          const node = await RaftNode.start({
            groupId: group, nodeId: ids[i] ?? 0, storage: storages[i] as RaftStorage, transport: transports[i] as TcpTransport,
            stateMachine: machine, founders: ids, seed: group * 10 + i, electionTicks: 10, heartbeatTicks: 1, ticker: tickers[i]!,
          });
          nodes.push({ group, node, machine });
        }
      }
      for (const group of groups) {
        await until(() => nodes.some((n) => n.group === group && n.node.isLeader));
        const leader = nodes.find((n) => n.group === group && n.node.isLeader);
        await leader?.node.propose(new TextEncoder().encode(`g${group}`));
      }
      await until(() => nodes.every((n) => n.machine.values.length === 1));
      for (const n of nodes) expect(n.machine.values).toEqual([`g${n.group}`]);
      expect(tickers.map((t) => t.size)).toEqual([3, 3, 3]);
      // One connection per broker pair carries all three groups.
      expect(transports.every((t) => ids.every((id) => id === t.nodeId || t.connected(id)))).toBe(true);
    } finally {
      for (const n of nodes) await n.node.close();
      for (const t of transports) await t.close();
      for (const s of storages) await s.close();
      for (const dir of dirs) await rm(dir, { recursive: true, force: true });
    }
  });
});
