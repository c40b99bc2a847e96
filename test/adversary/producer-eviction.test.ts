// Adversary: the dedup state keeps at most 10,000 producers per partition (an undocumented
// limit; docs/api.md promises a producer's last 32 batches). Any writer that uses 10,001 fresh
// producer ids on one partition (or simply that many short-lived producers, each picking a
// random id as the client does) evicts an idle producer's window, and its retry of a request
// that did succeed is then stored a second time.
import { afterEach, describe, expect, it } from 'vitest';
import { startServer, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/temp.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function post(url: string, producerId: number, data: string): Promise<string> {
  const answer = await fetch(`${url}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'flo-producer-id': String(producerId), 'flo-producer-sequence': '0' },
    body: JSON.stringify({ namespace: '/evict/n', data }),
  });
  expect(answer.status).toBe(201);
  return ((await answer.json()) as { id: string }).id;
}

describe('idempotent producers under many other producers', () => {
  // Known gap, documented in docs/api.md ("Exactly once on retry"): the window is kept for the 10,000
  // most recent producers of a partition. `fails` keeps this finding visible: when producer state
  // survives that many others, this test passes and vitest reports it, so the marker must go.
  it.fails('answers a retry with its first id after 10,001 other producers wrote to the partition', async () => {
    const dir = await tempDir();
    cleanups.push(() => dir.remove());
    const broker: ServerProcess = await startServer(dir.path);
    cleanups.push(() => broker.stop('SIGKILL'));
    const first = await post(broker.url, 424_242, 'the request');
    let next = 1_000_000;
    const others = async (): Promise<void> => {
      while (next <= 1_010_000) await post(broker.url, next++, 'another producer');
    };
    await Promise.all(Array.from({ length: 32 }, others));
    expect(await post(broker.url, 424_242, 'the request')).toBe(first);
  }, 120_000);
});
