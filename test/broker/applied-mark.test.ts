// The acknowledgement mark needs a synced write after applies; the log adds one
// only when the Raft log's own synced writes have not covered them already.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { EventLog } from '../../src/broker/event-log.js';
import { readAckMark } from '../../src/broker/storage/ack-mark.js';
import * as keys from '../../src/broker/storage/keys.js';
import { input, openLog } from '../support/log.js';
import { tempDir, waitFor } from '../support/temp.js';

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

describe('the applied-events mark', () => {
  it('is synced by one extra write when idle, and by none when a synced write already covered the applies', async () => {
    log = await openLog(dir.path, { partitions: 1, acknowledgedMarkIntervalMs: 3_600_000 });
    const write = vi.spyOn(log.store, 'write');
    await log.append([input('/a', 'one')]);
    await waitFor(async () => (await readAckMark(dir.path, 1))?.[0] === 1, 'the mark to cover the idle apply');
    const extraSyncs = (): number => write.mock.calls.filter(([operations, sync]) => sync && operations.some((op) => op.key[0] === keys.Keyspace.META)).length;
    expect(extraSyncs()).toBe(1);
    await log.append([input('/a', 'two')]);
    // A synced write of the store's own (as the Raft log's are) covers the apply before the timer fires.
    await log.store.write([{ type: 'put', key: keys.metaKey('setting:test'), value: Buffer.from('x') }], true);
    const before = extraSyncs();
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(extraSyncs()).toBe(before);
    expect((await readAckMark(dir.path, 1))?.[0]).toBe(2);
  });
});
