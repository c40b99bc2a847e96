// Durability: every acknowledged event survives SIGKILL of the broker in the
// middle of a produce stream, in order, exactly once; subscribers resume
// across the restart from their cursor without loss or duplicates.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connect, type FloEvent } from '../../src/client/index.js';
import { startServer, type ServerProcess } from '../support/server-process.js';
import { tempDir, waitFor } from '../support/temp.js';

let dir: Awaited<ReturnType<typeof tempDir>>;
const servers: ServerProcess[] = [];

beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  for (const server of servers.splice(0)) await server.stop('SIGKILL');
  await dir.remove();
});

async function start(port?: number): Promise<ServerProcess> {
  const server = await startServer(dir.path, [], port);
  servers.push(server);
  return server;
}

describe('crash safety', () => {
  it('keeps every acknowledged event after SIGKILL mid-produce, in order, with no duplicates', async () => {
    const server = await start();
    const client = await connect(server.url);
    const acked = new Map<string, string>();
    let sent = 0;
    let failures = 0;
    const pump = (async () => {
      for (let round = 0; round < 10_000; round++) {
        const batch = Array.from({ length: 50 }, () => {
          const value = String(sent++);
          return client.produce({ namespace: `/crash/${Number(value) % 4}`, data: value }).then(
            (id) => void acked.set(id, value),
            () => void failures++,
          );
        });
        await Promise.all(batch);
        if (failures > 0) return;
      }
    })();
    await waitFor(() => acked.size >= 2000, 'some acknowledged events', 30_000);
    await server.stop('SIGKILL');
    await pump;
    await client.close();
    expect(failures).toBeGreaterThan(0);

    const restarted = await start();
    const reader = await connect(restarted.url);
    const stored: FloEvent[] = [];
    for await (const event of reader.subscribe({ from: 'earliest', follow: false })) stored.push(event);
    await reader.close();

    const storedById = new Map(stored.map((event) => [event.id, event.text()]));
    expect(storedById.size).toBe(stored.length);
    for (const [id, value] of acked) expect(storedById.get(id), `acknowledged ${id}`).toBe(value);
    const values = stored.map((event) => Number(event.text()));
    expect(new Set(values).size).toBe(values.length);
    for (let ns = 0; ns < 4; ns++) {
      const inNamespace = stored.filter((event) => event.namespace === `/crash/${ns}`).sort((a, b) => a.offset - b.offset).map((event) => Number(event.text()));
      expect(inNamespace).toEqual([...inNamespace].sort((a, b) => a - b));
    }
  });

  it('lets a subscriber resume across a broker restart without loss or duplicates', async () => {
    const server = await start();
    const producer = await connect(server.url);
    await producer.produceBatch(Array.from({ length: 100 }, (_, i) => ({ namespace: '/restart/a', data: String(i) })));
    await producer.close();
    const consumer = await connect(server.url);
    const values: number[] = [];
    const consuming = (async () => {
      for await (const event of consumer.subscribe({ namespace: '/restart/**', from: 'earliest' })) {
        values.push(Number(event.text()));
        if (values.length === 200) return;
      }
    })();
    await waitFor(() => values.length >= 100, 'the first 100 events');
    await server.stop('SIGKILL');
    const restarted = await start(server.port);
    const producer2 = await connect(restarted.url);
    await producer2.produceBatch(Array.from({ length: 100 }, (_, i) => ({ namespace: '/restart/a', data: String(100 + i) })));
    await producer2.close();
    await consuming;
    await consumer.close();
    expect(values).toEqual(Array.from({ length: 200 }, (_, i) => i));
  });

  it('shuts down gracefully on SIGTERM with exit code 0', async () => {
    const server = await start();
    const client = await connect(server.url);
    await client.produce({ namespace: '/term/a', data: 'kept' });
    await client.close();
    expect(await server.stop('SIGTERM')).toBe(0);
    const restarted = await start();
    const reader = await connect(restarted.url);
    const page = await reader.read({ namespace: '/term/**' });
    await reader.close();
    expect(page.events.map((event) => event.data)).toEqual(['kept']);
  });
});

describe('shutdown with a stalled reader', () => {
  it('exits on SIGTERM even while an SSE reader has stopped reading', async () => {
    const server = await start();
    const client = await connect(server.url);
    await client.produceBatch(Array.from({ length: 3000 }, (_, i) => ({ namespace: '/stall/x', data: 'y'.repeat(2000) + i })));
    await client.close();
    const aborter = new AbortController();
    const response = await fetch(`${server.url}/v1/subscribe?namespace=/stall/**`, { headers: { accept: 'text/event-stream' }, signal: aborter.signal });
    const reader = response.body!.getReader();
    await reader.read(); // one chunk, then this reader stalls
    expect(await server.stop('SIGTERM')).toBe(0);
    aborter.abort();
  });
});
