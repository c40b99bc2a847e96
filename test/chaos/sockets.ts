// Loopback sockets for the proxy tests: an echo target that greets and records,
// and a client that records what it receives and how it ended.
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface Target {
  server: Server;
  port: number;
  /** Bytes received per accepted connection, in accept order. */
  received: Buffer[];
  accepted: number;
  resets: number;
}

/** An echo server that greets each connection with "hi\n" and records what it gets. */
export async function startTarget(): Promise<Target> {
  const target: Target = { server: createServer(), port: 0, received: [], accepted: 0, resets: 0 };
  target.server.on('connection', (socket) => {
    const index = target.accepted++;
    target.received[index] = Buffer.alloc(0);
    socket.write('hi\n');
    socket.on('data', (bytes: Buffer) => {
      target.received[index] = Buffer.concat([target.received[index]!, bytes]);
      socket.write(bytes);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNRESET') target.resets++;
    });
  });
  await new Promise<void>((resolve) => target.server.listen(0, '127.0.0.1', () => resolve()));
  const address = target.server.address();
  target.port = typeof address === 'object' && address ? address.port : 0;
  return target;
}

export interface Client {
  socket: Socket;
  received: () => string;
  errorCode: () => string | undefined;
  closed: () => boolean;
}

export async function dial(port: number): Promise<Client> {
  const socket = createConnection({ host: '127.0.0.1', port });
  let received = '';
  let errorCode: string | undefined;
  let closed = false;
  socket.on('data', (bytes: Buffer) => (received += bytes.toString('latin1')));
  socket.on('error', (error: NodeJS.ErrnoException) => (errorCode = error.code));
  socket.on('close', () => (closed = true));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return { socket, received: () => received, errorCode: () => errorCode, closed: () => closed };
}
