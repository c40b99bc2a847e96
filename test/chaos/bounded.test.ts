// The end of a run waits for writers and subscribers only so long: a promise
// that never settles runs out the wait (seed 401 hung for good on one), and
// the appends still open are named.
import { describe, expect, it } from 'vitest';
import { openInvokes, settlesWithin } from './bounded.js';
import type { AppendOp } from './history.js';

describe('bounded waits at the end of a run', () => {
  it('gives up on a promise that never settles, and not on one that does (either way)', async () => {
    expect(await settlesWithin(new Promise(() => undefined), 50)).toBe(false);
    expect(await settlesWithin(Promise.resolve(1), 5_000)).toBe(true);
    expect(await settlesWithin(Promise.reject(new Error('refused')), 5_000)).toBe(true);
  });

  it('names the appends invoked and never completed', () => {
    const op = (index: number, type: AppendOp['type'], value: string): AppendOp => ({ index, timeMs: index, process: value.split(':')[0]!, type, f: 'append', namespace: '/n', value });
    const history = [op(0, 'invoke', 'a:0'), op(1, 'invoke', 'b:0'), op(2, 'ok', 'a:0'), op(3, 'invoke', 'a:1'), op(4, 'info', 'a:1'), op(5, 'invoke', 'c:0')];
    expect(openInvokes(history).map((entry) => entry.value)).toEqual(['b:0', 'c:0']);
  });
});
