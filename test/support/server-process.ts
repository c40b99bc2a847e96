// Runs the real `flo server` (built dist/) as a child process on an ephemeral
// loopback port, for integration and crash tests. Stopped by PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { waitFor } from './temp.js';

export const CLI_PATH = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
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
