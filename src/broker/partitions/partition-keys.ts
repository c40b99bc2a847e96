// Where a partition's Raft group and its applied index live, and small helpers
// of its start: names shared by the partition, its catch-up and the start-up.
import { FloError } from '../../common/errors.js';
import type { EventStore } from '../storage/event-store.js';
import * as keys from '../storage/keys.js';

/** The raft group of a partition. */
export function groupIdOf(partition: number): number {
  return partition + 1;
}

/** What the store holds of a partition at open: its end is where the stored offsets end, not an unclean stop's reservation. */
export function storedState(store: EventStore, partition: number): { nextOffset: number; lastTimestamp: number } {
  const state = store.partitionStates()[partition]!;
  return { nextOffset: state.storedEnd ?? state.nextOffset, lastTimestamp: state.lastTimestamp };
}

/** Where the event store keeps the Raft index it holds a partition's applies up to (written in the apply batch). */
export function appliedKey(partition: number): Buffer {
  return keys.metaKey(`setting:raft-applied-${partition}`);
}

export const appliedSetting = (partition: number): string => `raft-applied-${partition}`;

export async function withDeadline(promise: Promise<void>, ms: number, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new FloError('FLO_ERR_TIMEOUT', `${what} within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
