// Flo, a single broker started from the built CLI (`dist/cli/main.js server`), driven
// through Flo's own TypeScript client: produce() calls that the client coalesces into
// pipelined batches on one WebSocket, subscribe() as an async iterator for replay
// (follow: false ends at the end of the stream) and for tailing (follow: true).
// Durability is the broker's default: acknowledged only once fsynced (group commit).

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type FloClient } from '../../src/client/index.js';
import { freePort, makeTempDir, startServer, stopServer, waitUntil, type ServerProcess } from '../lib/proc.js';
import { NAMESPACE_COUNT, type AckHandler, type DeliveryHandler, type LiveSubscription, type Producer, type ServerCounters, type SystemDriver } from './driver.js';

export const FLO_START_TIMEOUT_MS = 30_000;

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const NAMESPACES = Array.from({ length: NAMESPACE_COUNT }, (_, n) => `/orders/eu/${n}`);
const ALL_NAMESPACES = '/orders/**';

/** The commit the bench runs from, so results can be traced to the code. */
export function checkoutVersion(): string {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
    return `${commit}${dirty ? '+uncommitted src changes' : ''}`;
  } catch {
    return 'unknown commit';
  }
}

export class FloDriver implements SystemDriver {
  readonly system = 'flo';
  readonly durability = 'fsync: acknowledged only after the group commit that holds the event is fsynced';
  readonly version = checkoutVersion();
  private server: ServerProcess | undefined;
  private url = '';

  /** @param profileDir when set, the broker runs with `node --cpu-prof` and writes its profile there on exit. */
  constructor(private readonly profileDir?: string) {}

  async start(): Promise<void> {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build`);
    const port = await freePort();
    const dataDir = makeTempDir('flo');
    this.url = `http://127.0.0.1:${port}`;
    const nodeArgs = this.profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${this.profileDir}`];
    this.server = startServer('flo', process.execPath, [...nodeArgs, CLI, 'server', '-d', dataDir, '-p', String(port), '--host', '127.0.0.1', '--log-level', 'warn'], dataDir);
    const server = this.server;
    await waitUntil('flo /readyz', async () => {
      if (server.hasExited()) throw new Error(`flo server exited: ${server.output()}`);
      try {
        return (await fetch(`${this.url}/readyz`)).status === 200;
      } catch {
        return false;
      }
    }, FLO_START_TIMEOUT_MS);
  }

  async stop(): Promise<void> {
    if (this.server) await stopServer(this.server);
    this.server = undefined;
  }

  serverPid(): number {
    if (!this.server) throw new Error('flo server is not running');
    return this.server.pid;
  }

  private connect(): Promise<FloClient> {
    return connect(this.url);
  }

  async openProducer(onAck: AckHandler): Promise<Producer> {
    const client = await this.connect();
    return {
      send: (index, namespaceIndex, data) => {
        client.produce({ namespace: NAMESPACES[namespaceIndex] as string, data })
          .then(() => onAck(index), (error: Error) => onAck(index, error));
      },
      close: () => client.close(),
    };
  }

  async replay(namespaceIndex: number | null, _expected: number, onEvent: DeliveryHandler): Promise<number> {
    const client = await this.connect();
    try {
      const namespace = namespaceIndex === null ? ALL_NAMESPACES : (NAMESPACES[namespaceIndex] as string);
      let count = 0;
      for await (const event of client.subscribe({ namespace, from: 'earliest', follow: false })) {
        onEvent(event.data);
        count += 1;
      }
      return count;
    } finally {
      await client.close();
    }
  }

  async subscribeLive(onEvent: DeliveryHandler): Promise<LiveSubscription> {
    return liveSubscription(await this.connect(), onEvent);
  }


  async counters(): Promise<ServerCounters> {
    const text = await (await fetch(`${this.url}/metrics`)).text();
    const sum = (prefix: string): number => text.split('\n')
      .filter((line) => line.startsWith(prefix))
      .reduce((total, line) => total + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
    return {
      logReadBytes: sum('flo_log_read_bytes_total{'),
      commits: sum('flo_commit_duration_seconds_count'),
      commitSeconds: sum('flo_commit_duration_seconds_sum'),
      commitEvents: sum('flo_commit_events_sum'),
    };
  }
}

/** A live subscription from now on, through `client`; closing it closes the client too. */
export function liveSubscription(client: FloClient, onEvent: DeliveryHandler): LiveSubscription {
  const subscription = client.subscribe({ namespace: ALL_NAMESPACES, from: 'latest', follow: true });
  let closed = false;
  const loop = (async (): Promise<void> => {
    for await (const event of subscription) {
      onEvent(event.data);
      if (closed) break;
    }
  })();
  return {
    close: async () => {
      closed = true;
      subscription.close();
      await client.close();
      // A subscription ended by its broker's loss has nothing left to report here.
      await loop.catch(() => undefined);
    },
  };
}
