// Which produce failures the client sends again elsewhere, against two fake
// brokers whose produce socket answers as told: a batch refused with a code that
// says nothing was stored goes to the other broker; one whose outcome is unknown
// (a dropped connection, FLO_ERR_TIMEOUT) fails as ProduceOutcomeUnknownError
// and is never resent; a plain refusal fails with its code.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { connect, type FloClient } from '../../src/client/index.js';
import { classifyFailure, ProduceOutcomeUnknownError } from '../../src/client/produce-outcome.js';
import { SendFailure } from '../../src/client/produce-connection.js';
import { FloError, type ErrorCode } from '../../src/common/errors.js';
import { decodeBatch } from '../../src/common/wire.js';
import { encodeProduceAck, encodeProduceFailure, splitProduceRequest } from '../../src/common/frames.js';
import { freePort } from '../support/server-process.js';

type Behaviour = 'ack' | 'drop' | 'silent' | ErrorCode;

interface FakeBroker {
  url: string;
  behaviour: Behaviour;
  /** Produce requests received (events per request). */
  received: number[];
  /** The producer id and sequence each request carried. */
  producers: Array<{ id: number; sequence: number } | undefined>;
  server: Server;
}

async function fakeBroker(nodeId: string, cluster: () => unknown): Promise<FakeBroker> {
  const server = createServer((_request, response) => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(cluster())));
  const broker: FakeBroker = { url: '', behaviour: 'ack', received: [], producers: [], server };
  const sockets = new WebSocketServer({ server, path: '/v1/produce' });
  let nextOffset = 0;
  sockets.on('connection', (socket) => {
    socket.on('message', (data: Buffer) => {
      const { requestId, batch, producer } = splitProduceRequest(data);
      const events = decodeBatch(batch, 10_000).length;
      broker.received.push(events);
      broker.producers.push(producer);
      if (broker.behaviour === 'drop') return socket.terminate();
      if (broker.behaviour === 'silent') return; // takes the batch, keeps the socket open, never answers
      if (broker.behaviour === 'ack') {
        socket.send(encodeProduceAck(requestId, new Array<number>(events).fill(0), Array.from({ length: events }, () => nextOffset++)));
        return;
      }
      socket.send(encodeProduceFailure(requestId, JSON.stringify({ code: broker.behaviour, detail: `${nodeId} says ${broker.behaviour}` })));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  broker.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return broker;
}

let a: FakeBroker;
let b: FakeBroker;
/** One partition, led by broker 1 (a) as far as either broker knows. */
const clusterAnswer = (self: string) => () => ({
  mode: 'cluster',
  brokers: [{ nodeId: '1', url: a.url, self: self === '1' }, { nodeId: '2', url: b.url, self: self === '2' }],
  partitions: [{ partition: 0, leader: '1', raft: { term: 1 } }],
});

beforeAll(async () => {
  a = await fakeBroker('1', clusterAnswer('1'));
  b = await fakeBroker('2', clusterAnswer('2'));
});
afterAll(async () => {
  await Promise.all([a, b].map((broker) => new Promise((resolve) => broker.server.close(resolve))));
});
beforeEach(() => {
  for (const broker of [a, b]) {
    broker.behaviour = 'ack';
    broker.received = [];
    broker.producers = [];
  }
});

async function client(urls: string[], maxProduceAttempts = 8, idempotent = true, ackTimeoutMs = 30_000): Promise<FloClient> {
  return connect(urls, { timeoutMs: 2_000, closeTimeoutMs: 500, maxProduceAttempts, idempotent, ackTimeoutMs });
}

describe('a produce the leader refused', () => {
  it.each(['FLO_ERR_NOT_LEADER', 'FLO_ERR_UNAVAILABLE', 'FLO_ERR_SHUTTING_DOWN', 'FLO_ERR_OVERLOADED'] as const)('with %s is sent to another broker, which stores it', async (code) => {
    a.behaviour = code;
    const flo = await client([a.url, b.url]);
    await expect(flo.produce({ namespace: '/x', data: 'once' })).resolves.toMatch(/^0000-/);
    expect([a.received, b.received]).toEqual([[1], [1]]);
    await flo.close();
  });

  it('that nobody takes fails after maxProduceAttempts, saying nothing was stored', async () => {
    a.behaviour = 'FLO_ERR_UNAVAILABLE';
    b.behaviour = 'FLO_ERR_UNAVAILABLE';
    const flo = await client([a.url, b.url], 3);
    await expect(flo.produce({ namespace: '/x', data: 'never' })).rejects.toMatchObject({ code: 'FLO_ERR_UNAVAILABLE', message: expect.stringMatching(/gave up after 3 attempts; nothing was stored/) });
    expect(a.received.length + b.received.length).toBe(3);
    await flo.close();
  });

  it('that ends on a leader nobody can reach reports what the broker that answered said (no quorum), not "cannot reach"', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const minority: { broker?: FakeBroker } = {};
    minority.broker = await fakeBroker('2', () => ({
      mode: 'cluster',
      brokers: [{ nodeId: '2', url: minority.broker!.url, self: true }, { nodeId: '3', url: dead, self: false }],
      partitions: [{ partition: 0, leader: '3', raft: { term: 1 } }],
    }));
    try {
      minority.broker.behaviour = 'FLO_ERR_UNAVAILABLE';
      for (const attempts of [2, 3, 4]) {
        const flo = await client([minority.broker.url], attempts);
        const failure = await flo.produce({ namespace: '/x', data: 'never' }).then(() => undefined, (error: unknown) => error as FloError);
        expect(failure, `${attempts} attempts`).toMatchObject({ code: 'FLO_ERR_UNAVAILABLE', message: expect.stringMatching(new RegExp(`2 says FLO_ERR_UNAVAILABLE.*gave up after ${attempts} attempts; nothing was stored`)) });
        await flo.close();
      }
      expect(minority.broker.received.length).toBeGreaterThan(0);
    } finally {
      await new Promise((resolve) => minority.broker!.server.close(resolve));
    }
  });

  it('with a refusal another broker would repeat fails at once with its code', async () => {
    a.behaviour = 'FLO_ERR_EVENT_TOO_LARGE';
    const flo = await client([a.url, b.url]);
    await expect(flo.produce({ namespace: '/x', data: 'big' })).rejects.toMatchObject({ code: 'FLO_ERR_EVENT_TOO_LARGE' });
    expect([a.received, b.received]).toEqual([[1], []]);
    await flo.close();
  });

  it('at a broker that is down before anything was sent goes to the next one', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const flo = await client([dead, b.url, a.url]);
    a.behaviour = 'drop'; // the table names a as leader; make sure a is not the one that stores it
    a.server.closeAllConnections();
    const closing = new Promise((resolve) => a.server.close(resolve));
    await closing;
    await expect(flo.produce({ namespace: '/x', data: 'moved' })).resolves.toMatch(/^0000-/);
    expect(b.received).toEqual([1]);
    await flo.close();
    await new Promise<void>((resolve) => a.server.listen(Number(new URL(a.url).port), '127.0.0.1', resolve));
  });
});

describe('a produce whose outcome is unknown', () => {
  it.each([
    ['the connection drops after sending', 'drop', 'FLO_ERR_CONNECTION'],
    ['the broker answers FLO_ERR_TIMEOUT', 'FLO_ERR_TIMEOUT', 'FLO_ERR_TIMEOUT'],
    ['the broker answers FLO_ERR_CONNECTION', 'FLO_ERR_CONNECTION', 'FLO_ERR_CONNECTION'],
  ] as const)('without idempotence, is not resent when %s', async (_when, behaviour, code) => {
    a.behaviour = behaviour;
    const flo = await client([a.url, b.url], 8, false);
    const failure = await flo.produce({ namespace: '/x', data: 'maybe' }).then(() => undefined, (error: unknown) => error);
    expect(failure).toBeInstanceOf(ProduceOutcomeUnknownError);
    expect(failure).toMatchObject({ code, outcomeUnknown: true, message: expect.stringMatching(/^outcome unknown/) });
    expect([a.received, b.received]).toEqual([[1], []]);
    await flo.close();
  });
});

describe('an idempotent produce (the default) whose outcome is unknown', () => {
  it.each([
    ['the connection drops after sending', 'drop'],
    ['the broker answers FLO_ERR_TIMEOUT', 'FLO_ERR_TIMEOUT'],
    ['the broker answers FLO_ERR_OUTCOME_UNKNOWN', 'FLO_ERR_OUTCOME_UNKNOWN'],
  ] as const)('is resent whole with the same producer id and sequence when %s', async (_when, behaviour) => {
    a.behaviour = behaviour;
    const flo = await client([a.url, b.url]);
    await expect(flo.produce({ namespace: '/x', data: 'once' })).resolves.toMatch(/^0000-/);
    expect(a.received.length).toBeGreaterThanOrEqual(1);
    expect(b.received).toEqual([1]);
    const sent = [...a.producers, ...b.producers];
    expect(new Set(sent.map((p) => `${p?.id}:${p?.sequence}`)).size).toBe(1);
    expect(sent[0]).toMatchObject({ sequence: 0 });
    await flo.close();
  });

  it('numbers later batches after the events already sent', async () => {
    const flo = await client([a.url, b.url]);
    await flo.produce({ namespace: '/x', data: '1' });
    await Promise.all([flo.produce({ namespace: '/x', data: '2' }), flo.produce({ namespace: '/x', data: '3' })]);
    const sequences = a.producers.map((p) => p!.sequence);
    expect(sequences[0]).toBe(0);
    expect(sequences[1]).toBe(1);
    expect(new Set(a.producers.map((p) => p!.id)).size).toBe(1);
    await flo.close();
  });
});

describe('a produce the broker took and never answered', () => {
  it('fails without idempotence as outcome unknown once ackTimeoutMs has passed', async () => {
    a.behaviour = 'silent';
    const flo = await client([a.url, b.url], 8, false, 300);
    const started = performance.now();
    const failure = await flo.produce({ namespace: '/x', data: 'maybe' }).then(() => undefined, (error: unknown) => error);
    expect(failure).toBeInstanceOf(ProduceOutcomeUnknownError);
    expect(failure).toMatchObject({ code: 'FLO_ERR_TIMEOUT', message: expect.stringMatching(/no acknowledgement .* in 300 ms/) });
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect([a.received, b.received]).toEqual([[1], []]);
    await flo.close();
  }, 10_000);

  it('is sent again, idempotent, with the same producer id and sequence, and stored by the broker that answers', async () => {
    a.behaviour = 'silent';
    const flo = await client([a.url, b.url], 8, true, 300);
    await expect(flo.produce({ namespace: '/x', data: 'once' })).resolves.toMatch(/^0000-/);
    expect(b.received).toEqual([1]);
    const sent = [...a.producers, ...b.producers];
    expect(new Set(sent.map((p) => `${p?.id}:${p?.sequence}`)).size).toBe(1);
    await flo.close();
  }, 10_000);
});

describe('classifyFailure', () => {
  const failure = (code: ErrorCode, sent: boolean): SendFailure => new SendFailure(new FloError(code, 'x'), sent, 'http://127.0.0.1:1');
  it.each([
    ['FLO_ERR_CONNECTION', false, 'not-stored'],
    ['FLO_ERR_TIMEOUT', false, 'not-stored'],
    ['FLO_ERR_UNAUTHENTICATED', false, 'refused'],
    ['FLO_ERR_OVERLOADED', false, 'not-stored'],
    ['FLO_ERR_NOT_LEADER', true, 'not-stored'],
    ['FLO_ERR_UNAVAILABLE', true, 'not-stored'],
    ['FLO_ERR_SHUTTING_DOWN', true, 'not-stored'],
    ['FLO_ERR_OVERLOADED', true, 'not-stored'],
    ['FLO_ERR_CONNECTION', true, 'unknown'],
    ['FLO_ERR_TIMEOUT', true, 'unknown'],
    ['FLO_ERR_STORAGE', true, 'refused'],
    ['FLO_ERR_NAMESPACE_INVALID', true, 'refused'],
  ] as const)('%s (sent: %s) is %s', (code, sent, kind) => {
    expect(classifyFailure(failure(code, sent))).toBe(kind);
  });
});

describe('the acknowledgement deadline given', () => {
  it('is refused when it is not a positive number of milliseconds (it would time every batch out at once)', async () => {
    const { FloClient } = await import('../../src/client/index.js');
    for (const ackTimeoutMs of [0, -5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31]) {
      expect(() => new FloClient('http://127.0.0.1:1', { ackTimeoutMs }), String(ackTimeoutMs)).toThrow(/ackTimeoutMs must be a number of milliseconds from 1/);
    }
    expect(() => new FloClient('http://127.0.0.1:1', { ackTimeoutMs: 1 })).not.toThrow();
  });
});
