// Turns a start position into a cursor: "earliest", "latest", a cursor string,
// an event id (its partition from that event, the others from its timestamp),
// or a time (ISO 8601 or ms since the epoch) found through the timestamp index.
import { FloError } from '../common/errors.js';
import { FloEvent, forEachRecordEvent } from '../common/event.js';
import { isCursor, isEventId, parseCursor, parseEventId } from '../common/ids.js';
import { ALL_NAMESPACES } from '../common/namespace.js';
import type { EventLog } from './event-log.js';

export async function resolvePosition(log: EventLog, from: string | undefined): Promise<number[]> {
  const text = (from ?? 'earliest').trim();
  if (text === 'earliest' || text === '') return new Array<number>(log.partitions).fill(0);
  if (text === 'latest') return log.head();
  if (isCursor(text)) return checkNotAhead(log, parseCursor(text, log.partitions));
  if (isEventId(text)) return fromEventId(log, text);
  const time = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(time) || !/^\d|^\d{4}-/.test(text)) {
    throw new FloError('FLO_ERR_POSITION_INVALID',
      `"${text.slice(0, 64)}" is not a position: use earliest, latest, an event id, a cursor, an ISO 8601 time or ms since the epoch`);
  }
  return fromTime(log, time);
}

/** A cursor past the head means the log it came from is not this one (a replaced data dir): reading on would skip events. */
function checkNotAhead(log: EventLog, cursor: number[]): number[] {
  const head = log.head();
  const ahead = cursor.findIndex((offset, partition) => offset > head[partition]!);
  if (ahead >= 0) {
    throw new FloError('FLO_ERR_POSITION_INVALID',
      `the cursor is ahead of this broker's log (partition ${ahead} at ${cursor[ahead]}, log ends at ${head[ahead]}); was the data directory replaced?`);
  }
  return cursor;
}

async function fromTime(log: EventLog, time: number): Promise<number[]> {
  const head = log.head();
  return Promise.all(head.map(async (end, partition) => (await log.offsetAtTime(partition, time)) ?? end));
}

async function fromEventId(log: EventLog, id: string): Promise<number[]> {
  const { partition, offset } = parseEventId(id);
  if (partition >= log.partitions) throw new FloError('FLO_ERR_POSITION_INVALID', `event ${id} names partition ${partition}; the broker has ${log.partitions}`);
  const event = await findEvent(log, id);
  const cursor = event ? await fromTime(log, event.timestamp) : new Array<number>(log.partitions).fill(0);
  cursor[partition] = offset;
  return checkNotAhead(log, cursor);
}

/** The event with this id, or undefined if it never existed or retention removed it. */
export async function findEvent(log: EventLog, id: string): Promise<FloEvent | undefined> {
  const { partition, offset } = parseEventId(id);
  if (partition >= log.partitions || offset >= log.head()[partition]!) return undefined;
  const cursor = log.head();
  cursor[partition] = offset;
  const end = new Array<number>(log.partitions).fill(0);
  end[partition] = offset + 1;
  const page = await log.readPage({ selector: ALL_NAMESPACES, cursor, end, maxBytes: 1, maxEvents: 1 });
  let found: FloEvent | undefined;
  for (const record of page.records) {
    forEachRecordEvent(record, (event) => {
      if (event.offset === offset) found = event;
    });
  }
  return found;
}
