import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RaftNode } from '../../src/broker/replication/raft-node.js';
import { RaftStorage } from '../../src/broker/storage/raft-storage.js';
import { TcpTransport } from '../../src/broker/transport/tcp-transport.js';
import { until } from './cluster.js';

const fixture = path.join(import.meta.dirname, 'fixtures', 'proposer.ts');
const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe('recovery after kill -9', () => {
  it('every acknowledged entry survives SIGKILL and the member resumes on the same log', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'flo-raft-kill-'));
    dirs.push(dir);
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    const acked = new Map<number, string>();
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const [tag, index, value] = line.split(' ');
        if (tag === 'ACK' && index !== undefined && value !== undefined) acked.set(Number(index), value);
      }
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    try {
      await until(() => acked.size >= 2000, 30_000);
    } finally {
      child.kill('SIGKILL');
    }
    expect(await exited).toBe('SIGKILL');

    const storage = await RaftStorage.open({ dataDir: dir });
    const mem = await storage.load(7);
    for (const [index, value] of acked) {
      const [entry] = mem.entries(index, index + 1, 1024);
      expect(new TextDecoder().decode(entry?.data), `entry ${index}`).toBe(value);
    }
    // The persisted commit index may lag (it is re-learned, so it is written without fsync); the entries may not.

    const transport = await TcpTransport.listen({ nodeId: 1 });
    const node = await RaftNode.start({ groupId: 7, nodeId: 1, storage, transport, stateMachine: { apply: () => undefined }, electionTicks: 10, heartbeatTicks: 1 });
    try {
      await until(() => node.isLeader);
      const index = await node.propose(new TextEncoder().encode('after'));
      expect(index).toBeGreaterThan(Math.max(...acked.keys()));
      expect(node.status().commitIndex).toBeGreaterThanOrEqual(index);
    } finally {
      await node.close();
      await transport.close();
      await storage.close();
    }
  }, 60_000);
});
