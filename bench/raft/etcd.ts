// The etcd side of the Raft benchmark: a 3-member etcd cluster (apt etcd-server)
// on 127.0.0.1 with data in temp dirs, every process stopped by PID; the client
// runs in its own process. etcd fsyncs its WAL before acknowledging a put.

import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, processCpuSeconds } from '../lib/proc.js';
import type { LoadOptions, RunResult } from './flo.js';




async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
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

export async function runEtcd(load: LoadOptions, binary = 'etcd'): Promise<RunResult> {
  const members: { name: string; client: number; peer: number; dir: string }[] = [];
  for (let i = 1; i <= 3; i++) members.push({ name: `n${i}`, client: await freePort(), peer: await freePort(), dir: await mkdtemp(path.join(tmpdir(), `flo-bench-etcd-${i}-`)) });
  const cluster = members.map((m) => `${m.name}=http://127.0.0.1:${m.peer}`).join(',');
  const procs: ChildProcess[] = [];
  let client: ChildProcess | null = null;
  try {
    for (const m of members) {
      procs.push(spawn(binary, [
        '--name', m.name, '--data-dir', m.dir,
        '--listen-client-urls', `http://127.0.0.1:${m.client}`, '--advertise-client-urls', `http://127.0.0.1:${m.client}`,
        '--listen-peer-urls', `http://127.0.0.1:${m.peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peer}`,
        '--initial-cluster', cluster, '--initial-cluster-state', 'new', '--initial-cluster-token', 'flo-bench',
        '--log-level', 'error', '--quota-backend-bytes', String(8 * 1024 * 1024 * 1024),
      ], { stdio: ['ignore', 'ignore', 'ignore'] }));
    }
    for (const m of members) await waitForPort(m.client, 20_000);
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
    proc.send({ hosts: members.map((m) => `http://127.0.0.1:${m.client}`), ...load });
    await next(); // measuring started
    const before = procs.map((p) => processCpuSeconds(p.pid ?? 0));
    const result = await next();
    const after = procs.map((p) => processCpuSeconds(p.pid ?? 0));
    const seconds = Number(result['elapsedMs']) / 1000;
    const cpu: Record<string, number> = { 'client (etcd3 gRPC)': Number(result['cpuMs']) / 1000 / seconds };
    after.forEach((a, i) => {
      cpu[`etcd ${members[i]?.name}`] = (a - (before[i] ?? 0)) / seconds;
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
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(procs.map((p) => new Promise<void>((resolve) => {
      if (p.exitCode !== null) {
        resolve();
        return;
      }
      const timer = setTimeout(() => {
        p.kill('SIGKILL');
        resolve();
      }, 5000);
      p.on('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    })));
    for (const m of members) await rm(m.dir, { recursive: true, force: true });
  }
}
