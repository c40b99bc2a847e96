// The fault proxy, proven with real sockets on loopback: every fault does what
// it says, and heal puts the link back. "Nothing arrived while cut" is checked
// against a control link through an untouched proxy to the same target: once
// several round trips made it through the control, the faulted bytes would have
// arrived too if the proxy forwarded them.
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../support/temp.js';
import { FaultProxy } from './proxy.js';
import { dial, startTarget, type Client, type Target } from './sockets.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setUp(): Promise<{ target: Target; proxy: FaultProxy; control: FaultProxy }> {
  const target = await startTarget();
  const proxy = await FaultProxy.start({ targetPort: target.port });
  const control = await FaultProxy.start({ targetPort: target.port });
  cleanups.push(() => new Promise<void>((resolve) => target.server.close(() => resolve())), () => proxy.close(), () => control.close());
  return { target, proxy, control };
}

async function track(client: Client): Promise<Client> {
  cleanups.push(() => void client.socket.destroy());
  return client;
}

/** Several echo round trips through the control link: a clock made of the network itself. */
async function roundTrips(control: FaultProxy, count = 5): Promise<void> {
  const client = await track(await dial(control.port));
  for (let i = 0; i < count; i++) {
    const mark = `rt${i};`;
    client.socket.write(mark);
    await waitFor(() => client.received().includes(mark), `round trip ${i}`);
  }
}

describe('fault proxy', () => {
  it('forwards both ways when no fault is set', async () => {
    const { proxy } = await setUp();
    const client = await track(await dial(proxy.port));
    client.socket.write('ping');
    await waitFor(() => client.received() === 'hi\nping', 'the echo');
  });

  it('cut both ways holds every byte until heal, then delivers it in order', async () => {
    const { target, proxy, control } = await setUp();
    const client = await track(await dial(proxy.port));
    await waitFor(() => client.received() === 'hi\n', 'the greeting');
    proxy.cut('both');
    client.socket.write('one,');
    client.socket.write('two');
    await roundTrips(control);
    expect(target.received[0]!.toString()).toBe('');
    expect(client.received()).toBe('hi\n');
    proxy.heal();
    await waitFor(() => client.received() === 'hi\none,two', 'the held bytes after heal');
  });

  it('cut up holds client bytes while the target still reaches the client', async () => {
    const { target, proxy, control } = await setUp();
    proxy.cut('up');
    const client = await track(await dial(proxy.port));
    client.socket.write('held');
    await waitFor(() => client.received() === 'hi\n', 'the greeting, which flows down');
    await roundTrips(control);
    expect(target.received[0]!.toString()).toBe('');
    proxy.heal();
    await waitFor(() => client.received() === 'hi\nheld', 'the echo after heal');
  });

  it('cut down lets client bytes reach the target but holds its answers', async () => {
    const { target, proxy, control } = await setUp();
    proxy.cut('down');
    const client = await track(await dial(proxy.port));
    client.socket.write('up-only');
    await waitFor(() => target.received[0]?.toString() === 'up-only', 'the bytes at the target');
    await roundTrips(control);
    expect(client.received()).toBe('');
    proxy.heal();
    await waitFor(() => client.received() === 'hi\nup-only', 'greeting and echo after heal');
  });

  it('blackhole accepts connections but never delivers; heal resets them and new connections work', async () => {
    const { target, proxy, control } = await setUp();
    proxy.blackhole();
    const client = await track(await dial(proxy.port));
    client.socket.write('into the void');
    await roundTrips(control);
    expect(target.accepted).toBe(1); // only the control's connection reached the target
    expect(client.received()).toBe('');
    proxy.heal();
    await waitFor(() => client.closed(), 'the blackholed connection to be reset');
    expect(client.received()).toBe('');
    const fresh = await track(await dial(proxy.port));
    fresh.socket.write('back');
    await waitFor(() => fresh.received() === 'hi\nback', 'a working link after heal');
  });

  it('delay holds each chunk for the given time each way', async () => {
    const { proxy } = await setUp();
    const client = await track(await dial(proxy.port));
    await waitFor(() => client.received() === 'hi\n', 'the greeting');
    proxy.delay(150);
    const sentAt = Date.now();
    client.socket.write('slow');
    await waitFor(() => client.received() === 'hi\nslow', 'the delayed echo');
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(290); // 150 ms up + 150 ms down
    proxy.heal();
  });

  it('throttle limits the rate and keeps the bytes intact', async () => {
    const { target, proxy } = await setUp();
    proxy.throttle(5_000);
    const client = await track(await dial(proxy.port));
    const payload = Buffer.alloc(12_500, 'x');
    for (let i = 0; i < payload.length; i++) payload[i] = 97 + (i % 26);
    const sentAt = Date.now();
    client.socket.write(payload);
    await waitFor(() => target.received[0]?.length === payload.length, 'every throttled byte', 15_000);
    // At most one second of burst (5,000 bytes), then 5,000 bytes/s: at least 1.5 s for 12,500 bytes.
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(1_400);
    expect(target.received[0]!.equals(payload)).toBe(true);
  });

  it('drop after N bytes resets the connection mid-stream on both sides', async () => {
    const { target, proxy } = await setUp();
    const client = await track(await dial(proxy.port));
    await waitFor(() => client.received() === 'hi\n', 'the greeting');
    proxy.dropAfter(1_000);
    client.socket.write(Buffer.alloc(50_000, 'y'));
    await waitFor(() => client.errorCode() === 'ECONNRESET', 'a reset at the client');
    await waitFor(() => target.resets === 1, 'a reset at the target');
    expect(target.received[0]!.length).toBeLessThanOrEqual(1_000);
    expect(client.received().length).toBeLessThan(3 + 1_000);
    proxy.heal();
    const fresh = await track(await dial(proxy.port));
    fresh.socket.write('whole');
    await waitFor(() => fresh.received() === 'hi\nwhole', 'a working link after heal');
  });

  it('refuses a target outside loopback', async () => {
    await expect(FaultProxy.start({ targetHost: '10.0.0.1', targetPort: 1 })).rejects.toThrow(/127\.0\.0\.0\/8/);
  });
});
