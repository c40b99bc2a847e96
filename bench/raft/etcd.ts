// The etcd side of the Raft benchmarks: a 3-member etcd cluster (apt etcd-server)
// on 127.0.0.1 with data in temp dirs, every process stopped by PID. etcd fsyncs its
// WAL before acknowledging a put. `startEtcdCluster` is shared with `npm run bench`'s
// W4; `runEtcd` is bench:raft's closed loop, whose client runs in its own process.

import { fork, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { freePort, makeTempDir, processCpuSeconds, startServer, stopServer, type ServerProcess } from '../lib/proc.js';
import type { LoadOptions, RunResult } from './flo.js';

/** How long every member gets to listen for clients. */
export const ETCD_START_TIMEOUT_MS = 20_000;
/** etcd's default backend quota (2 GiB) is near what a long run writes; raise it out of the way. */
const QUOTA_BACKEND_BYTES = 8 * 1024 * 1024 * 1024;

export interface EtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly server: ServerProcess;
}

export interface EtcdCluster {
  readonly members: readonly EtcdMember[];
  stop(): Promise<void>;
}

async function waitForPort(port: number, timeoutMs: number, server: ServerProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (server.hasExited()) throw new Error(`etcd ${server.name} exited: ${server.output()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`etcd did not listen on ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Starts `size` etcd members forming one new cluster; resolves once all listen for clients. */
export async function startEtcdCluster(binary = 'etcd', size = 3): Promise<EtcdCluster> {
  const plan: { name: string; client: number; peer: number; dir: string }[] = [];
  for (let i = 1; i <= size; i++) plan.push({ name: `n${i}`, client: await freePort(), peer: await freePort(), dir: makeTempDir(`etcd-${i}`) });
  const initialCluster = plan.map((m) => `${m.name}=http://127.0.0.1:${m.peer}`).join(',');
  const members: EtcdMember[] = plan.map((m) => ({
    name: m.name,
    clientUrl: `http://127.0.0.1:${m.client}`,
    server: startServer(`etcd ${m.name}`, binary, [
      '--name', m.name, '--data-dir', m.dir,
      '--listen-client-urls', `http://127.0.0.1:${m.client}`, '--advertise-client-urls', `http://127.0.0.1:${m.client}`,
      '--listen-peer-urls', `http://127.0.0.1:${m.peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peer}`,
      '--initial-cluster', initialCluster, '--initial-cluster-state', 'new', '--initial-cluster-token', 'flo-bench',
      '--log-level', 'error', '--quota-backend-bytes', String(QUOTA_BACKEND_BYTES),
    ], m.dir),
  }));
  const stop = async (): Promise<void> => {
    await Promise.all(members.map((member) => stopServer(member.server)));
  };
  try {
    for (const [i, member] of members.entries()) await waitForPort(plan[i]!.client, ETCD_START_TIMEOUT_MS, member.server);
  } catch (error) {
    await stop();
    throw error;
  }
  return { members, stop };
}

export async function runEtcd(load: LoadOptions, binary = 'etcd'): Promise<RunResult> {
  const cluster = await startEtcdCluster(binary);
  let client: ChildProcess | null = null;
  try {
    const proc = fork(path.join(import.meta.dirname, 'etcd-client.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    client = proc;
    const messages: Record<string, unknown>[] = [];
    const next = (): Promise<Record<string, unknown>> => new Promise((resolve) => {
      const poll = (): void => {
        const m = messages.shift();
        if (m !== undefined) resolve(m);
        else setTimeout(poll, 10);
      };
      poll();
    });
    proc.on('message', (m: Record<string, unknown>) => messages.push(m));
    proc.send({ hosts: cluster.members.map((m) => m.clientUrl), ...load });
    await next(); // measuring started
    const before = cluster.members.map((m) => processCpuSeconds(m.server.pid));
    const result = await next();
    const after = cluster.members.map((m) => processCpuSeconds(m.server.pid));
    const seconds = Number(result['elapsedMs']) / 1000;
    const cpu: Record<string, number> = { 'client (etcd3 gRPC)': Number(result['cpuMs']) / 1000 / seconds };
    after.forEach((a, i) => {
      cpu[`etcd ${cluster.members[i]?.name}`] = (a - (before[i] ?? 0)) / seconds;
    });
    return {
      system: 'etcd 3.4 (3 processes)',
      entriesPerSecond: Number(result['done']) / seconds,
      p50Ms: Number(result['p50']),
      p99Ms: Number(result['p99']),
      cpu,
      errors: Number(result['errors']),
    };
  } finally {
    client?.kill('SIGKILL');
    await cluster.stop();
  }
}
