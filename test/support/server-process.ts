// Runs the real `flo server` (built dist/) as a child process on an ephemeral
// loopback port (see freePort), for integration and crash tests. Stopped by PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { waitFor } from './temp.js';

export const CLI_PATH = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

// Ports the kernel hands out by itself (bind to port 0, the local end of every outgoing
// connection) come from the ephemeral range. A port picked there and freed again can be
// taken by any connection before the broker binds it (a CI run once lost a founder to
// that), so test ports come from below the range, at random, and never twice per process.
const TEST_PORT_LOW = 10_000;
const EPHEMERAL_LOW = ephemeralRangeStart();
const handedOut = new Set<number>();
/**
 * Vitest runs test files in several worker processes at once, each with its own handedOut: each
 * worker picks from its own slice of the range, so two workers never pick the same port.
 */
const SLICES = 16;
const slice = Number(process.env['VITEST_POOL_ID'] ?? '0') % SLICES;
const SLICE_SIZE = Math.floor((EPHEMERAL_LOW - TEST_PORT_LOW) / SLICES);

function ephemeralRangeStart(): number {
  let low = 32_768; // not Linux: the IANA dynamic range (49152 up) starts above this
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    // no /proc: keep the default
  }
  if (!Number.isInteger(low) || low < TEST_PORT_LOW + 4_000) throw new Error(`the kernel's ephemeral ports start at ${low}: test ports (from ${TEST_PORT_LOW}) would collide with them`);
  return low;
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  const first = TEST_PORT_LOW + slice * SLICE_SIZE;
  // Ports handed out long ago are bound by now, or free again: forget them before the slice fills up.
  if (handedOut.size > SLICE_SIZE / 2) handedOut.clear();
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = first + Math.floor(Math.random() * SLICE_SIZE);
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    if (await canListen(port)) return port;
  }
  throw new Error(`no free loopback port found between ${first} and ${first + SLICE_SIZE}`);
}

export interface ServerProcess {
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
  readonly output: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function startServer(dataDir: string, extraArgs: string[] = [], port?: number, env: Record<string, string> = {}): Promise<ServerProcess> {
  const chosenPort = port ?? (await freePort());
  const child = spawn(process.execPath, [CLI_PATH, 'server', '-d', dataDir, '-p', String(chosenPort), '--log-level', 'warn', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FLO_PRETTY: '', ...env },
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${chosenPort}`;
  try {
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`server exited early (${child.exitCode}): ${output}`);
      try {
        return (await fetch(`${url}/readyz`)).ok;
      } catch {
        return false;
      }
    }, `broker on ${url} to be ready`, 15_000);
  } catch (error) {
    // Never ready (a cluster member still forming, say): the caller gets no handle to stop it, so stop it here.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    throw error;
  }
  return {
    url,
    port: chosenPort,
    child,
    output: () => output,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
