// Live subscriptions: GET /v1/subscribe as a WebSocket (binary frames of
// frames.ts, the client's path) or as Server-Sent Events (JSON events, for curl
// and browsers). Both drive the same replay-then-tail loop and read the next page
// only when the socket has room (subscriber-buffers.ts), so a slow subscriber is
// paced, and one that stops reading is cut with the cursor to resume from.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type {} from '@fastify/websocket';
import type { WebSocket } from 'ws';
import { MAX_SUBSCRIPTIONS } from '../../common/bounds.js';
import { FloError } from '../../common/errors.js';
import { forEachRecordEvent, toEventJson } from '../../common/event.js';
import { encodeRecordsFrame, encodeTextFrame, FrameType } from '../../common/frames.js';
import { formatCursor } from '../../common/ids.js';
import { compileGlob } from '../../common/namespace.js';
import type { EventLog } from '../event-log.js';
import { resolvePosition } from '../positions.js';
import { subscribe, type SubscriptionOptions } from '../subscription.js';
import { groupCursor, GROUP_NAME_PATTERN } from './groups.js';
import { problemOf, reportedError, type ProblemBody } from './problem.js';
import { SubscriberBuffers, type SocketWrite, type SubscriberLimits } from './subscriber-buffers.js';

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

/** `buffers` bounds what stalled readers may hold (tests pass small limits). */
export function subscribeRoutes(app: FastifyInstance, log: EventLog, buffers = new SubscriberBuffers(), unready?: () => string | null): void {
  buffers.observe({ bufferedBytes: (total) => log.metrics.subscriberBufferedBytes.set(total), cut: () => log.metrics.subscribersCut.inc() });
  let active = 0;
  // On shutdown every subscription ends at once, even one whose reader stopped reading.
  const live = new Set<{ abort: () => void; refuse: (problem: ProblemBody) => void }>();
  app.addHook('preClose', async () => {
    clearInterval(watch);
    for (const subscription of live) subscription.abort();
  });
  // A member that starts draining (or is removed) gets no more events: its tails are told to resume
  // elsewhere, with a retryable problem, rather than wait on a replica that no longer grows.
  const watch = setInterval(() => {
    const why = live.size > 0 ? unready?.() : null;
    if (!why) return;
    const problem = problemOf(new FloError('FLO_ERR_UNAVAILABLE', `${why}: resume the subscription on another broker`));
    for (const subscription of [...live]) subscription.refuse(problem);
  }, UNREADY_CHECK_MS);
  watch.unref();
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
      const entry = {
        abort: () => reply.raw.destroy(),
        refuse: (problem: ProblemBody) => {
          live.delete(entry);
          if (!reply.raw.writableEnded) reply.raw.end(`event: error\ndata: ${JSON.stringify(problem)}\n\n`);
        },
      };
      live.add(entry);
      reply.raw.once('close', () => live.delete(entry));
      return serveSse(log, request, reply, admit, buffers);
    },
    wsHandler: (socket, request) => {
      const entry = {
        abort: () => socket.terminate(),
        refuse: (problem: ProblemBody) => {
          live.delete(entry);
          if (socket.readyState !== socket.OPEN) return;
          socket.send(encodeTextFrame(FrameType.ERROR, JSON.stringify(problem)));
          socket.close(1011, problem.code);
        },
      };
      live.add(entry);
      socket.once('close', () => live.delete(entry));
      void serveWebSocket(log, socket, request as FastifyRequest<{ Querystring: SubscribeQuery }>, admit, buffers);
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

async function serveWebSocket(log: EventLog, socket: WebSocket, request: FastifyRequest<{ Querystring: SubscribeQuery }>, admit: () => () => void, buffers: SubscriberBuffers): Promise<void> {
  const aborter = new AbortController();
  let cursor: number[] | undefined;
  const buffer = buffers.open(() => {
    // Told over the stream, behind everything already queued: a reader that catches up reads every event, then where to resume.
    const problem = tooSlow(cursor, buffers.limits);
    socket.send(encodeTextFrame(FrameType.ERROR, JSON.stringify(problem)));
    const reason = `too slow; resume from ${problem.cursor}`;
    socket.close(WS_CLOSE_TOO_SLOW, Buffer.byteLength(reason) <= 123 ? reason : 'too slow');
    setTimeout(() => socket.terminate(), buffers.limits.closeGraceMs).unref();
    aborter.abort();
  });
  socket.on('close', () => {
    buffer.close();
    aborter.abort();
  });
  const write: SocketWrite = (data, flushed) => socket.send(data, flushed);
  let release: (() => void) | undefined;
  try {
    release = admit();
    const options = await optionsOf(log, request.query, aborter.signal);
    for await (const item of subscribe(log, options)) {
      if (socket.readyState !== socket.OPEN) break;
      const encode = (): Buffer => {
        if (item.kind !== 'records') return encodeTextFrame(FRAME_TYPES[item.kind], formatCursor(item.cursor));
        const frame = encodeRecordsFrame(item.records);
        log.metrics.deliveredEvents.inc(item.events);
        log.metrics.deliveredBytes.inc(frame.length);
        return frame;
      };
      if (!(await buffer.send(encode, write, aborter.signal))) break;
      cursor = item.cursor;
      await buffer.waitForRoom(aborter.signal);
    }
    if (socket.readyState === socket.OPEN && !aborter.signal.aborted) socket.close(1000, log.isClosing ? 'broker shutting down' : 'end of stream');
  } catch (error) {
    const problem = problemOf(reportedError(error, request.log));
    if (socket.readyState === socket.OPEN) {
      socket.send(encodeTextFrame(FrameType.ERROR, JSON.stringify(problem)));
      socket.close(problem.status >= 500 ? 1011 : 1008, problem.code);
    }
  } finally {
    release?.();
    aborter.abort();
  }
}

const FRAME_TYPES = { start: FrameType.START, 'caught-up': FrameType.CAUGHT_UP, end: FrameType.END } as const;

/** How often live subscriptions check whether this member still serves events (draining, removed). */
const UNREADY_CHECK_MS = 1000;

/** WebSocket close code of a subscriber cut for not reading (4000-4999: application codes). */
export const WS_CLOSE_TOO_SLOW = 4008;

/** The problem a cut subscriber is told, with the cursor just after the last event it was sent. */
function tooSlow(cursor: number[] | undefined, limits: SubscriberLimits): ProblemBody & { cursor: string | undefined } {
  const resume = cursor ? formatCursor(cursor) : undefined;
  const error = new FloError('FLO_ERR_SUBSCRIBER_TOO_SLOW',
    `the subscriber took no data for ${limits.stallTimeoutMs} ms with ${limits.perSubscriberBytes} bytes or more waiting; resubscribe from ${resume ?? 'where it started'}`);
  return { ...problemOf(error), cursor: resume };
}

async function serveSse(log: EventLog, request: FastifyRequest<{ Querystring: SubscribeQuery }>, reply: FastifyReply, admit: () => () => void, buffers: SubscriberBuffers): Promise<void> {
  const lastEventId = request.headers['last-event-id'];
  const aborter = new AbortController();
  const options = await optionsOf(log, request.query, aborter.signal, typeof lastEventId === 'string' ? lastEventId : undefined);
  const release = admit();
  const raw = reply.raw;
  reply.hijack();
  let position = options.start;
  const buffer = buffers.open(() => {
    // The id is the resume cursor: an EventSource reconnects with it as Last-Event-ID.
    const problem = tooSlow(position, buffers.limits);
    // The connection goes too (once it has taken the rest, or after the grace): a cut reader reconnects.
    const connection = raw.socket;
    raw.end(`id: ${problem.cursor}\nevent: error\ndata: ${JSON.stringify(problem)}\n\n`, () => connection?.destroySoon());
    setTimeout(() => connection?.destroy(), buffers.limits.closeGraceMs).unref();
    aborter.abort();
  });
  raw.on('close', () => {
    buffer.close();
    aborter.abort();
  });
  const write: SocketWrite = (data, flushed) => raw.write(data, flushed);
  raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  try {
    for await (const item of subscribe(log, options)) {
      const encode = (): Buffer => {
        if (item.kind !== 'records') return Buffer.from(`id: ${formatCursor(item.cursor)}\nevent: ${item.kind}\ndata: {}\n\n`);
        let chunk = '';
        const cursor = [...position];
        for (const record of item.records) forEachRecordEvent(record, (event) => {
          cursor[event.partition] = event.offset + 1;
          chunk += `id: ${formatCursor(cursor)}\nevent: event\ndata: ${JSON.stringify(toEventJson(event))}\n\n`;
        });
        log.metrics.deliveredEvents.inc(item.events);
        const data = Buffer.from(chunk);
        log.metrics.deliveredBytes.inc(data.length);
        return data;
      };
      if (!(await buffer.send(encode, write, aborter.signal))) break;
      position = item.cursor;
      await buffer.waitForRoom(aborter.signal);
    }
  } catch (error) {
    const problem = problemOf(reportedError(error, request.log));
    if (!aborter.signal.aborted) raw.write(`event: error\ndata: ${JSON.stringify(problem)}\n\n`);
  } finally {
    release();
    if (!raw.writableEnded) raw.end();
  }
}
