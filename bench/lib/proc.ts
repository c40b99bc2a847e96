// Server processes for the benchmark: spawn on loopback with data in a fresh temp dir,
// read their CPU time and RSS from /proc, and stop them by PID. Every process started
// here is recorded so that an error, Ctrl-C or exit stops it and removes its temp dir.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** How long a stopping server gets between SIGTERM and SIGKILL. */
export const STOP_GRACE_MS = 10_000;
/** Bytes of a server's output kept for error messages. */
export const OUTPUT_TAIL_BYTES = 8_192;
/** Kernel clock ticks per second for /proc/<pid>/stat times (USER_HZ, 100 on Linux x86/arm). */
export const CLOCK_TICKS_PER_SECOND = 100;

export interface ServerProcess {
  readonly name: string;
  readonly pid: number;
  readonly dataDir: string;
  /** Last bytes the server printed, for error messages. */
  output(): string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<number | null>;
  hasExited(): boolean;
}

interface Tracked {
  readonly child: ChildProcess;
  readonly server: ServerProcess;
}

const running = new Map<number, Tracked>();
const tempDirs = new Set<string>();

export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `flo-bench-${prefix}-`));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** Asks the kernel for a free loopback port (closed again before the server binds it). */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

export function startServer(name: string, command: string, args: readonly string[], dataDir: string): ServerProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: dataDir });
  if (child.pid === undefined) throw new Error(`${name}: could not spawn ${command}`);
  let tail = '';
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-OUTPUT_TAIL_BYTES);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let done = false;
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      done = true;
      running.delete(child.pid as number);
      resolve(code);
    });
  });
  const server: ServerProcess = {
    name, pid: child.pid, dataDir, exited,
    output: () => tail,
    hasExited: () => done,
  };
  running.set(child.pid, { child, server });
  return server;
}

/** SIGTERM, then SIGKILL after the grace period; removes the data dir once it has exited. */
export async function stopServer(server: ServerProcess): Promise<void> {
  if (!server.hasExited()) {
    process.kill(server.pid, 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        if (!server.hasExited()) process.kill(server.pid, 'SIGKILL');
        resolve();
      }, STOP_GRACE_MS);
    });
    await Promise.race([server.exited, killed]);
    clearTimeout(timer);
    await server.exited;
  }
  removeTempDir(server.dataDir);
}

/** Synchronous last resort for exit paths: SIGKILL every server still running, remove temp dirs. */
export function killAllSync(): void {
  for (const [pid] of running) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
  }
  running.clear();
  for (const dir of tempDirs) {
    try { rmSync(dir, { recursive: true, force: true }); } catch { /* best effort on exit */ }
  }
  tempDirs.clear();
}

/** user+system CPU seconds of a process (and of children it has reaped, e.g. Redis's rewrite fork). */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name, which may itself contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime, stime, cutime, cstime are fields 14..17 of the full line, i.e. 11..14 here.
  const ticks = [11, 12, 13, 14].reduce((sum, index) => sum + Number(fields[index]), 0);
  return ticks / CLOCK_TICKS_PER_SECOND;
}

export function processRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) * 1024 : Number.NaN;
}

/** Samples a process's RSS on an interval and keeps the peak. */
export class RssSampler {
  private peak = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: number, intervalMs = 100) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  private sample(): void {
    try {
      this.peak = Math.max(this.peak, processRssBytes(this.pid));
    } catch {
      // The process exited; the peak so far stands.
    }
  }

  stop(): number {
    clearInterval(this.timer);
    this.sample();
    return this.peak;
  }
}

/** Polls `check` until it returns true or the deadline passes. */
export async function waitUntil(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number, pollMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

export function installExitHandlers(): void {
  process.once('exit', killAllSync);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping servers\n`);
      killAllSync();
      process.exit(130);
    });
  }
}

/**
 * CPU seconds the whole machine spent busy so far (user, nice, system, irq, softirq,
 * steal from /proc/stat; idle and iowait excluded). Minus our own and the servers' CPU,
 * it tells how much other work shared the cores while a workload ran.
 */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number);
  return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS_PER_SECOND;
}
