import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MessageType, message, type Message } from '../../src/broker/raft/messages.js';
import { TcpTransport } from '../../src/broker/transport/tcp-transport.js';
import { FrameDecoder, encodeHello, encodeProof, encodeRaftFrame } from '../../src/broker/transport/frame.js';
import type { PeerAuth } from '../../src/broker/transport/handshake.js';

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Resolves when the socket closes; fails the test if it is still open after the deadline. */
function closed(socket: net.Socket, timeoutMs = 5000): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('socket still open: the broker did not refuse it')), timeoutMs);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

const open: TcpTransport[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

async function pair(authA?: PeerAuth, authB: PeerAuth | undefined = authA): Promise<[TcpTransport, TcpTransport]> {
  const a = await TcpTransport.listen({ nodeId: 1, ...(authA ? { auth: authA } : {}) });
  const b = await TcpTransport.listen({ nodeId: 2, ...(authB ? { auth: authB } : {}) });
  open.push(a, b);
  a.addPeer(2, { host: '127.0.0.1', port: b.port });
  b.addPeer(1, { host: '127.0.0.1', port: a.port });
  return [a, b];
}

const hb = (from: number, to: number, term: number): Message => message({ type: MessageType.Heartbeat, from, to, term });

describe('TCP transport', () => {
  it('carries many groups over one connection, each to its own handler, both ways', async () => {
    const [a, b] = await pair();
    const got: string[] = [];
    for (const group of [10, 11, 12]) {
      b.register(group, (m) => got.push(`b${group}:${m.term}`));
      a.register(group, (m) => got.push(`a${group}:${m.term}`));
    }
    a.send(10, [hb(1, 2, 1)]);
    a.send(11, [hb(1, 2, 2), hb(1, 2, 3)]);
    b.send(12, [hb(2, 1, 4)]);
    await until(() => got.length === 4);
    expect(got.sort()).toEqual(['a12:4', 'b10:1', 'b11:2', 'b11:3']);
    expect(a.connected(2) && b.connected(1)).toBe(true);
  });

  it('never delivers a request it failed as lost with its connection, not even on the next connection', async () => {
    const [a, b] = await pair();
    const served: string[] = [];
    b.serve(async (_from, payload) => {
      served.push(payload.toString());
      return Buffer.from('ok');
    });
    await until(() => a.connected(2) && b.connected(1));
    await expect(a.request(2, Buffer.from('first'), 5_000)).resolves.toEqual(Buffer.from('ok'));
    const link = (a as unknown as { links: Map<number, { socket: net.Socket | null }> }).links.get(2)!;
    // The socket is backed up (its buffer full), so the frame waits in the link's queue; then the connection goes.
    Object.defineProperty(link.socket!, 'writableNeedDrain', { get: () => true });
    const lost = a.request(2, Buffer.from('lost'), 5_000);
    link.socket!.destroy();
    await expect(lost).rejects.toMatchObject({ code: 'FLO_ERR_CONNECTION' });
    await until(() => a.connected(2) && b.connected(1));
    await expect(a.request(2, Buffer.from('after'), 5_000)).resolves.toEqual(Buffer.from('ok'));
    expect(served).toEqual(['first', 'after']);
  });

  it('redials after the peer restarts and delivers again', async () => {
    const [a, b] = await pair();
    const port = b.port;
    await b.close();
    open.splice(open.indexOf(b), 1);
    const b2 = await TcpTransport.listen({ nodeId: 2, port });
    open.push(b2);
    b2.addPeer(1, { host: '127.0.0.1', port: a.port });
    const got: number[] = [];
    b2.register(1, (m) => got.push(m.term));
    await until(() => a.connected(2));
    a.send(1, [hb(1, 2, 9)]);
    await until(() => got.length === 1);
    expect(got).toEqual([9]);
  });

  it('drops messages for unknown groups and refuses unknown or impostor peers', async () => {
    const [a, b] = await pair();
    a.send(99, [hb(1, 2, 1)]);
    await until(() => b.stats.unknownGroup === 1);
    const stranger = net.connect({ host: '127.0.0.1', port: b.port });
    stranger.write(encodeHello(42, Buffer.alloc(16), 'flo'));
    await new Promise<void>((resolve) => stranger.on('close', () => resolve()));
    expect(b.stats.protocolErrors).toBeGreaterThanOrEqual(1);
    const garbage = net.connect({ host: '127.0.0.1', port: b.port });
    garbage.write(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    await new Promise<void>((resolve) => garbage.on('close', () => resolve()));
    // The broker is still serving its real peer.
    const got: number[] = [];
    b.register(5, (m) => got.push(m.term));
    a.send(5, [hb(1, 2, 3)]);
    await until(() => got.length === 1);
  });

  it('rejects a message whose sender does not match the connection', async () => {
    const [a, b] = await pair();
    const got: number[] = [];
    b.register(1, (m) => got.push(m.term));
    a.send(1, [hb(3, 2, 1), hb(1, 2, 2)]);
    await until(() => got.length === 1);
    expect(got).toEqual([2]);
    expect(b.stats.protocolErrors).toBe(1);
  });
});

describe('TCP transport authentication', () => {
  const secret = (text: string): Uint8Array => Buffer.from(text);

  it('connects members that hold the same cluster id and secret', async () => {
    const [a, b] = await pair({ clusterId: 'c1', secret: secret('s3cret') });
    const got: number[] = [];
    b.register(1, (m) => got.push(m.term));
    a.send(1, [hb(1, 2, 4)]);
    await until(() => got.length === 1);
    expect(b.stats.refused + a.stats.refused).toBe(0);
  });

  it('refuses a peer with a different secret, in both directions, and delivers nothing', async () => {
    const [a, b] = await pair({ clusterId: 'c1', secret: secret('one') }, { clusterId: 'c1', secret: secret('two') });
    const got: number[] = [];
    b.register(1, (m) => got.push(m.term));
    a.register(1, (m) => got.push(m.term));
    a.send(1, [hb(1, 2, 4)]);
    // The dialer (node 1) checks the acceptor's proof first and hangs up.
    await until(() => a.stats.protocolErrors >= 2);
    expect(a.connected(2) || b.connected(1)).toBe(false);
    expect(got).toEqual([]);
  });

  it('refuses a broker of another cluster', async () => {
    const [a, b] = await pair({ clusterId: 'blue', secret: undefined }, { clusterId: 'green', secret: undefined });
    await until(() => b.stats.refused >= 2);
    expect(a.connected(2)).toBe(false);
  });

  it('never accepts Raft frames from a dialer that has not proven the secret', async () => {
    const b = await TcpTransport.listen({ nodeId: 2, auth: { clusterId: 'c1', secret: secret('s3cret') } });
    open.push(b);
    b.addPeer(1, { host: '127.0.0.1', port: 1 });
    const got: number[] = [];
    b.register(1, (m) => got.push(m.term));
    // An attacker who knows node 1's id and the cluster id, but not the secret, injects a vote request.
    const attacker = net.connect({ host: '127.0.0.1', port: b.port });
    attacker.on('error', () => undefined);
    const replies: string[] = [];
    const decoder = new FrameDecoder();
    attacker.on('data', (chunk: Buffer) => replies.push(...decoder.push(chunk).map((f) => String(f.kind))));
    attacker.write(encodeHello(1, Buffer.alloc(16, 3), 'c1'));
    await until(() => replies.length >= 2);
    attacker.write(Buffer.concat([encodeProof(Buffer.alloc(32)), encodeRaftFrame(1, message({ type: MessageType.Vote, from: 1, to: 2, term: 99 }))]));
    await closed(attacker);
    expect(got).toEqual([]);
    expect(b.stats.refused).toBe(1);
    // Raft frames sent instead of a proof are refused too.
    const eager = net.connect({ host: '127.0.0.1', port: b.port });
    eager.on('error', () => undefined);
    eager.resume(); // a paused socket never emits 'close'
    eager.write(Buffer.concat([encodeHello(1, Buffer.alloc(16, 4), 'c1'), encodeRaftFrame(1, message({ type: MessageType.Vote, from: 1, to: 2, term: 99 }))]));
    await closed(eager);
    expect(got).toEqual([]);
    expect(b.stats.refused).toBe(2);
  });
});

describe('TCP transport limits', () => {
  it('drops a message too big for one frame instead of throwing into the caller', async () => {
    const [a] = await pair();
    const huge = message({ type: MessageType.Append, from: 1, to: 2, term: 1, entries: [{ term: 1, index: 1, type: 0, data: new Uint8Array(65 * 1024 * 1024) }] });
    expect(() => a.send(1, [huge, hb(1, 2, 1)])).not.toThrow();
    expect(a.stats.oversized).toBe(1);
  });

  it('bounds the queue for an unreachable peer and drops what does not fit', async () => {
    const a = await TcpTransport.listen({ nodeId: 1, maxQueueBytes: 64 * 1024 });
    open.push(a);
    a.addPeer(2, { host: '127.0.0.1', port: 1 }); // nothing listens there
    const big = message({ type: MessageType.Append, from: 1, to: 2, term: 1, entries: [{ term: 1, index: 1, type: 0, data: new Uint8Array(10_000) }] });
    for (let i = 0; i < 20; i++) a.send(1, [big]);
    expect(a.stats.dropped).toBeGreaterThanOrEqual(14);
    expect(a.connected(2)).toBe(false);
  });
});
