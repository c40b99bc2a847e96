// A TCP fault proxy for one link (listen on 127.0.0.1, forward to a 127.0.0.1
// target): the network nemesis of the chaos harness. Each accepted connection
// gets two pipes, `up` (client → target) and `down` (target → client), and the
// link's current faults apply to both: cut (hold bytes, as a partition stalls
// TCP, delivered on heal), blackhole (accept, read and discard, never deliver;
// such connections are reset on heal since their streams lost bytes), delay,
// throttle, drop after N bytes (reset mid-stream). Bounded: a pipe holds at
// most MAX_HELD_BYTES before it stops reading its source (TCP backpressure).
import { createConnection, createServer, type Server, type Socket } from 'node:net';

/** Bytes a pipe holds (cut, delayed or throttled) before it pauses its source. */
export const MAX_HELD_BYTES = 4 * 1024 * 1024;

export type Direction = 'up' | 'down';

interface LinkFaults {
  cut: Record<Direction, boolean>;
  blackhole: boolean;
  delayMs: number;
  /** 0 means unlimited. */
  throttleBytesPerSecond: number;
}

function noFaults(): LinkFaults {
  return { cut: { up: false, down: false }, blackhole: false, delayMs: 0, throttleBytesPerSecond: 0 };
}

interface Chunk {
  bytes: Buffer;
  deliverAtMs: number;
}

/** One direction of one proxied connection. */
class Pipe {
  private readonly queue: Chunk[] = [];
  private queueHead = 0;
  private heldBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private sourceEnded = false;
  private tokens = 0;
  private tokensAtMs = Date.now();

  constructor(private readonly connection: ProxiedConnection, readonly direction: Direction, private readonly source: Socket, private readonly sink: Socket) {
    source.on('data', (bytes: Buffer) => this.onData(bytes));
    source.on('end', () => {
      this.sourceEnded = true;
      this.pump();
    });
    sink.on('drain', () => this.pump());
  }

  private onData(bytes: Buffer): void {
    const faults = this.connection.faults();
    if (faults.blackhole) {
      this.connection.lostBytes = true;
      return;
    }
    this.queue.push({ bytes, deliverAtMs: Date.now() + faults.delayMs });
    this.heldBytes += bytes.length;
    if (this.heldBytes >= MAX_HELD_BYTES) this.source.pause();
    this.pump();
  }

  /** Delivers what the faults allow now, and sets a timer for the rest. */
  pump(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.connection.closed) return;
    const faults = this.connection.faults();
    while (this.queueHead < this.queue.length) {
      if (faults.cut[this.direction] || faults.blackhole || this.sink.writableNeedDrain) return;
      const chunk = this.queue[this.queueHead]!;
      const now = Date.now();
      if (chunk.deliverAtMs > now) return this.wakeIn(chunk.deliverAtMs - now);
      let allowed = chunk.bytes.length;
      if (faults.throttleBytesPerSecond > 0) {
        this.refillTokens(faults.throttleBytesPerSecond, now);
        allowed = Math.min(allowed, Math.floor(this.tokens));
        if (allowed === 0) return this.wakeIn(Math.max(1, Math.ceil(((1 - this.tokens) * 1000) / faults.throttleBytesPerSecond)));
        this.tokens -= allowed;
      }
      allowed = this.connection.takeForwardAllowance(allowed);
      if (allowed === 0) return; // the drop allowance is spent: the reset is on its way
      this.write(chunk, allowed);
      if (this.connection.closed) return;
    }
    if (this.sourceEnded && !this.sink.writableEnded) this.sink.end();
  }

  private write(chunk: Chunk, bytes: number): void {
    const part = bytes === chunk.bytes.length ? chunk.bytes : chunk.bytes.subarray(0, bytes);
    if (bytes === chunk.bytes.length) this.queue[this.queueHead++] = undefined as unknown as Chunk;
    else chunk.bytes = chunk.bytes.subarray(bytes);
    this.heldBytes -= bytes;
    if (part.length > 0) this.sink.write(part);
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue.splice(0, this.queueHead);
      this.queueHead = 0;
    }
    if (this.heldBytes < MAX_HELD_BYTES / 2 && this.source.isPaused()) this.source.resume();
    this.connection.charge(part.length);
  }

  private refillTokens(bytesPerSecond: number, now: number): void {
    // At most one second of burst, so a throttled link really is slow.
    this.tokens = Math.min(bytesPerSecond, this.tokens + ((now - this.tokensAtMs) * bytesPerSecond) / 1000);
    this.tokensAtMs = now;
  }

  private wakeIn(ms: number): void {
    this.timer = setTimeout(() => this.pump(), ms);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

class ProxiedConnection {
  closed = false;
  /** True once a blackhole discarded bytes of this connection: its streams are broken for good. */
  lostBytes = false;
  private readonly pipes: Pipe[] = [];
  /** Bytes this connection may still forward (both ways) before it is reset; undefined: no limit. */
  private forwardAllowance: number | undefined;

  constructor(private readonly proxy: FaultProxy, private readonly client: Socket, private readonly upstream: Socket | undefined, dropAfterBytes: number | undefined) {
    this.forwardAllowance = dropAfterBytes;
    const onGone = (): void => this.close();
    client.on('error', onGone).on('close', onGone);
    if (upstream) {
      upstream.on('error', onGone).on('close', onGone);
      this.pipes.push(new Pipe(this, 'up', client, upstream), new Pipe(this, 'down', upstream, client));
    } else {
      // Accepted while blackholed: read and discard, never connect onwards.
      this.lostBytes = true;
      client.on('data', () => undefined);
    }
  }

  faults(): LinkFaults {
    return this.proxy.currentFaults;
  }

  setDropAfter(bytes: number | undefined): void {
    this.forwardAllowance = bytes;
    if (bytes === 0) this.reset();
  }

  takeForwardAllowance(wanted: number): number {
    return this.forwardAllowance === undefined ? wanted : Math.min(wanted, this.forwardAllowance);
  }

  /** Counts forwarded bytes against the drop allowance; at zero the connection is reset mid-stream. */
  charge(bytes: number): void {
    if (this.forwardAllowance === undefined) return;
    this.forwardAllowance = Math.max(0, this.forwardAllowance - bytes);
    if (this.forwardAllowance === 0) setImmediate(() => this.reset());
  }

  pump(): void {
    for (const pipe of this.pipes) pipe.pump();
  }

  /** Ends both sides with a TCP reset, as a dropped connection looks to its peers. */
  reset(): void {
    if (this.closed) return;
    this.closed = true;
    for (const pipe of this.pipes) pipe.stop();
    this.client.resetAndDestroy();
    if (this.upstream && !this.upstream.destroyed) {
      if (this.upstream.connecting) this.upstream.destroy();
      else this.upstream.resetAndDestroy();
    }
    this.proxy.forget(this);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const pipe of this.pipes) pipe.stop();
    this.client.destroy();
    this.upstream?.destroy();
    this.proxy.forget(this);
  }
}

export interface FaultProxyOptions {
  targetPort: number;
  /** Loopback only: the harness never sends traffic off the machine. */
  targetHost?: string;
  /** Port to listen on (default: an ephemeral one). */
  listenPort?: number;
}

function assertLoopback(host: string): void {
  if (!/^127\.\d+\.\d+\.\d+$/.test(host)) throw new Error(`the fault proxy only talks to 127.0.0.0/8, not ${host}`);
}

export class FaultProxy {
  currentFaults: LinkFaults = noFaults();
  private readonly connections = new Set<ProxiedConnection>();
  private dropAfterBytes: number | undefined;

  private constructor(private readonly server: Server, readonly port: number, readonly targetHost: string, readonly targetPort: number) {}

  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const targetHost = options.targetHost ?? '127.0.0.1';
    assertLoopback(targetHost);
    const server = createServer({ noDelay: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.listenPort ?? 0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const proxy = new FaultProxy(server, port, targetHost, options.targetPort);
    server.on('connection', (client) => proxy.accept(client));
    return proxy;
  }

  /** Number of proxied connections currently open. */
  get openConnections(): number {
    return this.connections.size;
  }

  private accept(client: Socket): void {
    client.setNoDelay(true);
    const upstream = this.currentFaults.blackhole ? undefined : createConnection({ host: this.targetHost, port: this.targetPort, noDelay: true });
    this.connections.add(new ProxiedConnection(this, client, upstream, this.dropAfterBytes));
  }

  forget(connection: ProxiedConnection): void {
    this.connections.delete(connection);
  }

  /** Stops delivery one way (`up`: client → target, `down`: target → client) or both; bytes are held until heal. */
  cut(direction: Direction | 'both' = 'both'): void {
    if (direction === 'both' || direction === 'up') this.currentFaults.cut.up = true;
    if (direction === 'both' || direction === 'down') this.currentFaults.cut.down = true;
  }

  /** Accepts connections and bytes but delivers nothing; what arrives meanwhile is lost. */
  blackhole(): void {
    this.currentFaults.blackhole = true;
  }

  /** Delivers every chunk `ms` after it arrived (order kept). */
  delay(ms: number): void {
    this.currentFaults.delayMs = Math.max(0, ms);
  }

  /** Limits each direction of each connection to `bytesPerSecond`. */
  throttle(bytesPerSecond: number): void {
    this.currentFaults.throttleBytesPerSecond = Math.max(0, bytesPerSecond);
    this.pumpAll();
  }

  /** Resets every connection (open now or opened until heal) after it has forwarded `bytes` more bytes. */
  dropAfter(bytes: number): void {
    this.dropAfterBytes = bytes;
    for (const connection of [...this.connections]) connection.setDropAfter(bytes);
  }

  /** Removes every fault: held bytes flow, connections broken by a blackhole are reset. */
  heal(): void {
    this.currentFaults = noFaults();
    this.dropAfterBytes = undefined;
    for (const connection of [...this.connections]) {
      connection.setDropAfter(undefined);
      if (connection.lostBytes) connection.reset();
    }
    this.pumpAll();
  }

  private pumpAll(): void {
    for (const connection of this.connections) connection.pump();
  }

  async close(): Promise<void> {
    for (const connection of [...this.connections]) connection.close();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
