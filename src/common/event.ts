// The event as readers see it, and its decoding from wire records. Ids are
// formatted on first use: a replay that never looks at ids never pays for them.
import type { WireRecord } from './frames.js';
import { formatEventId } from './ids.js';
import { forEachGroupEvent, readGroupHeader } from './wire.js';

export class FloEvent {
  private formattedId: string | undefined;

  constructor(
    readonly partition: number,
    readonly offset: number,
    readonly namespace: string,
    /** Broker time of the append, ms since the epoch (UTC). */
    readonly timestamp: number,
    readonly parentId: string | undefined,
    readonly data: Uint8Array,
  ) {}

  get id(): string {
    return (this.formattedId ??= formatEventId(this.partition, this.offset));
  }

  /** The payload as UTF-8 text. */
  text(): string {
    return Buffer.from(this.data.buffer, this.data.byteOffset, this.data.byteLength).toString('utf8');
  }

  /** The payload parsed as JSON (the client's JSON codec). */
  json<T = unknown>(): T {
    return JSON.parse(this.text()) as T;
  }

  toJSON(): EventJson {
    return toEventJson(this);
  }
}

/** The JSON shape of an event in the HTTP API and `flo consume --json`. */
export interface EventJson {
  id: string;
  parentId?: string;
  namespace: string;
  timestamp: string;
  data?: string;
  dataBase64?: string;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function toEventJson(event: FloEvent): EventJson {
  const json: EventJson = { id: event.id, namespace: event.namespace, timestamp: new Date(event.timestamp).toISOString() };
  if (event.parentId !== undefined) json.parentId = event.parentId;
  try {
    json.data = utf8.decode(event.data);
  } catch {
    json.dataBase64 = Buffer.from(event.data.buffer, event.data.byteOffset, event.data.byteLength).toString('base64');
  }
  return json;
}

/** Calls `visit` for each event of a record that the reader has not seen yet, in offset order. */
export function forEachRecordEvent(record: WireRecord, visit: (event: FloEvent) => void): void {
  const { timestamp } = readGroupHeader(record.group);
  forEachGroupEvent(record.group, (index, parentId, data) => {
    if (index >= record.skip) visit(new FloEvent(record.partition, record.start + index, record.namespace, timestamp, parentId, data));
  });
}
