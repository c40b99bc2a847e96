// A subscriber that leaves a quiet log is forgotten at once: nothing it held
// (sockets, buffers, listeners on its AbortSignal) stays reachable until the
// next commit. Checked with a real garbage collection, not by counting.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventLog } from '../../src/broker/event-log.js';
import { subscribe } from '../../src/broker/subscription.js';
import { SubscriberBuffers } from '../../src/broker/api/subscriber-buffers.js';
import { compileGlob } from '../../src/common/namespace.js';
import { input, openLog } from '../support/log.js';
import { tempDir } from '../support/temp.js';

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

let dir: Awaited<ReturnType<typeof tempDir>>;
let log: EventLog | undefined;
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  await log?.close();
  log = undefined;
  await dir.remove();
});

async function collected(ref: WeakRef<object>): Promise<boolean> {
  for (let i = 0; i < 10 && ref.deref() !== undefined; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    collectGarbage();
  }
  return ref.deref() === undefined;
}

/** What a subscriber's socket would hold, reachable only from a listener on its AbortSignal. */
function attachHeldBuffer(signal: AbortSignal): WeakRef<object> {
  const held = new Uint8Array(8 * 1024 * 1024);
  signal.addEventListener('abort', () => void held.length);
  return new WeakRef(held);
}

describe('waiting subscribers', () => {
  it('a tailing subscriber that aborts on a quiet log is released before any further commit', async () => {
    log = await openLog(dir.path);
    await log.append([input('/quiet/a', 'one')]);
    const ref = await (async () => {
      const controller = new AbortController();
      const ref = attachHeldBuffer(controller.signal);
      const items = subscribe(log, { selector: compileGlob('/quiet/**'), start: log.head().map(() => 0), follow: true, maxBytesPerPage: 65536, maxEventsPerPage: 100, signal: controller.signal });
      for (;;) if ((await items.next()).value?.kind === 'caught-up') break;
      const parked = items.next();
      await new Promise((resolve) => setImmediate(resolve));
      expect(log.commitWaiters).toBe(1);
      controller.abort();
      await parked;
      return ref;
    })();
    expect(log.commitWaiters).toBe(0);
    expect(await collected(ref)).toBe(true);
  });

  it('a subscriber waiting for buffer room that aborts is released before any byte is freed', async () => {
    const buffers = new SubscriberBuffers({ perSubscriberBytes: 10, totalBytes: 10, stallTimeoutMs: 60_000, closeGraceMs: 1000 });
    const full = buffers.open(() => undefined);
    const keep = new AbortController();
    await full.send(() => Buffer.alloc(10), () => undefined, keep.signal);
    const ref = await (async () => {
      const controller = new AbortController();
      const ref = attachHeldBuffer(controller.signal);
      const waiting = buffers.open(() => undefined).waitForRoom(controller.signal);
      await new Promise((resolve) => setImmediate(resolve));
      controller.abort();
      await waiting;
      return ref;
    })();
    expect(await collected(ref)).toBe(true);
    full.close();
  });
});
