import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestJson } from '../../src/client/http.js';

// A server that reads requests and never answers them.
let server: Server;
let url: string;
beforeAll(async () => {
  server = createServer(() => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('requestJson', () => {
  it('fails with FLO_ERR_TIMEOUT, naming the deadline, when the broker never answers', async () => {
    const failure = requestJson(url, '/healthz', { timeoutMs: 100 });
    await expect(failure).rejects.toMatchObject({ code: 'FLO_ERR_TIMEOUT', message: `no answer from ${url} in 100 ms` });
  });
});
