// Raw TCP connections to a broker for tests of what a hostile or broken client
// sends (half-sent requests, hand-made WebSocket frames), and the one response it got.
import { connect, type Socket } from 'node:net';
import { afterAll, afterEach } from 'vitest';
import { Broker, type BrokerOptions } from '../../src/broker/broker.js';
import { silentLogger, tempDir } from './temp.js';

export interface RawConnection {
  socket: Socket;
  /** Everything received so far, as latin1 text (bytes kept one to one). */
  received: () => string;
  receivedBytes: () => Buffer;
  closed: () => boolean;
}

/** Connects to the broker at `url` and writes `send`; the socket is added to `sockets` for the caller to destroy. */
export async function openConnection(url: string, sockets: Socket[], send = ''): Promise<RawConnection> {
  const socket = connect({ port: Number(new URL(url).port), host: '127.0.0.1' });
  sockets.push(socket);
  const chunks: Buffer[] = [];
  let closed = false;
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined);
  socket.on('close', () => (closed = true));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  if (send) socket.write(send);
  const receivedBytes = (): Buffer => Buffer.concat(chunks);
  return { socket, received: () => receivedBytes().toString('latin1'), receivedBytes, closed: () => closed };
}

/** The status, media type and body (parsed when JSON) of a raw HTTP response. */
export function parseResponse(text: string): { status: number; type: string; body: Record<string, unknown> } {
  const [head = '', body = ''] = text.split('\r\n\r\n');
  const status = Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1]);
  const type = /content-type: ([^\r\n]+)/i.exec(head)?.[1] ?? '';
  return { status, type, body: type.includes('json') ? (JSON.parse(body) as Record<string, unknown>) : { text: body } };
}

/**
 * One broker at a time on a loopback port, with raw connections to it: registers the
 * afterEach that destroys the connections and closes the broker, and the afterAll that
 * removes the data dirs.
 */
export function useRawBroker(): { start: (options?: Partial<BrokerOptions>) => Promise<Broker>; connect: (url: string, send?: string) => Promise<RawConnection> } {
  const dirs: Array<Awaited<ReturnType<typeof tempDir>>> = [];
  const sockets: Socket[] = [];
  let broker: Broker | undefined;
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    await broker?.close();
    broker = undefined;
  });
  afterAll(async () => {
    for (const dir of dirs) await dir.remove();
  });
  return {
    start: async (options = {}) => {
      const dir = await tempDir();
      dirs.push(dir);
      broker = await Broker.start({ dataDir: dir.path, logger: silentLogger, port: 0, ...options });
      return broker;
    },
    connect: (url, send = '') => openConnection(url, sockets, send),
  };
}
