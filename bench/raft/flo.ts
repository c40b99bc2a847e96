// Runs the Flo side of the Raft benchmark: three member processes on loopback,
// waits for a leader, has it run the closed-loop load, and collects CPU per process.

import { fork, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../lib/proc.js';

export interface LoadOptions {
  readonly warmupSeconds: number;
  readonly seconds: number;
  readonly inflight: number;
  readonly size: number;
}

export interface RunResult {
  readonly system: string;
  readonly entriesPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** CPU per process during the measured window, in cores (1.0 = one core busy). */
  readonly cpu: Record<string, number>;
  readonly errors: number;
}


class Child {
  private readonly waiters: ((message: Record<string, unknown>) => void)[] = [];

  constructor(readonly id: number, readonly proc: ChildProcess) {
    proc.on('message', (message: Record<string, unknown>) => this.waiters.shift()?.(message));
  }

  request(command: object): Promise<Record<string, unknown>> {
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.proc.send(command);
    });
  }

  next(): Promise<Record<string, unknown>> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

export async function runFlo(load: LoadOptions): Promise<RunResult> {
  const ports = [await freePort(), await freePort(), await freePort()];
  const dirs: string[] = [];
  const children: Child[] = [];
  const script = path.join(import.meta.dirname, 'node-proc.ts');
  try {
    for (let i = 0; i < 3; i++) {
      const dir = await mkdtemp(path.join(tmpdir(), `flo-bench-raft-${i + 1}-`));
      dirs.push(dir);
      const peers: Record<string, number> = {};
      ports.forEach((port, j) => {
        if (j !== i) peers[String(j + 1)] = port;
      });
      const config = JSON.stringify({ id: i + 1, port: ports[i], peers, dataDir: dir });
      // FLO_BENCH_PROFILE=<dir> writes a V8 CPU profile of every member there.
      const profile = process.env['FLO_BENCH_PROFILE'];
      const extra = process.env['FLO_BENCH_NODE_FLAGS']?.split(' ').filter((f) => f.length > 0) ?? [];
      const execArgv = ['--import', 'tsx', ...extra, ...(profile === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', profile])];
      const proc = fork(script, [config], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      const child = new Child(i + 1, proc);
      children.push(child);
      await child.next();
    }
    let leader: Child | undefined;
    for (let attempt = 0; attempt < 500 && leader === undefined; attempt++) {
      for (const child of children) {
        const reply = await child.request({ cmd: 'status' });
        if ((reply['status'] as { role: string }).role === 'leader') leader = child;
      }
      if (leader === undefined) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    if (leader === undefined) throw new Error('no leader elected');
    const pending = leader.request({ cmd: 'load', ...load });
    await new Promise((resolve) => setTimeout(resolve, load.warmupSeconds * 1000));
    for (const child of children) if (child !== leader) await child.request({ cmd: 'cpu' });
    const result = await pending;
    const cpu: Record<string, number> = {};
    const seconds = Number(result['elapsedMs']) / 1000;
    cpu['leader (incl. load generator)'] = Number(result['leaderCpuMs']) / 1000 / seconds;
    let f = 1;
    for (const child of children) {
      if (child === leader) continue;
      const reply = await child.request({ cmd: 'cpu' });
      cpu[`follower ${f++}`] = Number(reply['cpuMs']) / 1000 / seconds;
      if (process.env['FLO_BENCH_VERBOSE'] !== undefined) console.log('follower stats', reply['stats']);
    }
    if (process.env['FLO_BENCH_VERBOSE'] !== undefined) console.log('leader stats', result['stats']);
    return {
      system: 'Flo Raft (3 processes)',
      entriesPerSecond: Number(result['committed']) / seconds,
      p50Ms: Number(result['p50']),
      p99Ms: Number(result['p99']),
      cpu,
      errors: Number(result['errors']) + (result['leadershipLost'] === true ? 1 : 0),
    };
  } finally {
    for (const child of children) {
      child.proc.send({ cmd: 'stop' });
    }
    await Promise.all(children.map((c) => new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        c.proc.kill('SIGKILL');
        resolve();
      }, 5000);
      c.proc.on('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    })));
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  }
}
