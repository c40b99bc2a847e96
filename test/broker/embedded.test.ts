import { afterEach, beforeEach, describe, expect, it } from 'vitest';
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
    broker = await Broker.start({ dataDir: dir.path, logger: silentLogger });
    expect(broker.log.retentionRules.map((rule) => rule.input)).toEqual([{ namespace: '/tmp/**', maxEvents: 1 }]);
  });
});

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}
