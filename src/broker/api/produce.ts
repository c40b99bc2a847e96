// Produce: POST /v1/events (JSON, NDJSON or the binary batch) answers once the
// events are durable; the /v1/produce WebSocket carries many binary batches in
// flight on one connection, each acked by request id — the client's fast path.
import { isUtf8 } from 'node:buffer';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import type {} from '@fastify/websocket';
import type { WebSocket } from 'ws';
import { MAX_EVENTS_PER_BATCH, MAX_REQUEST_BYTES } from '../../common/bounds.js';
import { FloError } from '../../common/errors.js';
import { encodeProduceAck, encodeProduceFailure, splitProduceRequest } from '../../common/frames.js';
import { formatEventId } from '../../common/ids.js';
import { BATCH_MEDIA_TYPE } from '../../common/wire.js';
import type { AppendResult, EventLog, ProducerSequence } from '../event-log.js';
import { PartialAppendError } from '../partial-append.js';
import { eventsFromBatch, eventsFromJsonBody, eventsFromNdjson } from './event-input.js';
import { problemOf, reportedError } from './problem.js';

/** Requests one produce socket may have waiting for commit before the broker stops reading it. */
export const MAX_PRODUCE_REQUESTS_IN_FLIGHT = 64;

/** One event of a JSON body. `jsType` (app.ts) checks a type without ajv's coercion. */
const eventSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['namespace'],
  properties: {
    namespace: { jsType: 'string' },
    data: { jsType: 'string' },
    dataBase64: { jsType: 'string' },
    parentId: { jsType: 'string' },
  },
} as const;
const eventListSchema = { type: 'array', minItems: 1, maxItems: MAX_EVENTS_PER_BATCH, items: eventSchema } as const;

/** The JSON body: one event, `{"events": [...]}`, or a bare array. NDJSON lines and binary batches are checked as they are decoded. */
export const produceBodySchema = {
  content: {
    'application/json': {
      // if/then rather than anyOf, so an error names the field that is wrong, not "must match a schema in anyOf".
      schema: {
        if: { type: 'array' },
        then: eventListSchema,
        else: {
          if: { type: 'object', required: ['events'] },
          then: { type: 'object', additionalProperties: false, properties: { events: eventListSchema } },
          else: eventSchema,
        },
      },
    },
  },
} as const;

export function produceRoutes(app: FastifyInstance, log: EventLog): void {
  // Plain text is not an event format: answer 415 rather than guess.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('application/x-ndjson', { parseAs: 'buffer', bodyLimit: MAX_REQUEST_BYTES }, (_request, body, done) => {
    if (isUtf8(body as Buffer)) done(null, (body as Buffer).toString('utf8'));
    else done(new FloError('FLO_ERR_REQUEST_INVALID', 'the body is not valid UTF-8'), undefined);
  });
  app.addContentTypeParser(BATCH_MEDIA_TYPE, { parseAs: 'buffer', bodyLimit: MAX_REQUEST_BYTES }, (_request, body, done) => done(null, body));

  app.post('/v1/events', { schema: { body: produceBodySchema }, preParsing: refuseContentEncoding }, async (request, reply) => {
    const { events, single } = decodeBody(request);
    let result: AppendResult;
    try {
      result = await log.append(events, producerOf(request));
    } catch (error) {
      if (!(error instanceof PartialAppendError)) throw error;
      // Some partitions stored their events, others failed: say which, so nothing stored is sent again blindly.
      request.log.warn({ stored: events.length - error.failures.length, failed: error.failures.length, code: error.code }, 'produce partly stored');
      return reply.status(207).send(partialBody(error, request.url));
    }
    const ids = idsOf(result);
    await reply.status(201).send(single ? { id: ids[0] } : { ids });
  });

  // Without an upgrade, @fastify/websocket would answer a bare 404 with no body.
  app.route({
    method: 'GET',
    url: '/v1/produce',
    handler: async (_request, reply) => {
      void reply.header('upgrade', 'websocket');
      throw new FloError('FLO_ERR_REQUEST_INVALID', 'GET /v1/produce is a WebSocket: send "Upgrade: websocket" (POST /v1/events takes HTTP bodies)', { status: 426 });
    },
    wsHandler: (socket, request) => serveProduceSocket(socket, log, request.log),
  });
}

/** Headers that make a request idempotent (docs/api.md): both or neither. */
export const PRODUCER_ID_HEADER = 'flo-producer-id';
export const PRODUCER_SEQUENCE_HEADER = 'flo-producer-sequence';

function producerOf(request: FastifyRequest): ProducerSequence | undefined {
  const id = request.headers[PRODUCER_ID_HEADER];
  const sequence = request.headers[PRODUCER_SEQUENCE_HEADER];
  if (id === undefined && sequence === undefined) return undefined;
  const number = (value: string | string[] | undefined, name: string): number => {
    if (typeof value !== 'string' || !/^\d{1,16}$/.test(value.trim())) {
      throw new FloError('FLO_ERR_REQUEST_INVALID', `${name} must be a whole number (send Flo-Producer-Id and Flo-Producer-Sequence together)`);
    }
    return Number(value.trim());
  };
  return { id: number(id, 'Flo-Producer-Id'), sequence: number(sequence, 'Flo-Producer-Sequence') };
}

/** The body is read as sent: a gzip body would otherwise be parsed as if it were plain JSON (or stored as garbage from a batch). */
async function refuseContentEncoding(request: FastifyRequest): Promise<void> {
  const encoding = request.headers['content-encoding']?.trim().toLowerCase();
  if (encoding !== undefined && encoding !== '' && encoding !== 'identity') {
    throw new FloError('FLO_ERR_MEDIA_TYPE_UNSUPPORTED', `Content-Encoding ${encoding.slice(0, 40)} is not supported: send the body uncompressed`);
  }
}

function decodeBody(request: FastifyRequest): ReturnType<typeof eventsFromJsonBody> {
  const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim();
  if (type === 'application/x-ndjson') return { events: eventsFromNdjson(request.body as string), single: false };
  if (type === BATCH_MEDIA_TYPE) return { events: eventsFromBatch(request.body as Buffer), single: false };
  return eventsFromJsonBody(request.body);
}

/** 207: `ids` with null for each event not stored, and per failed event its index and problem. */
function partialBody(error: PartialAppendError, instance?: string): { ids: Array<string | null>; failed: Array<{ index: number; problem: ReturnType<typeof problemOf> }> } {
  const ids: Array<string | null> = [];
  for (let i = 0; i < error.result.offsets.length; i++) ids.push(error.stored(i) ? formatEventId(error.result.partitions[i]!, error.result.offsets[i]!) : null);
  return { ids, failed: error.failures.map((failure) => ({ index: failure.index, problem: problemOf(failure.error, instance) })) };
}

function idsOf(result: AppendResult): string[] {
  const ids = new Array<string>(result.offsets.length);
  for (let i = 0; i < ids.length; i++) ids[i] = formatEventId(result.partitions[i]!, result.offsets[i]!);
  return ids;
}

function serveProduceSocket(socket: WebSocket, log: EventLog, logger: FastifyBaseLogger): void {
  let inFlight = 0;
  const fail = (requestId: number, error: unknown): void => socket.send(encodeProduceFailure(requestId, JSON.stringify(problemOf(reportedError(error, logger)))));
  socket.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary) {
      socket.close(1003, 'produce frames are binary');
      return;
    }
    let requestId = 0;
    try {
      const request = splitProduceRequest(data);
      requestId = request.requestId;
      const appended = log.append(eventsFromBatch(request.batch), request.producer);
      inFlight++;
      if (inFlight >= MAX_PRODUCE_REQUESTS_IN_FLIGHT) socket.pause();
      appended.then(
        (result) => socket.send(encodeProduceAck(requestId, result.partitions, result.offsets)),
        (error: unknown) => {
          // The problem names what failed; `ids` and `failed` (as in the 207 of POST /v1/events) what was stored.
          if (error instanceof PartialAppendError) socket.send(encodeProduceFailure(requestId, JSON.stringify({ ...problemOf(error), ...partialBody(error) })));
          else fail(requestId, error);
        },
      ).finally(() => {
        inFlight--;
        if (socket.isPaused && inFlight < MAX_PRODUCE_REQUESTS_IN_FLIGHT / 2) socket.resume();
      });
    } catch (error) {
      fail(requestId, error);
    }
  });
}
