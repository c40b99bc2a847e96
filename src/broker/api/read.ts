// Reading pages over plain HTTP: GET /v1/events returns up to `limit` events
// matching a glob from a position, plus the cursor to continue from, and
// GET /v1/events/:id returns one event. Pages are cut at event boundaries, so
// the cursor resumes exactly after the last event returned.
import type { FastifyInstance } from 'fastify';
import { DEFAULT_READ_LIMIT, MAX_READ_LIMIT, MAX_READ_PAGE_BYTES } from '../../common/bounds.js';
import { FloError } from '../../common/errors.js';
import { forEachRecordEvent, toEventJson, type EventJson } from '../../common/event.js';
import type { WireRecord } from '../../common/frames.js';
import { formatCursor, parseEventId } from '../../common/ids.js';
import { compileGlob } from '../../common/namespace.js';
import type { EventLog } from '../event-log.js';
import { findEvent, resolvePosition } from '../positions.js';

export const readQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    namespace: { type: 'string', maxLength: 1024 },
    from: { type: 'string', maxLength: 65536 },
    limit: { type: 'integer', minimum: 1, maximum: MAX_READ_LIMIT },
  },
} as const;

interface ReadQuery {
  namespace?: string;
  from?: string;
  limit?: number;
}

export function readRoutes(app: FastifyInstance, log: EventLog): void {
  app.get<{ Querystring: ReadQuery }>('/v1/events', { schema: { querystring: readQuerySchema } }, async (request) => {
    const selector = compileGlob(request.query.namespace);
    const limit = request.query.limit ?? DEFAULT_READ_LIMIT;
    const start = await resolvePosition(log, request.query.from);
    const head = log.head();
    const page = await log.readPage({ selector, cursor: start, end: head, maxBytes: MAX_READ_PAGE_BYTES, maxEvents: limit });
    const { events, cursor } = takeEvents(page.records, start, page.cursor, limit);
    log.metrics.deliveredEvents.inc(events.length);
    const endOfStream = cursor.every((offset, partition) => offset >= head[partition]!);
    return { events, cursor: formatCursor(cursor), endOfStream };
  });

  app.get<{ Params: { id: string } }>('/v1/events/:id', {
    schema: { params: { type: 'object', properties: { id: { type: 'string', maxLength: 64 } }, required: ['id'] } },
  }, async (request) => {
    const { partition } = parseEventId(request.params.id);
    if (partition >= log.partitions) throw new FloError('FLO_ERR_EVENT_NOT_FOUND', `no event ${request.params.id}: the broker has ${log.partitions} partitions`);
    const event = await findEvent(log, request.params.id);
    if (!event) throw new FloError('FLO_ERR_EVENT_NOT_FOUND', `no event ${request.params.id} (never written, or removed by retention)`);
    return toEventJson(event);
  });
}

/** The first `limit` events of a page and the cursor just after the last one. */
function takeEvents(records: readonly WireRecord[], start: readonly number[], pageCursor: number[], limit: number): { events: EventJson[]; cursor: number[] } {
  const events: EventJson[] = [];
  const cursor = [...start];
  for (const record of records) {
    forEachRecordEvent(record, (event) => {
      if (events.length >= limit) return;
      events.push(toEventJson(event));
      cursor[event.partition] = event.offset + 1;
    });
    if (events.length >= limit) return { events, cursor: stopAfterLast(cursor, pageCursor, records, record) };
  }
  return { events, cursor: pageCursor };
}

/** Partitions fully read before the cut keep the page's cursor; the cut partition stops at its last event. */
function stopAfterLast(cursor: number[], pageCursor: number[], records: readonly WireRecord[], last: WireRecord): number[] {
  const cutPartition = last.partition;
  const finished = new Set<number>();
  for (const record of records) {
    if (record === last) break;
    if (record.partition !== cutPartition) finished.add(record.partition);
  }
  return cursor.map((offset, partition) => (partition !== cutPartition && finished.has(partition) ? pageCursor[partition]! : offset));
}
