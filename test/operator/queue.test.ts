import { describe, expect, it } from 'vitest';
import { WorkQueue } from '../../src/operator/reconcile/queue.js';
import { waitFor } from '../k8s/helpers.js';

describe('WorkQueue', () => {
  it('holds a key once however often it is added before a worker takes it', async () => {
    const queue = new WorkQueue();
    queue.add('a');
    queue.add('a');
    queue.add('b');
    expect(queue.depth).toBe(2);
    const seen: string[] = [];
    const running = queue.run(async (key) => { seen.push(key); });
    await waitFor('both keys', () => seen.length === 2);
    queue.shutdown();
    await running;
    expect(seen).toEqual(['a', 'b']);
  });

  it('never runs one key twice at once, and reruns a key added while it was in flight', async () => {
    const queue = new WorkQueue({ concurrency: 4 });
    let active = 0;
    let maxActive = 0;
    let runs = 0;
    let release: () => void = () => undefined;
    const running = queue.run(async () => {
      active += 1;
      maxActive = Math.max(maxActive, active);
      runs += 1;
      if (runs === 1) await new Promise<void>((resolve) => { release = resolve; });
      active -= 1;
    });
    queue.add('k');
    await waitFor('first run started', () => runs === 1);
    queue.add('k');
    queue.add('k');
    release();
    await waitFor('second run', () => runs === 2);
    queue.shutdown();
    await running;
    expect(maxActive).toBe(1);
    expect(runs).toBe(2);
  });

  it('backs off exponentially per key up to the cap, and forgets after success', () => {
    const queue = new WorkQueue({ baseBackoffMs: 10, maxBackoffMs: 50 });
    expect([queue.addRateLimited('x'), queue.addRateLimited('x'), queue.addRateLimited('x'), queue.addRateLimited('x')]).toEqual([10, 20, 40, 50]);
    expect(queue.addRateLimited('y')).toBe(10);
    queue.forget('x');
    expect(queue.addRateLimited('x')).toBe(10);
    queue.shutdown();
  });

  it('delivers a rate-limited key after its delay', async () => {
    const queue = new WorkQueue({ baseBackoffMs: 20 });
    const seen: number[] = [];
    const started = Date.now();
    const running = queue.run(async () => { seen.push(Date.now() - started); });
    queue.addRateLimited('z');
    await waitFor('delayed delivery', () => seen.length === 1);
    queue.shutdown();
    await running;
    expect(seen[0]).toBeGreaterThanOrEqual(15);
  });
});
