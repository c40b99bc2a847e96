// Helpers to open a real EventLog in a temp dir and read everything back.
import { EventLog, type EventLogOptions } from '../../src/broker/event-log.js';
import { FloEvent, forEachRecordEvent } from '../../src/common/event.js';
import { compileGlob } from '../../src/common/namespace.js';
import { silentLogger } from './temp.js';

export function openLog(dataDir: string, options: Partial<EventLogOptions> = {}): Promise<EventLog> {
  return EventLog.open({ dataDir, logger: silentLogger, retentionIntervalMs: 3_600_000, ...options });
}

export function input(namespace: string, text: string, parentId?: string): { namespace: string; data: Buffer; parentId: string | undefined } {
  return { namespace, data: Buffer.from(text), parentId };
}

/** Reads every event matching `glob` from `cursor` to the head, page by page, as a real reader would. */
export async function readAll(log: EventLog, glob?: string, cursor?: number[], pageBytes = 64 * 1024): Promise<FloEvent[]> {
  const selector = compileGlob(glob);
  let position = cursor ?? new Array<number>(log.partitions).fill(0);
  const end = log.head();
  const events: FloEvent[] = [];
  for (let pages = 0; pages < 100_000; pages++) {
    const page = await log.readPage({ selector, cursor: position, end, maxBytes: pageBytes, maxEvents: 10_000 });
    for (const record of page.records) forEachRecordEvent(record, (event) => events.push(event));
    const done = page.cursor.every((offset, partition) => offset >= end[partition]!);
    position = page.cursor;
    if (done) return events;
  }
  throw new Error('readAll did not reach the head');
}
