// A probe of the disk the servers write to: the latency of appending 16 KiB and
// fdatasync-ing it, which is the floor under any produce acknowledged only after an
// fsync (Flo's default, Redis `always`) and so under W1 ack and W3 tail latency.

import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { makeTempDir, removeTempDir } from './proc.js';
import { summarizeLatency, type LatencySummary } from './stats.js';

/** Appends per probe; 200 keep it under a second even on a slow disk. */
export const FSYNC_PROBE_WRITES = 200;
export const FSYNC_PROBE_BYTES = 16 * 1024;

export function probeFsyncLatency(): LatencySummary {
  const dir = makeTempDir('fsync-probe');
  const latency = new Float64Array(FSYNC_PROBE_WRITES);
  const block = Buffer.alloc(FSYNC_PROBE_BYTES, 0x5a);
  const fd = openSync(join(dir, 'probe'), 'w');
  try {
    for (let i = 0; i < FSYNC_PROBE_WRITES; i += 1) {
      const startedAt = performance.now();
      writeSync(fd, block);
      fdatasyncSync(fd);
      latency[i] = performance.now() - startedAt;
    }
  } finally {
    closeSync(fd);
    removeTempDir(dir);
  }
  return summarizeLatency(latency);
}
