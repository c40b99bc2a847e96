// Adversary: a process that reaches the peer port but holds no secret must not be
// able to make the broker buffer (and re-copy) a 64 MiB frame before the handshake,
// nor keep an unauthenticated connection open past the handshake timeout by
// trickling bytes. Both were seen to stall a broker's HTTP API for minutes.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TcpTransport } from '../../src/broker/transport/tcp-transport.js';
import { HANDSHAKE_TIMEOUT_MS } from '../../src/broker/transport/peer-link.js';

const auth = { clusterId: 'flo', secret: Buffer.from('a-secret-of-sixteen-or-more') };
let transport: TcpTransport | undefined;
afterEach(async () => {
  await transport?.close();
  transport = undefined;
});

function openStranger(port: number): net.Socket {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  return socket;
}

describe('peer port before the handshake', () => {
  it('refuses a first frame longer than any HELLO without reading 1 MiB of it', async () => {
    transport = await TcpTransport.listen({ nodeId: 2, auth, acceptProbes: true });
    const socket = openStranger(transport.port);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const header = Buffer.alloc(5);
    header.writeUInt32BE(64 * 1024 * 1024, 0);
    header.writeUInt8(1, 4); // HELLO
    socket.write(header);
    const closed = new Promise<boolean>((resolve) => {
      socket.once('close', () => resolve(true));
      setTimeout(() => resolve(false), 2_000);
    });
    const chunk = Buffer.alloc(64 * 1024);
    for (let sent = 0; sent < 1024 * 1024 && !socket.destroyed; sent += chunk.byteLength) socket.write(chunk);
    // A HELLO is at most a few hundred bytes: a stranger announcing 64 MiB is not a peer.
    expect(await closed).toBe(true);
    socket.destroy();
  });

  it('closes a stranger that trickles bytes within the handshake timeout', async () => {
    transport = await TcpTransport.listen({ nodeId: 2, auth, acceptProbes: true });
    const socket = openStranger(transport.port);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const header = Buffer.alloc(5);
    header.writeUInt32BE(200, 0);
    header.writeUInt8(1, 4);
    socket.write(header);
    let gone = false;
    socket.once('close', () => (gone = true));
    const started = Date.now();
    // One byte a second never completes the HELLO but resets an idle timer.
    while (!gone && Date.now() - started < HANDSHAKE_TIMEOUT_MS * 2 + 2_000) {
      socket.write(Buffer.from([0]));
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    socket.destroy();
    expect(gone).toBe(true);
  }, 30_000);
});
