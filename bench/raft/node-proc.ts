// One benchmark member in its own process: a RaftNode (LevelDB with fsync, TCP
// transport on 127.0.0.1) driven by the parent over IPC. When told to, the leader
// runs the closed-loop load itself: `inflight` proposals of `size` bytes always
// outstanding, each replaced as soon as it is acknowledged (committed on a quorum
// that fsynced it, and applied here).

import { RaftNode } from '../../src/broker/replication/raft-node.js';
import { RaftStorage } from '../../src/broker/storage/raft-storage.js';
import { TcpTransport } from '../../src/broker/transport/tcp-transport.js';

interface Config {
  id: number;
  port: number;
  peers: Record<string, number>;
  dataDir: string;
}

type Command =
  | { cmd: 'status' }
  | { cmd: 'cpu' }
  | { cmd: 'load'; warmupSeconds: number; seconds: number; inflight: number; size: number }
  | { cmd: 'stop' };

const config = JSON.parse(process.argv[2] ?? '{}') as Config;
const storage = await RaftStorage.open({ dataDir: config.dataDir });
const transport = await TcpTransport.listen({ nodeId: config.id, port: config.port });
for (const [id, port] of Object.entries(config.peers)) transport.addPeer(Number(id), { host: '127.0.0.1', port });
let applied = 0;
const node = await RaftNode.start({
  groupId: 1, nodeId: config.id, storage, transport, founders: [1, 2, 3],
  maxMessageBytes: process.env['FLO_BENCH_MAX_MESSAGE_BYTES'] === undefined ? undefined : Number(process.env['FLO_BENCH_MAX_MESSAGE_BYTES']),
  stateMachine: { apply: (entries) => { applied += entries.length; } },
});

function reply(message: object): void {
  process.send?.(message);
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
}

async function runLoad(c: Extract<Command, { cmd: 'load' }>): Promise<object> {
  const pool = Buffer.alloc(c.size * 4096);
  for (let i = 0; i < pool.length; i++) pool[i] = (i * 31 + 7) & 0xff;
  const latencies = new Float64Array(20_000_000);
  let recorded = 0;
  let measuring = false;
  let stopping = false;
  let committed = 0;
  let errors = 0;
  let slot = 0;
  let outstanding = 0;
  const one = (): void => {
    const data = pool.subarray((slot % 4096) * c.size, (slot % 4096 + 1) * c.size);
    slot++;
    const started = performance.now();
    outstanding++;
    node.propose(data).then(
      () => {
        outstanding--;
        if (measuring) {
          committed++;
          if (recorded < latencies.length) latencies[recorded++] = performance.now() - started;
        }
        if (!stopping) one();
      },
      () => {
        outstanding--;
        errors++;
        if (!stopping) setTimeout(one, 10);
      },
    );
  };
  for (let i = 0; i < c.inflight; i++) one();
  await new Promise((resolve) => setTimeout(resolve, c.warmupSeconds * 1000));
  const termAtStart = node.status().term;
  const cpuStart = process.cpuUsage();
  const t0 = performance.now();
  measuring = true;
  await new Promise((resolve) => setTimeout(resolve, c.seconds * 1000));
  measuring = false;
  const elapsedMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpuStart);
  stopping = true;
  for (let i = 0; i < 2000 && outstanding > 0; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  const sorted = latencies.slice(0, recorded).sort();
  return {
    committed, elapsedMs, errors,
    p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99),
    leaderCpuMs: (cpu.user + cpu.system) / 1000,
    stats: { ...node.stats },
    // A leadership change during the window would make every proposal here fail: say so.
    leadershipLost: !node.isLeader || node.status().term !== termAtStart,
  };
}

let cpuMark = process.cpuUsage();
process.on('message', (raw: Command) => {
  switch (raw.cmd) {
    case 'status':
      reply({ status: node.status(), applied });
      return;
    case 'cpu': {
      const used = process.cpuUsage(cpuMark);
      cpuMark = process.cpuUsage();
      reply({ cpuMs: (used.user + used.system) / 1000, stats: { ...node.stats } });
      return;
    }
    case 'load':
      void runLoad(raw).then(reply);
      return;
    case 'stop':
      void (async () => {
        await node.close();
        await transport.close();
        await storage.close();
        process.exit(0);
      })();
      return;
  }
});
reply({ ready: true });
