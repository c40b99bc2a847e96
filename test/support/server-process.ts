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
const EPHEMERAL_LOW = ephemeralRangeStart();
const TEST_PORT_LOW = 10_000;
const handedOut = new Set<number>();

function ephemeralRangeStart(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > TEST_PORT_LOW + 1_000 ? low : 32_768;
  } catch {
    return 32_768; // not Linux: the IANA dynamic range starts higher, so this is below it as well
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = TEST_PORT_LOW + Math.floor(Math.random() * (EPHEMERAL_LOW - TEST_PORT_LOW));
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    if (await canListen(port)) return port;
  }
  throw new Error(`no free loopback port found between ${TEST_PORT_LOW} and ${EPHEMERAL_LOW}`);
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
