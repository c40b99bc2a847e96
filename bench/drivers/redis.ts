// Redis Streams through the official `ioredis` client: one stream key per namespace,
// produce is XADD with auto-pipelining (all commands issued in one tick share a write),
// replay is XREAD over the selected keys in large COUNTs, and tailing is a blocking XREAD
// on its own connection that resumes from the last ids it saw, so nothing is skipped.

import { Redis } from 'ioredis';
import { REDIS_SERVER, peerVersion } from '../lib/install.js';
import { freePort, makeTempDir, startServer, stopServer, waitUntil, type ServerProcess } from '../lib/proc.js';
import { NAMESPACE_COUNT, type AckHandler, type DeliveryHandler, type LiveSubscription, type Producer, type SystemDriver } from './driver.js';

/** Entries requested per XREAD in replay, summed over the keys read. */
export const REDIS_REPLAY_BATCH = 10_000;
/** Entries per key per blocking XREAD while tailing. */
export const REDIS_TAIL_BATCH = 1_000;
export const REDIS_START_TIMEOUT_MS = 15_000;

export type AppendFsync = 'everysec' | 'always';

const KEYS = Array.from({ length: NAMESPACE_COUNT }, (_, n) => `/orders/eu/${n}`);

/** XREAD's reply with buffers: [key, [[id, [field, value, ...]], ...]] per stream. */
type XReadReply = Array<[Buffer, Array<[Buffer, Buffer[]]>]> | null;

const DURABILITY: Record<AppendFsync, string> = {
  everysec: 'AOF appendfsync everysec: reply once the command is in the AOF buffer; fsync once a second in the background',
  always: 'AOF appendfsync always: reply only after the AOF write is fsynced (one fsync per event-loop batch)',
};

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** Feeds an XREAD reply to `onEvent`, advancing `ids` (parallel to `keys`); returns entries seen. */
function consumeReply(reply: XReadReply, keys: readonly string[], ids: string[], onEvent: DeliveryHandler): number {
  if (reply === null) return 0;
  let seen = 0;
  for (const [key, entries] of reply) {
    for (const [, fields] of entries) onEvent(fields[1] as Buffer);
    seen += entries.length;
    const last = entries[entries.length - 1];
    if (last) ids[keys.indexOf(key.toString())] = last[0].toString();
  }
  return seen;
}

export class RedisDriver implements SystemDriver {
  readonly system: string;
  readonly durability: string;
  readonly version: string;
  private server: ServerProcess | undefined;
  private port = 0;

  constructor(private readonly appendFsync: AppendFsync) {
    this.system = `redis-${appendFsync}`;
    this.durability = DURABILITY[appendFsync];
    this.version = peerVersion(REDIS_SERVER.command);
  }

  private client(): Redis {
    // No reconnects: a benchmark connection that drops is a failed run, not something to hide.
    const redis = new Redis({
      host: '127.0.0.1', port: this.port, enableAutoPipelining: true, maxRetriesPerRequest: 0,
      lazyConnect: true, retryStrategy: () => null,
    });
    // Connection errors surface through the rejected commands; without a listener ioredis logs them.
    redis.on('error', () => undefined);
    return redis;
  }

  async start(): Promise<void> {
    this.port = await freePort();
    const dataDir = makeTempDir(`redis-${this.appendFsync}`);
    // RDB snapshots are off so that only the AOF, the durability being measured, writes;
    // AOF rewrite keeps its defaults.
    this.server = startServer(this.system, REDIS_SERVER.command, [
      '--bind', '127.0.0.1', '--port', String(this.port), '--dir', dataDir, '--daemonize', 'no',
      '--appendonly', 'yes', '--appendfsync', this.appendFsync, '--save', '', '--logfile', '',
    ], dataDir);
    const server = this.server;
    await waitUntil('redis-server to answer PING', async () => {
      if (server.hasExited()) throw new Error(`redis-server exited: ${server.output()}`);
      const probe = this.client();
      try {
        await probe.connect();
        return (await probe.ping()) === 'PONG';
      } catch {
        return false;
      } finally {
        probe.disconnect();
      }
    }, REDIS_START_TIMEOUT_MS);
  }

  async stop(): Promise<void> {
    if (this.server) await stopServer(this.server);
    this.server = undefined;
  }

  serverPid(): number {
    if (!this.server) throw new Error('redis-server is not running');
    return this.server.pid;
  }

  async openProducer(onAck: AckHandler): Promise<Producer> {
    const redis = this.client();
    await redis.connect();
    return {
      send: (index, namespaceIndex, data) => {
        redis.xadd(KEYS[namespaceIndex] as string, '*', 'd', asBuffer(data))
          .then(() => onAck(index), (error: Error) => onAck(index, error));
      },
      close: async () => { await redis.quit(); },
    };
  }

  async replay(namespaceIndex: number | null, expected: number, onEvent: DeliveryHandler): Promise<number> {
    const keys = namespaceIndex === null ? KEYS : [KEYS[namespaceIndex] as string];
    const ids = keys.map(() => '0-0');
    const perKey = Math.ceil(REDIS_REPLAY_BATCH / keys.length);
    const redis = this.client();
    await redis.connect();
    try {
      let count = 0;
      while (count < expected) {
        const reply = await redis.xreadBuffer('COUNT', perKey, 'STREAMS', ...keys, ...ids) as XReadReply;
        const seen = consumeReply(reply, keys, ids, onEvent);
        if (seen === 0) break;
        count += seen;
      }
      return count;
    } finally {
      redis.disconnect();
    }
  }

  async subscribeLive(onEvent: DeliveryHandler): Promise<LiveSubscription> {
    const redis = this.client();
    await redis.connect();
    // Start after each key's current last entry ('$' on a later call would skip entries
    // appended between two XREADs).
    const ids = await Promise.all(KEYS.map(async (key) => {
      const last = await redis.xrevrange(key, '+', '-', 'COUNT', 1);
      return last[0]?.[0] ?? '0-0';
    }));
    let closed = false;
    const loop = (async (): Promise<void> => {
      while (!closed) {
        try {
          const reply = await redis.xreadBuffer('COUNT', REDIS_TAIL_BATCH, 'BLOCK', 0, 'STREAMS', ...KEYS, ...ids) as XReadReply;
          consumeReply(reply, KEYS, ids, onEvent);
        } catch (error) {
          if (!closed) throw error;
        }
      }
    })();
    return {
      close: async () => {
        closed = true;
        redis.disconnect();
        await loop;
      },
    };
  }
}
