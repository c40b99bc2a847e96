// Plain HTTP gets exactly-once on retry: a request carrying Flo-Producer-Id and
// Flo-Producer-Sequence that is sent again is answered with the first attempt's ids
// and stores nothing more, however its events spread over partitions.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Broker } from '../../src/broker/broker.js';
import { WebSocket } from 'ws';
import { decodeProduceReply, encodeProduceRequest } from '../../src/common/frames.js';
import { encodeBatch } from '../../src/common/wire.js';
import { silentLogger, tempDir, waitFor } from '../support/temp.js';

let dir: Awaited<ReturnType<typeof tempDir>>;
let broker: Broker;

beforeAll(async () => {
  dir = await tempDir();
  broker = await Broker.start({ dataDir: dir.path, logger: silentLogger, partitions: 4 });
});
afterAll(async () => {
  await broker.close();
  await dir.remove();
});

function produce(events: Array<{ namespace: string; data: string }>, producer?: { id: string; sequence: string }) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (producer) {
    headers['flo-producer-id'] = producer.id;
    headers['flo-producer-sequence'] = producer.sequence;
  }
  return broker.app.inject({ method: 'POST', url: '/v1/events', payload: JSON.stringify(events), headers });
}

async function stored(glob: string): Promise<string[]> {
  const response = await broker.app.inject({ method: 'GET', url: `/v1/events?namespace=${encodeURIComponent(glob)}&limit=1000`, headers: { accept: 'application/json' } });
  return (response.json() as { events: Array<{ data: string }> }).events.map((event) => event.data);
}

describe('idempotent produce over HTTP', () => {
  // Namespaces chosen to land on several partitions of 4.
  const batch = ['/a/1', '/b/2', '/c/3', '/d/4', '/a/1', '/e/5'].map((namespace, i) => ({ namespace, data: `x${i}` }));

  it('answers a retried request with the first ids and stores it once', async () => {
    const first = await produce(batch, { id: '42', sequence: '0' });
    expect(first.statusCode).toBe(201);
    const again = await produce(batch, { id: '42', sequence: '0' });
    expect(again.statusCode).toBe(201);
    expect(again.json()).toEqual(first.json());
    expect((await stored('/*/*')).sort()).toEqual(['x0', 'x1', 'x2', 'x3', 'x4', 'x5']);
  });

  it('stores the next request, dedups it too, and refuses a sequence reused for other events', async () => {
    const next = await produce([{ namespace: '/a/1', data: 'y' }], { id: '42', sequence: '6' });
    expect(next.statusCode).toBe(201);
    expect((await produce([{ namespace: '/a/1', data: 'y' }], { id: '42', sequence: '6' })).json()).toEqual(next.json());
    const reused = await produce([{ namespace: '/a/1', data: 'z' }, { namespace: '/a/1', data: 'z2' }], { id: '42', sequence: '6' });
    expect(reused.statusCode).toBe(409);
    expect(reused.json()).toMatchObject({ code: 'FLO_ERR_SEQUENCE_STALE', retryable: false });
    expect((await stored('/a/*')).filter((data) => data.startsWith('y') || data.startsWith('z'))).toEqual(['y']);
  });

  it('stores two copies of one request sent at once (a retry racing its first attempt) once, and answers both alike', async () => {
    const copy = [{ namespace: '/race/a', data: 'r' }, { namespace: '/race/b', data: 's' }];
    const [first, second] = await Promise.all([produce(copy, { id: '99', sequence: '0' }), produce(copy, { id: '99', sequence: '0' })]);
    expect(first.statusCode).toBe(201);
    expect(second.json()).toEqual(first.json());
    expect((await stored('/race/*')).sort()).toEqual(['r', 's']);
    // The producer's next request is new, not refused as stale.
    expect((await produce([{ namespace: '/race/a', data: 't' }], { id: '99', sequence: '2' })).statusCode).toBe(201);
  });

  it('keeps producers apart and leaves requests without the headers alone', async () => {
    const other = await produce([{ namespace: '/f/1', data: 'p' }], { id: '43', sequence: '0' });
    const plain1 = await produce([{ namespace: '/f/1', data: 'p' }]);
    const plain2 = await produce([{ namespace: '/f/1', data: 'p' }]);
    expect(new Set([other.json().ids[0], plain1.json().ids[0], plain2.json().ids[0]]).size).toBe(3);
    expect(await stored('/f/*')).toEqual(['p', 'p', 'p']);
  });

  it('refuses half or malformed producer headers with a 400 problem', async () => {
    for (const producer of [{ id: '42', sequence: 'x' }, { id: '0', sequence: '1' }, { id: '-1', sequence: '1' }, { id: '42', sequence: '4294967295' }]) {
      const response = await produce([{ namespace: '/g/1', data: 'n' }], producer);
      expect(response.statusCode, JSON.stringify(producer)).toBe(400);
      expect(response.json()).toMatchObject({ code: 'FLO_ERR_REQUEST_INVALID' });
    }
    const half = await broker.app.inject({ method: 'POST', url: '/v1/events', payload: '{"namespace":"/g/1"}', headers: { 'content-type': 'application/json', 'flo-producer-id': '5' } });
    expect(half.statusCode).toBe(400);
    expect(await stored('/g/*')).toEqual([]);
  });
});

describe('idempotent produce over the produce WebSocket', () => {
  it('answers a frame sent again with the same producer and sequence with the first positions', async () => {
    const listening = await Broker.start({ dataDir: (dirWs = await tempDir()).path, logger: silentLogger, partitions: 4, port: 0 });
    try {
      const socket = new WebSocket(`${listening.url!.replace('http', 'ws')}/v1/produce`);
      await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
      const replies: Buffer[] = [];
      socket.on('message', (data: Buffer) => replies.push(data));
      const batch = encodeBatch([{ namespace: '/ws/a', data: Buffer.from('1') }, { namespace: '/ws/b', data: Buffer.from('2') }]);
      socket.send(encodeProduceRequest(1, batch, { id: 77, sequence: 0 }));
      await waitFor(() => replies.length === 1, 'first ack');
      socket.send(encodeProduceRequest(2, batch, { id: 77, sequence: 0 }));
      await waitFor(() => replies.length === 2, 'second ack');
      const [first, second] = replies.map((reply) => decodeProduceReply(reply));
      expect(first!.ok && second!.ok).toBe(true);
      if (first!.ok && second!.ok) {
        expect([...second!.offsets]).toEqual([...first!.offsets]);
        expect([...second!.partitions]).toEqual([...first!.partitions]);
      }
      socket.close();
      const stored: string[] = [];
      for await (const event of listening.subscribe({ namespace: '/ws/*', follow: false })) stored.push(event.namespace);
      expect(stored.sort()).toEqual(['/ws/a', '/ws/b']);
    } finally {
      await listening.close();
      await dirWs.remove();
    }
  });
});

let dirWs: Awaited<ReturnType<typeof tempDir>>;
