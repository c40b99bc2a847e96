import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EventStore } from '../../src/broker/storage/event-store.js';
import { Broker } from '../../src/embedded.js';
import { connect } from '../../src/client/index.js';
import { silentLogger, tempDir } from '../support/temp.js';

let dir: Awaited<ReturnType<typeof tempDir>>;
let broker: Broker | undefined;

beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  await broker?.close();
  broker = undefined;
  await dir.remove();
});

describe('the embedded broker', () => {
  it('produces and replays in-process without listening', async () => {
    broker = await Broker.start({ dataDir: dir.path, logger: silentLogger });
    expect(broker.url).toBeUndefined();
    const ids = await broker.produce([{ namespace: '/jobs/1', data: 'start' }, { namespace: '/jobs/1', data: 'done' }]);
    const texts: string[] = [];
    for await (const event of broker.subscribe({ namespace: '/jobs/**', from: 'earliest', follow: false })) texts.push(`${event.id}:${event.text()}`);
    expect(texts).toEqual([`${ids[0]}:start`, `${ids[1]}:done`]);
  });

  it('serves the same API to clients when given a port', async () => {
    broker = await Broker.start({ dataDir: dir.path, logger: silentLogger, port: 0 });
    const client = await connect(broker.url!);
    const id = await client.produce({ namespace: '/embedded/x', data: 'via http' });
    await client.close();
    const [event] = await collect(broker.subscribe({ namespace: '/embedded/**', follow: false }));
    expect(event?.id).toBe(id);
    const metrics = await (await fetch(`${broker.url}/metrics`)).text();
    const heads = [...metrics.matchAll(/^flo_partition_next_offset\{partition="\d+"\} (\d+)/gm)].map((match) => Number(match[1]));
    expect(heads.reduce((sum, head) => sum + head, 0)).toBe(1);
  });

  it('keeps tailing by default, like the client, until the consumer breaks', async () => {
    broker = await Broker.start({ dataDir: dir.path, logger: silentLogger });
    await broker.produce({ namespace: '/tail/a', data: 'before' });
    const seen: string[] = [];
    for await (const event of broker.subscribe({ namespace: '/tail/**' })) {
      seen.push(event.text());
      if (seen.length === 1) await broker.produce({ namespace: '/tail/a', data: 'after' });
      else break;
    }
    expect(seen).toEqual(['before', 'after']);
  });

  it('keeps retention rules given at start-up and those set later, across restarts', async () => {
    broker = await Broker.start({ dataDir: dir.path, logger: silentLogger, retention: [{ namespace: '/tmp/**', maxEvents: 1 }] });
    await broker.close();
    broker = await Broker.start({ dataDir: dir.path, logger: silentLogger, port: 0 });
    expect(broker.log.retentionRules.map((rule) => rule.input)).toEqual([{ namespace: '/tmp/**', maxEvents: 1 }]);
    const later = [{ namespace: '/logs/**', maxEvents: 3 }, { namespace: '/tmp/**', maxAge: '1h' }];
    const response = await fetch(`${broker.url}/v1/admin/retention`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ rules: later }) });
    expect(response.status).toBe(200);
    await broker.close();
    broker = await Broker.start({ dataDir: dir.path, logger: silentLogger });
    expect(broker.log.retentionRules.map((rule) => rule.input)).toEqual(later);
  });

  it('serves at once after a restart, while the first retention pass still runs', async () => {
    broker = await Broker.start({ dataDir: dir.path, logger: silentLogger, retention: [{ namespace: '/tmp/**', maxEvents: 1 }] });
    await broker.log.runRetention();
    await broker.produce([{ namespace: '/tmp/a', data: '1' }, { namespace: '/tmp/a', data: '2' }, { namespace: '/tmp/a', data: '3' }]);
    await broker.close();
    broker = undefined;
    // Hold the first pass after the restart at its first index read.
    let release!: () => void;
    let reach!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const reached = new Promise<void>((resolve) => (reach = resolve));
    const original = EventStore.prototype.readIndex;
    const readIndex = vi.spyOn(EventStore.prototype, 'readIndex').mockImplementationOnce(async function (this: EventStore, ...args) {
      reach();
      await released;
      return original.apply(this, args);
    });
    const starting = Broker.start({ dataDir: dir.path, logger: silentLogger, port: 0 });
    try {
      await reached;
      broker = await Promise.race([starting, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 10_000).unref())]);
      expect(broker, 'Broker.start waits for the held retention pass').toBeDefined();
      expect((await fetch(`${broker!.url}/healthz`)).status).toBe(200);
      expect(await texts(broker!, '/tmp/**')).toEqual(['1', '2', '3']);
    } finally {
      release();
      readIndex.mockRestore();
      broker ??= await starting;
    }
    await broker.log.runRetention();
    expect(await texts(broker, '/tmp/**')).toEqual(['3']);
  });

  it('refuses stored rules that a newer bound rejects, saying how to replace them', async () => {
    broker = await Broker.start({ dataDir: dir.path, logger: silentLogger });
    // As an older version, which expanded braces before counting them, could have saved it.
    await broker.log.store.writeSetting('retention', [{ namespace: '/{a,b}'.repeat(24), maxEvents: 1 }]);
    await broker.close();
    broker = undefined;
    await expect(Broker.start({ dataDir: dir.path, logger: silentLogger })).rejects.toThrow(/stored in the data dir are no longer accepted .*expands to more than 64 patterns.*start once with --retention/);
    broker = await Broker.start({ dataDir: dir.path, logger: silentLogger, retention: [] });
    await broker.close();
    broker = await Broker.start({ dataDir: dir.path, logger: silentLogger });
    expect(broker.log.retentionRules).toEqual([]);
  });
});

async function texts(target: Broker, namespace: string): Promise<string[]> {
  return (await collect(target.subscribe({ namespace, follow: false }))).map((event) => event.text());
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}
