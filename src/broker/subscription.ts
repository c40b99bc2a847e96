// One reader's walk over the log: replay from a start position, then (when
// following) wait for commits and read again from the same cursor. Replay and
// tail are the same loop over the same cursor, so the switch-over can neither
// skip nor repeat an event. The caller pulls pages one at a time, which is the
// flow control: a slow consumer's loop simply waits on its socket.
import type { WireRecord } from '../common/frames.js';
import type { NamespaceSelector } from '../common/namespace.js';
import type { EventLog } from './event-log.js';

export type SubscriptionItem =
  | { kind: 'start'; cursor: number[] }
  | { kind: 'records'; records: WireRecord[]; events: number; cursor: number[] }
  | { kind: 'caught-up'; cursor: number[] }
  | { kind: 'end'; cursor: number[] };

export interface SubscriptionOptions {
  readonly selector: NamespaceSelector;
  /** Where to start, from resolvePosition(). */
  readonly start: number[];
  /** Keep tailing after the replay (true) or stop at the head as it was when the subscription started. */
  readonly follow: boolean;
  readonly maxBytesPerPage: number;
  readonly maxEventsPerPage: number;
  readonly signal?: AbortSignal | undefined;
}

export async function* subscribe(log: EventLog, options: SubscriptionOptions): AsyncGenerator<SubscriptionItem> {
  let cursor = options.start;
  const stopAt = options.follow ? undefined : log.head();
  yield { kind: 'start', cursor };
  let caughtUp = false;
  while (!options.signal?.aborted && !log.isClosing) {
    const generation = log.commitGeneration;
    const end = stopAt ?? log.head();
    const page = await log.readPage({ selector: options.selector, cursor, end, maxBytes: options.maxBytesPerPage, maxEvents: options.maxEventsPerPage });
    const moved = page.cursor.some((offset, partition) => offset !== cursor[partition]);
    cursor = page.cursor;
    if (page.records.length > 0) {
      yield { kind: 'records', records: page.records, events: page.events, cursor };
      continue;
    }
    if (moved) continue;
    if (!options.follow) {
      yield { kind: 'end', cursor };
      return;
    }
    if (!caughtUp) {
      caughtUp = true;
      yield { kind: 'caught-up', cursor };
    }
    await log.afterCommit(generation, options.signal);
  }
}
