// Event ids and cursors. An id is `<partition>-<offset>` in fixed-width lowercase
// hex, so it is URL-safe, sorts by offset within a partition and names exactly
// one position a consumer can resume from. A cursor holds the next offset to read
// of every partition.
import { FloError } from './errors.js';

const PARTITION_DIGITS = 4;
const OFFSET_DIGITS = 13;
/** Largest offset an id can carry: 2^52 - 1, so offsets stay exact JS numbers. */
export const MAX_OFFSET = 2 ** 52 - 1;
const ID_PATTERN = /^([0-9a-f]{4})-([0-9a-f]{13})$/;
const CURSOR_PREFIX = 'c1.';

export interface EventPosition {
  readonly partition: number;
  readonly offset: number;
}

export function formatEventId(partition: number, offset: number): string {
  return partition.toString(16).padStart(PARTITION_DIGITS, '0') + '-' + offset.toString(16).padStart(OFFSET_DIGITS, '0');
}

export function isEventId(text: string): boolean {
  return ID_PATTERN.test(text);
}

export function parseEventId(text: string): EventPosition {
  const match = ID_PATTERN.exec(text);
  if (!match) {
    throw new FloError('FLO_ERR_EVENT_ID_INVALID', `"${truncate(text)}" is not an event id (expected e.g. 0003-00000000001a2)`);
  }
  return { partition: parseInt(match[1]!, 16), offset: parseInt(match[2]!, 16) };
}

/** A cursor string is `c1.` followed by each partition's next offset in base 36, dot-separated. */
export function formatCursor(offsets: readonly number[]): string {
  return CURSOR_PREFIX + offsets.map((offset) => offset.toString(36)).join('.');
}

export function isCursor(text: string): boolean {
  return text.startsWith(CURSOR_PREFIX);
}

export function parseCursor(text: string, partitions?: number): number[] {
  if (!isCursor(text)) throw invalidCursor(text, 'it does not start with "c1."');
  const parts = text.slice(CURSOR_PREFIX.length).split('.');
  const offsets = parts.map((part) => (/^[0-9a-z]{1,11}$/.test(part) ? parseInt(part, 36) : NaN));
  if (offsets.some((offset) => !Number.isSafeInteger(offset) || offset > MAX_OFFSET)) {
    throw invalidCursor(text, 'an offset is not a base-36 number');
  }
  if (partitions !== undefined && offsets.length !== partitions) {
    throw invalidCursor(text, `it has ${offsets.length} partitions, the broker has ${partitions}`);
  }
  return offsets;
}

function invalidCursor(text: string, why: string): FloError {
  return new FloError('FLO_ERR_POSITION_INVALID', `"${truncate(text)}" is not a valid cursor: ${why}`);
}

function truncate(text: string): string {
  return text.length > 64 ? text.slice(0, 61) + '...' : text;
}
