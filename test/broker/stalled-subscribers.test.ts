// Readers that never read, against a real listening broker API: their sockets are
// paused (the kernel buffers fill, then the broker's), and the broker must keep
// what it holds for them bounded and cut them with a cursor they can resume from.
import { connect as connectTcp, type Socket } from 'node:net';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { subscribeRoutes, WS_CLOSE_TOO_SLOW } from '../../src/broker/api/subscribe.js';
import { SubscriberBuffers } from '../../src/broker/api/subscriber-buffers.js';
import type { EventLog } from '../../src/broker/event-log.js';
import { decodeRecordsFrame, frameText, frameType, FrameType } from '../../src/common/frames.js';
import { forEachRecordEvent } from '../../src/common/event.js';
import { connect } from '../../src/client/index.js';
import { formatCursor, parseCursor, parseEventId } from '../../src/common/ids.js';
import { Broker } from '../../src/embedded.js';
import { input, openLog } from '../support/log.js';
import { silentLogger, tempDir, waitFor } from '../support/temp.js';

const EVENTS = 2400;
const EVENT_BYTES = 10_000;
const PER_SUBSCRIBER_BYTES = 256 * 1024;
/** A page (256 KiB) plus the group that crosses its end (20 events here) plus framing: the most one write adds. */
const MAX_WRITE_BYTES = 512 * 1024;

let dir: Awaited<ReturnType<typeof tempDir>>;
let log: EventLog;
let app: FastifyInstance;
let port: number;

beforeAll(async () => {
  dir = await tempDir();
  log = await openLog(dir.path);
  for (let i = 0; i < EVENTS; i += 20) await log.append(Array.from({ length: 20 }, () => input('/big/x', 'x'.repeat(EVENT_BYTES))));
});
afterEach(async () => {
  await app.close();
});
afterAll(async () => {
  await log.close();
  await dir.remove();
});

/** The broker's subscribe API on a real port, with small limits. */
async function listen(totalBytes: number): Promise<SubscriberBuffers> {
  const buffers = new SubscriberBuffers({ perSubscriberBytes: PER_SUBSCRIBER_BYTES, totalBytes, stallTimeoutMs: 1000, closeGraceMs: 20_000 });
  app = Fastify();
  await app.register(websocket, { options: { perMessageDeflate: false } });
  subscribeRoutes(app, log, buffers);
  app.get('/healthz', async () => ({ status: 'ok' }));
  // The client learns its routing table first: this broker is the whole cluster.
  app.get('/v1/cluster', async () => ({ mode: 'single-node', nodeId: '1', replicationFactor: 1, durability: 'fsync', brokers: [{ nodeId: '1', url: `http://127.0.0.1:${port}`, ready: true, self: true }], partitions: [] }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as { port: number }).port;
  return buffers;
}

/** A WebSocket subscriber that stops reading as soon as it is open; `drain()` reads on to the close. */
async function stalledWebSocket(): Promise<{ drain: () => Promise<{ events: number; last: Buffer | undefined; code: number; reason: string }> }> {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/v1/subscribe?namespace=/big/**&follow=false`, { perMessageDeflate: false });
  let events = 0;
  let last: Buffer | undefined;
  socket.on('message', (frame: Buffer) => {
    last = frame;
    if (frameType(frame) === FrameType.RECORDS) for (const record of decodeRecordsFrame(frame)) forEachRecordEvent(record, () => events++);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise((resolve) => socket.once('open', resolve));
  socket.pause();
  return {
    drain: async () => {
      socket.resume();
      const { code, reason } = await closed;
      return { events, last, code, reason };
    },
  };
}

/** An SSE subscriber on a raw socket that sends its request and never reads. */
async function stalledSse(): Promise<{ drain: () => Promise<string> }> {
  const socket: Socket = connectTcp(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.pause();
  socket.write(`GET /v1/subscribe?namespace=/big/**&follow=false HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n\r\n`);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise((resolve) => socket.once('close', resolve));
  return {
    drain: async () => {
      socket.resume();
      await ended;
      return Buffer.concat(chunks).toString('utf8');
    },
  };
}

describe('subscribers that never read', () => {
  it('are cut with a cursor to resume from, each holding at most its bound and one write', async () => {
    const buffers = await listen(64 * 1024 * 1024);
    const webSockets = await Promise.all([stalledWebSocket(), stalledWebSocket(), stalledWebSocket()]);
    const sse = await Promise.all([stalledSse(), stalledSse(), stalledSse()]);
    await waitFor(() => buffers.cutSubscribers === 6, 'the broker to cut all six stalled subscribers', 30_000);
    expect(buffers.peakBufferedBytes).toBeGreaterThan(6 * PER_SUBSCRIBER_BYTES);
    expect(buffers.peakBufferedBytes).toBeLessThanOrEqual(6 * (PER_SUBSCRIBER_BYTES + MAX_WRITE_BYTES));

    // A WebSocket reader that catches up reads every event it was sent, then the problem and the close, both naming the cursor after them.
    for (const subscriber of webSockets) {
      const { events, last, code, reason } = await subscriber.drain();
      expect(code).toBe(WS_CLOSE_TOO_SLOW);
      expect(events).toBeGreaterThan(0);
      expect(events).toBeLessThan(EVENTS);
      const problem = JSON.parse(frameText(last!)) as { code: string; cursor: string };
      expect(frameType(last!)).toBe(FrameType.ERROR);
      expect(problem.code).toBe('FLO_ERR_SUBSCRIBER_TOO_SLOW');
      expect(parseCursor(problem.cursor).reduce((sum, offset) => sum + offset, 0)).toBe(events);
      expect(reason).toBe(`too slow; resume from ${problem.cursor}`);
    }
    // An SSE reader ends with an error event whose id (its Last-Event-ID) is the id of the last event it got.
    for (const subscriber of sse) {
      const text = await subscriber.drain();
      const ids = [...text.matchAll(/^id: (\S+)\nevent: event\n/gm)].map((match) => match[1]!);
      const error = /^id: (\S+)\nevent: error\ndata: (.*)\n\n/m.exec(text);
      expect(ids.length).toBeGreaterThan(0);
      expect(error?.[1]).toBe(ids.at(-1));
      expect(JSON.parse(error![2]!)).toMatchObject({ code: 'FLO_ERR_SUBSCRIBER_TOO_SLOW', cursor: ids.at(-1) });
    }
    await waitFor(() => buffers.bufferedBytes === 0, 'the cut subscribers to be released');
  });

  it('holds a reader that reads while stalled ones fill the total, and serves it everything once they are cut', async () => {
    const totalBytes = 2 * PER_SUBSCRIBER_BYTES;
    const buffers = await listen(totalBytes);
    const stalled = await Promise.all([stalledWebSocket(), stalledWebSocket()]);
    await waitFor(() => buffers.bufferedBytes >= totalBytes, 'the stalled subscribers to fill the total');
    const socket = new WebSocket(`ws://127.0.0.1:${port}/v1/subscribe?namespace=/big/**&follow=false`, { perMessageDeflate: false });
    let events = 0;
    let end: string | undefined;
    socket.on('message', (frame: Buffer) => {
      if (frameType(frame) === FrameType.RECORDS) for (const record of decodeRecordsFrame(frame)) forEachRecordEvent(record, () => events++);
      if (frameType(frame) === FrameType.END) end = frameText(frame);
    });
    const closed = new Promise<number>((resolve) => socket.once('close', resolve));
    await waitFor(() => buffers.cutSubscribers === 2, 'the broker to cut the two stalled subscribers', 30_000);
    expect(events).toBeLessThan(EVENTS);
    for (const subscriber of stalled) expect((await subscriber.drain()).code).toBe(WS_CLOSE_TOO_SLOW);
    expect(await closed).toBe(1000);
    expect(events).toBe(EVENTS);
    expect(end).toBe(formatCursor(log.head()));
    expect(buffers.peakBufferedBytes).toBeLessThanOrEqual(totalBytes + MAX_WRITE_BYTES);
  });

  it('cut under the client library, which resubscribes from its own cursor and misses nothing', async () => {
    const buffers = await listen(64 * 1024 * 1024);
    const client = await connect(`http://127.0.0.1:${port}`, { subscriptionHighWaterBytes: 100_000 });
    try {
      const offsets: number[] = [];
      for await (const event of client.subscribe({ namespace: '/big/**', follow: false })) {
        offsets.push(parseEventId(event.id).offset);
        // The consumer stops after its first event until the broker has cut the connection under it.
        if (offsets.length === 1) await waitFor(() => buffers.cutSubscribers === 1, 'the broker to cut the paused client', 30_000);
      }
      expect(offsets).toEqual(Array.from({ length: EVENTS }, (_, i) => i));
    } finally {
      await client.close();
    }
  });

  it('are cut by a started broker too, which counts them in /metrics', async () => {
    const brokerDir = await tempDir();
    const broker = await Broker.start({ dataDir: brokerDir.path, logger: silentLogger, port: 0, subscriberLimits: { perSubscriberBytes: 64 * 1024, stallTimeoutMs: 500 } });
    try {
      for (let i = 0; i < 600; i += 20) await broker.produce(Array.from({ length: 20 }, () => ({ namespace: '/big/x', data: 'x'.repeat(EVENT_BYTES) })));
      port = Number(new URL(broker.url!).port);
      const stalled = await stalledSse();
      const metric = async (name: string): Promise<number> => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(await (await fetch(`${broker.url}/metrics`)).text())?.[1]);
      await waitFor(async () => (await metric('flo_subscribers_cut_total')) === 1, 'the broker to count one cut subscriber', 30_000);
      expect(await stalled.drain()).toMatch(/event: error\ndata: \{[^\n]*"code":"FLO_ERR_SUBSCRIBER_TOO_SLOW"/);
      expect(await metric('flo_subscriber_buffered_bytes')).toBe(0);
    } finally {
      await broker.close();
      await brokerDir.remove();
    }
  });
});
