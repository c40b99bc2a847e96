// One benchmark member in its own process: a RaftNode (LevelDB with fsync, TCP
// transport on 127.0.0.1) driven by the parent over IPC. When told to, the leader
// runs the closed-loop load itself: `inflight` proposals of `size` bytes always
// outstanding, each replaced as soon as it is acknowledged (committed on a quorum
// that fsynced it, and applied here).

import { RaftNode } from '../../src/broker/replication/raft-node.js';
import { RaftStorage } from '../../src/broker/storage/raft-storage.js';
import { TcpTransport } from '../../src/broker/transport/tcp-transport.js';
import { runClosedLoop } from './closed-loop.js';

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

async function runLoad(c: Extract<Command, { cmd: 'load' }>): Promise<object> {
  const pool = Buffer.alloc(c.size * 4096);
  for (let i = 0; i < pool.length; i++) pool[i] = (i * 31 + 7) & 0xff;
  let slot = 0;
  let termAtStart = 0;
  const result = await runClosedLoop({
    ...c,
    maxSamples: 20_000_000,
    operation: () => {
      const data = pool.subarray((slot % 4096) * c.size, (slot % 4096 + 1) * c.size);
      slot++;
      return node.propose(data);
    },
    onMeasureStart: () => (termAtStart = node.status().term),
  });
  return {
    committed: result.done, elapsedMs: result.elapsedMs, errors: result.errors,
    p50: result.p50, p99: result.p99,
    leaderCpuMs: result.cpuMs,
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
