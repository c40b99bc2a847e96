// A failed retention pass (e.g. a write on a full disk) is reported where it ran;
// it must neither fail a pass asked for while it was running nor keep a closing
// store open and locked.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { EventLog } from '../../src/broker/event-log.js';
import { deferred } from '../../src/common/deferred.js';
import { input, openLog, readAll } from '../support/log.js';
import { tempDir } from '../support/temp.js';

let dir: Awaited<ReturnType<typeof tempDir>>;
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  await dir.remove();
});

function holdNextPass(log: EventLog): { fail(error: Error): void } {
  const enforcer = (log as unknown as { retentionEnforcer: { decide: (...args: unknown[]) => Promise<unknown> } }).retentionEnforcer;
  const held = deferred<never>();
  vi.spyOn(enforcer, 'decide').mockImplementationOnce(() => held.promise);
  return { fail: (error) => held.reject(error) };
}

describe('a failed retention pass', () => {
  it('does not fail a pass asked for while it ran: that one runs anew', async () => {
    const log = await openLog(dir.path);
    try {
      const held = holdNextPass(log);
      const first = log.runRetention();
      const second = log.runRetention();
      held.fail(new Error('write failed: no space left on device'));
      await expect(first).rejects.toThrow(/no space/);
      await expect(second).resolves.toBeUndefined();
    } finally {
      await log.close();
    }
  });

  it('does not keep a closing store open: the next start opens it', async () => {
    let log = await openLog(dir.path);
    await log.append([input('/r/a', 'one')]);
    const held = holdNextPass(log);
    const pass = log.runRetention().catch(() => undefined);
    const closing = log.close();
    held.fail(new Error('write failed: no space left on device'));
    await expect(closing).resolves.toBeUndefined();
    await pass;
    log = await openLog(dir.path);
    expect(await readAll(log)).toHaveLength(1);
    await log.close();
  });
});
