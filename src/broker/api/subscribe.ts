// Live subscriptions: GET /v1/subscribe as a WebSocket (binary frames of
// frames.ts, the client's path) or as Server-Sent Events (JSON events, for curl
// and browsers). Both drive the same replay-then-tail loop and wait on the
// socket before reading the next page, so a slow subscriber is paced, never buffered.
import { once } from 'node:events';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type {} from '@fastify/websocket';
import type { WebSocket } from 'ws';
import { MAX_SUBSCRIPTIONS, SUBSCRIBER_HIGH_WATER_BYTES } from '../../common/bounds.js';
import { FloError } from '../../common/errors.js';
import { forEachRecordEvent, toEventJson } from '../../common/event.js';
import { encodeRecordsFrame, encodeTextFrame, FrameType } from '../../common/frames.js';
import { formatCursor } from '../../common/ids.js';
import { compileGlob } from '../../common/namespace.js';
import type { EventLog } from '../event-log.js';
import { resolvePosition } from '../positions.js';
import { subscribe, type SubscriptionOptions } from '../subscription.js';
import { groupCursor, GROUP_NAME_PATTERN } from './groups.js';
import { problemOf, toFloError } from './problem.js';

const PAGE_BYTES = 256 * 1024;
const PAGE_EVENTS = 4096;

interface SubscribeQuery {
  namespace?: string;
  from?: string;
  follow?: boolean;
  group?: string;
}

const subscribeQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    namespace: { type: 'string', maxLength: 1024 },
    from: { type: 'string', maxLength: 65536 },
    follow: { type: 'boolean', default: true },
    group: { type: 'string', pattern: GROUP_NAME_PATTERN },
  },
} as const;

export function subscribeRoutes(app: FastifyInstance, log: EventLog): void {
  let active = 0;
  // On shutdown every subscription ends at once, even one whose reader stopped reading.
  const live = new Set<{ abort: () => void }>();
  app.addHook('preClose', async () => {
    for (const subscription of live) subscription.abort();
  });
  const admit = (): (() => void) => {
    if (active >= MAX_SUBSCRIPTIONS) throw new FloError('FLO_ERR_OVERLOADED', `the broker serves at most ${MAX_SUBSCRIPTIONS} subscriptions`);
    active++;
    log.metrics.subscriptions.inc();
    return () => {
      active--;
      log.metrics.subscriptions.dec();
    };
  };
  app.route<{ Querystring: SubscribeQuery }>({
    method: 'GET',
    url: '/v1/subscribe',
    schema: { querystring: subscribeQuerySchema },
    handler: (request, reply) => {
      const entry = { abort: () => reply.raw.destroy() };
      live.add(entry);
      reply.raw.once('close', () => live.delete(entry));
      return serveSse(log, request, reply, admit);
    },
    wsHandler: (socket, request) => {
      const entry = { abort: () => socket.terminate() };
      live.add(entry);
      socket.once('close', () => live.delete(entry));
      void serveWebSocket(log, socket, request as FastifyRequest<{ Querystring: SubscribeQuery }>, admit);
    },
  });
}

async function optionsOf(log: EventLog, query: SubscribeQuery, signal: AbortSignal, from?: string): Promise<SubscriptionOptions> {
  const selector = compileGlob(query.namespace);
  const stored = query.group === undefined ? undefined : await groupCursor(log, query.group);
  return {
    selector,
    start: await resolvePosition(log, from ?? stored ?? query.from),
    follow: query.follow ?? true,
    maxBytesPerPage: PAGE_BYTES,
    maxEventsPerPage: PAGE_EVENTS,
    signal,
  };
}

async function serveWebSocket(log: EventLog, socket: WebSocket, request: FastifyRequest<{ Querystring: SubscribeQuery }>, admit: () => () => void): Promise<void> {
  const aborter = new AbortController();
  socket.on('close', () => aborter.abort());
  let release: (() => void) | undefined;
  try {
    release = admit();
    let previous: Promise<void> = Promise.resolve();
    const options = await optionsOf(log, request.query, aborter.signal);
    for await (const item of subscribe(log, options)) {
      await previous;
      if (socket.readyState !== socket.OPEN) break;
      if (item.kind === 'records') {
        const frame = encodeRecordsFrame(item.records);
        log.metrics.deliveredEvents.inc(item.events);
        log.metrics.deliveredBytes.inc(frame.length);
        previous = sendFrame(socket, frame);
      } else {
        const type = item.kind === 'start' ? FrameType.START : item.kind === 'caught-up' ? FrameType.CAUGHT_UP : FrameType.END;
        previous = sendFrame(socket, encodeTextFrame(type, formatCursor(item.cursor)));
      }
    }
    await previous;
    if (socket.readyState === socket.OPEN) socket.close(1000, log.isClosing ? 'broker shutting down' : 'end of stream');
  } catch (error) {
    const problem = problemOf(toFloError(error));
    if (problem.status >= 500) request.log.error({ err: error }, 'subscription failed');
    if (socket.readyState === socket.OPEN) {
      socket.send(encodeTextFrame(FrameType.ERROR, JSON.stringify(problem)));
      socket.close(problem.status >= 500 ? 1011 : 1008, problem.code);
    }
  } finally {
    release?.();
    aborter.abort();
  }
}

/** Resolves when the frame is handed to the kernel: a full socket buffer holds the loop back. */
function sendFrame(socket: WebSocket, frame: Buffer): Promise<void> {
  return new Promise((resolve) => {
    socket.send(frame, () => resolve());
  });
}

async function serveSse(log: EventLog, request: FastifyRequest<{ Querystring: SubscribeQuery }>, reply: FastifyReply, admit: () => () => void): Promise<void> {
  const lastEventId = request.headers['last-event-id'];
  const aborter = new AbortController();
  const options = await optionsOf(log, request.query, aborter.signal, typeof lastEventId === 'string' ? lastEventId : undefined);
  const release = admit();
  const raw = reply.raw;
  reply.hijack();
  raw.on('close', () => aborter.abort());
  raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  let position = options.start;
  try {
    for await (const item of subscribe(log, options)) {
      let chunk = '';
      if (item.kind === 'records') {
        const cursor = [...position];
        for (const record of item.records) forEachRecordEvent(record, (event) => {
          cursor[event.partition] = event.offset + 1;
          chunk += `id: ${formatCursor(cursor)}\nevent: event\ndata: ${JSON.stringify(toEventJson(event))}\n\n`;
        });
        log.metrics.deliveredEvents.inc(item.events);
        position = item.cursor;
      } else {
        chunk = `id: ${formatCursor(item.cursor)}\nevent: ${item.kind}\ndata: {}\n\n`;
      }
      log.metrics.deliveredBytes.inc(chunk.length);
      if (!raw.write(chunk) && raw.writableLength > SUBSCRIBER_HIGH_WATER_BYTES / 4) await once(raw, 'drain', { signal: aborter.signal });
    }
  } catch (error) {
    if (!aborter.signal.aborted) raw.write(`event: error\ndata: ${JSON.stringify(problemOf(toFloError(error)))}\n\n`);
  } finally {
    release();
    raw.end();
  }
}
