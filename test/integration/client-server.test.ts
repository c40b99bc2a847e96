// The real `flo server` process driven by the real client over loopback.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, FloClient } from '../../src/client/index.js';
import type { SubscriptionRetry } from '../../src/client/subscription.js';
import { freePort, startServer, type ServerProcess } from '../support/server-process.js';
import { tempDir, waitFor } from '../support/temp.js';

let dir: Awaited<ReturnType<typeof tempDir>>;
let server: ServerProcess;
let client: FloClient;

beforeAll(async () => {
  dir = await tempDir();
  server = await startServer(dir.path);
  client = await connect(server.url);
});
afterAll(async () => {
  await client?.close();
  await server?.stop();
  await dir.remove();
});

describe('client and server', () => {
  it('produces, reads back by id and glob, and responds with parentId', async () => {
    const requestId = await client.produce({ namespace: '/rpc/requests', json: { question: 'eggs?' } });
    const sub = client.subscribe({ namespace: '/rpc/requests', from: 'earliest', follow: false });
    const received = [];
    for await (const event of sub) received.push(event);
    expect(received).toHaveLength(1);
    expect(received[0]!.id).toBe(requestId);
    expect(received[0]!.json()).toEqual({ question: 'eggs?' });
    const answerId = await client.respond(received[0]!, { namespace: '/rpc/answers', data: 'yes' });
    const answers = [];
    for await (const event of client.subscribe({ namespace: '/rpc/answers', follow: false })) answers.push(event);
    expect(answers.map((event) => [event.id, event.parentId, event.text()])).toEqual([[answerId, requestId, 'yes']]);
  });

  it('switches from replay to tail without a gap or a duplicate while producers keep writing', async () => {
    const total = 3000;
    const producing = (async () => {
      const pending: Array<Promise<string>> = [];
      for (let i = 0; i < total; i++) {
        pending.push(client.produce({ namespace: `/switch/${i % 5}`, data: String(i) }));
        if (i % 100 === 99) await Promise.all(pending.splice(0));
      }
      await Promise.all(pending);
    })();
    await waitFor(async () => (await client.read({ namespace: '/switch/**', limit: 1 })).events.length > 0, 'first events');
    const seen = new Map<string, number[]>();
    let count = 0;
    const sub = client.subscribe({ namespace: '/switch/**', from: 'earliest' });
    for await (const event of sub) {
      const list = seen.get(event.namespace) ?? [];
      list.push(Number(event.text()));
      seen.set(event.namespace, list);
      if (++count === total) break;
    }
    await producing;
    expect(count).toBe(total);
    for (const [namespace, values] of seen) {
      expect(values, namespace).toEqual([...values].sort((a, b) => a - b));
      expect(new Set(values).size).toBe(values.length);
    }
  });

  it('resumes a subscription from its cursor after the consumer stops', async () => {
    await client.produceBatch(Array.from({ length: 10 }, (_, i) => ({ namespace: '/resume/x', data: String(i) })));
    const first = client.subscribe({ namespace: '/resume/**', follow: false });
    const got: string[] = [];
    for await (const event of first) {
      got.push(event.text());
      if (got.length === 4) break;
    }
    const second = client.subscribe({ namespace: '/resume/**', from: first.cursor, follow: false });
    for await (const event of second) got.push(event.text());
    expect(got).toEqual(Array.from({ length: 10 }, (_, i) => String(i)));
  });

  it('rejects bad produce input with the broker code and keeps the connection usable', async () => {
    await expect(client.produce({ namespace: 'no-slash', data: 'x' })).rejects.toMatchObject({ code: 'FLO_ERR_NAMESPACE_INVALID' });
    expect(await client.produce({ namespace: '/still/fine', data: 'x' })).toMatch(/^[0-9a-f]{4}-[0-9a-f]{13}$/);
  });

  it('fails only the bad event of a batch made in one tick', async () => {
    const results = await Promise.allSettled([
      client.produce({ namespace: '/neighbours/1', data: 'a' }),
      client.produce({ namespace: 'bad', data: 'b' }),
      client.produce({ namespace: '/neighbours/2', data: Buffer.alloc(2 * 1024 * 1024) }),
      client.produce({ namespace: '/neighbours/3', data: 'c' }),
    ]);
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    expect((results[2] as PromiseRejectedResult).reason).toMatchObject({ code: 'FLO_ERR_EVENT_TOO_LARGE' });
  });

  it('surfaces a subscription error from the broker as a typed error', async () => {
    const sub = client.subscribe({ namespace: 'bad glob' });
    await expect((async () => {
      for await (const _event of sub) break;
    })()).rejects.toMatchObject({ code: 'FLO_ERR_GLOB_INVALID' });
  });

  it('tails over Server-Sent Events for curl and browsers', async () => {
    await client.produce({ namespace: '/sse/a', data: 'hello sse' });
    const aborter = new AbortController();
    const response = await fetch(`${server.url}/v1/subscribe?namespace=/sse/**`, { headers: { accept: 'text/event-stream' }, signal: aborter.signal });
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const reader = response.body!.getReader();
    let text = '';
    while (!text.includes('caught-up')) text += new TextDecoder().decode((await reader.read()).value);
    aborter.abort();
    expect(text).toContain('"data":"hello sse"');
    expect(text).toMatch(/id: c1\./);
  });

  it('resumes Server-Sent Events exactly after the event named by Last-Event-ID', async () => {
    await client.produceBatch(['one', 'two', 'three'].map((data) => ({ namespace: '/sse-resume/a', data })));
    const read = async (headers: Record<string, string>): Promise<string> => {
      const aborter = new AbortController();
      const response = await fetch(`${server.url}/v1/subscribe?namespace=/sse-resume/**&follow=false`, { headers: { accept: 'text/event-stream', ...headers }, signal: aborter.signal });
      return response.text();
    };
    const first = await read({});
    const idAfterOne = /id: (c1\.[^\n]+)\nevent: event\ndata: [^\n]*"data":"one"/.exec(first)?.[1];
    expect(idAfterOne).toBeDefined();
    const resumed = await read({ 'last-event-id': idAfterOne! });
    expect([...resumed.matchAll(/"data":"(\w+)"/g)].map((match) => match[1])).toEqual(['two', 'three']);
  });

  it('paces a subscriber that does not read instead of buffering for it', async () => {
    const payload = 'z'.repeat(16 * 1024);
    await client.produceBatch(Array.from({ length: 2000 }, (_, i) => ({ namespace: '/slow/x', data: payload + i })));
    const slowClient = await connect(server.url, { subscriptionHighWaterEvents: 50 });
    const deliveredBefore = await brokerMetric('flo_delivered_events_total');
    const sub = slowClient.subscribe({ namespace: '/slow/**', follow: true });
    const iterator = sub[Symbol.asyncIterator]();
    await iterator.next();
    // The consumer stops reading here. Give the broker ample time to push everything if it would.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const pushed = (await brokerMetric('flo_delivered_events_total')) - deliveredBefore;
    await slowClient.close();
    expect(pushed).toBeGreaterThan(0);
    expect(pushed).toBeLessThan(2000);
  });
});

async function brokerMetric(name: string): Promise<number> {
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\d+)`, 'm').exec(metrics)?.[1] ?? NaN);
}

describe('consumer groups', () => {
  it('resume a new consumer from the cursor the group committed', async () => {
    await client.produceBatch(Array.from({ length: 6 }, (_, i) => ({ namespace: '/billing/x', data: String(i) })));
    const first = client.subscribe({ namespace: '/billing/**', group: 'billing', from: 'earliest', follow: false });
    const got: string[] = [];
    for await (const event of first) {
      got.push(event.text());
      if (got.length === 2) break;
    }
    await first.commit();
    const second = client.subscribe({ namespace: '/billing/**', group: 'billing', from: 'earliest', follow: false });
    for await (const event of second) got.push(event.text());
    expect(got).toEqual(['0', '1', '2', '3', '4', '5']);
    const stored = await fetch(`${server.url}/v1/groups/billing`);
    expect(((await stored.json()) as { cursor: string }).cursor).toBe(first.cursor);
  });

  it('refuse bad group names and unknown groups with problems', async () => {
    expect((await fetch(`${server.url}/v1/groups/no%20spaces`)).status).toBe(400);
    const missing = await fetch(`${server.url}/v1/groups/never-committed`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { code: string }).code).toBe('FLO_ERR_GROUP_NOT_FOUND');
    const badCursor = await fetch(`${server.url}/v1/groups/g1`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ cursor: 'c1.1' }) });
    expect(badCursor.status).toBe(400);
  });
});

describe('a subscription whose broker is not up yet', () => {
  it('retries its first connection with backoff and delivers once the broker starts', async () => {
    const port = await freePort();
    const early = new FloClient(`127.0.0.1:${port}`);
    const retries: SubscriptionRetry[] = [];
    const sub = early.subscribe({ namespace: '/late/**', from: 'earliest', onRetry: (retry) => retries.push(retry) });
    const first = sub[Symbol.asyncIterator]().next();
    await waitFor(() => retries.length >= 2, 'two retries');
    expect(retries[0]).toMatchObject({ attempt: 1, error: { code: 'FLO_ERR_CONNECTION' } });
    expect(retries[1]!.delayMs).toBeGreaterThan(retries[0]!.delayMs);
    const lateDir = await tempDir();
    const late = await startServer(lateDir.path, [], port);
    try {
      const producer = await connect(late.url);
      await producer.produce({ namespace: '/late/a', data: 'finally' });
      await producer.close();
      const result = await first;
      expect(result.done).toBe(false);
      expect(result.value!.text()).toBe('finally');
    } finally {
      await early.close();
      await late.stop();
      await lateDir.remove();
    }
  });

  it('fails with the connection error after maxConnectAttempts failed attempts in a row', async () => {
    const early = new FloClient(`http://127.0.0.1:${await freePort()}`);
    const retries: SubscriptionRetry[] = [];
    const sub = early.subscribe({ maxConnectAttempts: 3, onRetry: (retry) => retries.push(retry) });
    await expect((async () => {
      for await (const _event of sub) break;
    })()).rejects.toMatchObject({ code: 'FLO_ERR_CONNECTION' });
    expect(retries.map((retry) => retry.attempt)).toEqual([1, 2]);
    await early.close();
  });
});
