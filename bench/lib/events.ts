// Event payloads for the workloads: 256 random bytes each (WORKLOADS.md), cut from a
// pre-generated pool so the load generator spends no CPU on randomness while measuring.
// Timed payloads carry their send time (performance.now(), float64 LE) in bytes 0..7 so
// one process clock measures produce→delivery; warm-up payloads carry a marker at 8..15.

import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';

export const PAYLOAD_BYTES = 256;
/** Random bytes generated once; payloads repeat every POOL_BYTES / PAYLOAD_BYTES events. */
export const POOL_BYTES = 4 * 1024 * 1024;

const WARMUP_MARKER = Buffer.from('flowarm1', 'latin1');
const MARKER_OFFSET = 8;

const pool = randomBytes(POOL_BYTES);

/** The `index`-th random payload: a view into the pool, never written to. */
export function randomPayload(index: number): Uint8Array {
  const start = (index * PAYLOAD_BYTES) % POOL_BYTES;
  return pool.subarray(start, start + PAYLOAD_BYTES);
}

/** A fresh payload whose first 8 bytes hold the current high-resolution time. */
export function timedPayload(index: number): Uint8Array {
  const payload = Buffer.allocUnsafe(PAYLOAD_BYTES);
  pool.copy(payload, 0, (index * PAYLOAD_BYTES) % POOL_BYTES, ((index * PAYLOAD_BYTES) % POOL_BYTES) + PAYLOAD_BYTES);
  payload.writeDoubleLE(performance.now(), 0);
  return payload;
}

export function warmupPayload(): Uint8Array {
  const payload = Buffer.alloc(PAYLOAD_BYTES);
  WARMUP_MARKER.copy(payload, MARKER_OFFSET);
  payload.writeDoubleLE(performance.now(), 0);
  return payload;
}

export function isWarmup(data: Uint8Array): boolean {
  if (data.length < MARKER_OFFSET + WARMUP_MARKER.length) return false;
  for (let i = 0; i < WARMUP_MARKER.length; i += 1) {
    if (data[MARKER_OFFSET + i] !== WARMUP_MARKER[i]) return false;
  }
  return true;
}

/** Milliseconds since the send time stamped into a timed payload. */
export function ageMs(data: Uint8Array): number {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return performance.now() - view.getFloat64(0, true);
}
