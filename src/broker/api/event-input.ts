// Decodes produce bodies in their three media types (JSON, NDJSON, the binary
// batch of wire.ts) into the same event inputs. Data is UTF-8 text (`data`) or
// base64 (`dataBase64`); the log validates namespaces, sizes and parent ids.
// A JSON body has passed the route's schema already; NDJSON lines are checked
// here with the same rules (a wrong shape or type is FLO_ERR_REQUEST_INVALID).
import { MAX_EVENTS_PER_BATCH } from '../../common/bounds.js';
import { FloError } from '../../common/errors.js';
import { decodeBatch, type DecodedInput } from '../../common/wire.js';

const EVENT_FIELDS = new Set(['namespace', 'data', 'dataBase64', 'parentId']);
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

export function eventFromJson(value: unknown, where: string): DecodedInput {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FloError('FLO_ERR_REQUEST_INVALID', `${where} must be an object like {"namespace":"/a/b","data":"text"}`);
  }
  const fields = value as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((key) => !EVENT_FIELDS.has(key));
  if (unknown.length > 0) throw new FloError('FLO_ERR_REQUEST_INVALID', `${where} has unknown field(s): ${unknown.join(', ')}`);
  if (typeof fields.namespace !== 'string') throw new FloError('FLO_ERR_REQUEST_INVALID', `${where} needs a "namespace" string such as /orders/eu/42`);
  if (fields.data !== undefined && fields.dataBase64 !== undefined) throw new FloError('FLO_ERR_REQUEST_INVALID', `${where} has both "data" and "dataBase64"; send one`);
  if (fields.parentId !== undefined && typeof fields.parentId !== 'string') throw new FloError('FLO_ERR_REQUEST_INVALID', `${where} "parentId" must be an event id string`);
  return { namespace: fields.namespace, data: dataOf(fields, where), parentId: fields.parentId as string | undefined };
}

function dataOf(fields: Record<string, unknown>, where: string): Buffer {
  if (fields.dataBase64 !== undefined) {
    if (typeof fields.dataBase64 !== 'string' || !BASE64.test(fields.dataBase64)) {
      throw new FloError('FLO_ERR_REQUEST_INVALID', `${where} "dataBase64" must be base64 text`);
    }
    return Buffer.from(fields.dataBase64, 'base64');
  }
  if (fields.data === undefined) return Buffer.alloc(0);
  if (typeof fields.data !== 'string') {
    throw new FloError('FLO_ERR_REQUEST_INVALID', `${where} "data" must be a string (UTF-8 text); send binary as "dataBase64" or JSON as a string`);
  }
  return Buffer.from(fields.data, 'utf8');
}

/** A JSON body is one event, or `{"events": [...]}`; the second form always answers with `ids`. */
export function eventsFromJsonBody(body: unknown): { events: DecodedInput[]; single: boolean } {
  if (typeof body === 'object' && body !== null && !Array.isArray(body) && 'events' in body) {
    const list = (body as { events: unknown }).events;
    if (!Array.isArray(list)) throw new FloError('FLO_ERR_REQUEST_INVALID', '"events" must be an array of events');
    checkCount(list.length);
    return { events: list.map((item, i) => eventFromJson(item, `events[${i}]`)), single: false };
  }
  if (Array.isArray(body)) {
    checkCount(body.length);
    return { events: body.map((item, i) => eventFromJson(item, `event ${i}`)), single: false };
  }
  return { events: [eventFromJson(body, 'the event')], single: true };
}

export function eventsFromNdjson(body: string): DecodedInput[] {
  const lines = body.split('\n').filter((line) => line.trim().length > 0);
  checkCount(lines.length);
  return lines.map((line, i) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      throw new FloError('FLO_ERR_REQUEST_INVALID', `line ${i + 1} is not valid JSON`);
    }
    return eventFromJson(parsed, `line ${i + 1}`);
  });
}

export function eventsFromBatch(body: Buffer): DecodedInput[] {
  return decodeBatch(body, MAX_EVENTS_PER_BATCH);
}

function checkCount(count: number): void {
  if (count === 0) throw new FloError('FLO_ERR_REQUEST_INVALID', 'a produce request needs at least one event');
  if (count > MAX_EVENTS_PER_BATCH) throw new FloError('FLO_ERR_BATCH_TOO_LARGE', `a request holds at most ${MAX_EVENTS_PER_BATCH} events`);
}
