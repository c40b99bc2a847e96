// A subscription waits for a broker for at most reconnectTimeoutMs, trying every
// broker it knows, then fails with an error that names them and the bound.
import { describe, expect, it } from 'vitest';
import { FloClient } from '../../src/client/index.js';
import { freePort } from '../support/server-process.js';

describe('a subscription with no broker reachable', () => {
  it('fails once reconnectTimeoutMs has passed, naming every broker it tried', async () => {
    const urls = [`http://127.0.0.1:${await freePort()}`, `http://127.0.0.1:${await freePort()}`];
    const client = new FloClient(urls);
    const tried = new Set<string>();
    const startedAt = performance.now();
    const subscription = client.subscribe({ reconnectTimeoutMs: 1_000, onRetry: (retry) => tried.add(retry.error.message.match(/http:\/\/[\d.:]+/)![0]) });
    const failure = await (async () => {
      for await (const _event of subscription) break;
    })().then(() => undefined, (error: unknown) => error);
    const elapsedMs = performance.now() - startedAt;
    expect(failure).toMatchObject({ code: 'FLO_ERR_CONNECTION', message: expect.stringMatching(/no broker accepted the subscription for \d+ s .*reconnectTimeoutMs is 1000/) });
    for (const url of urls) expect((failure as Error).message).toContain(url);
    expect(tried).toEqual(new Set(urls)); // it moved on from the first broker
    expect(elapsedMs).toBeGreaterThanOrEqual(1_000);
    expect(elapsedMs).toBeLessThan(7_000);
    await client.close();
  });
});
