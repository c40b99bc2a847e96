// A broker that refuses a WebSocket upgrade (a missing token, too small a role)
// answers with a problem body: the client's producer and subscription report
// that problem's code, not ws's "Unexpected server response".
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FloClient } from '../../src/client/client.js';
import { startServer, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/temp.js';

let dir: Awaited<ReturnType<typeof tempDir>>;
let server: ServerProcess;
beforeAll(async () => {
  dir = await tempDir();
  await writeFile(`${dir.path}/tokens.txt`, 'read:reader-token-0123456789\nadmin:admin-token-0123456789\n');
  server = await startServer(`${dir.path}/broker`, ['--auth-tokens-file', `${dir.path}/tokens.txt`]);
});
afterAll(async () => {
  await server?.stop();
  await dir?.remove();
});

describe('a refused WebSocket upgrade', () => {
  it('fails produce() with the broker\'s code: FLO_ERR_FORBIDDEN for a read token', async () => {
    const client = new FloClient(server.url, { token: 'reader-token-0123456789' });
    await expect(client.produce({ namespace: '/a', data: 'x' })).rejects.toMatchObject({ code: 'FLO_ERR_FORBIDDEN' });
    await client.close();
  });

  it('fails a subscription with the broker\'s code: FLO_ERR_UNAUTHENTICATED without a token', async () => {
    const client = new FloClient(server.url);
    const subscription = client.subscribe({ follow: false });
    await expect((async () => { for await (const event of subscription) void event; })()).rejects.toMatchObject({ code: 'FLO_ERR_UNAUTHENTICATED' });
    await client.close();
  });
});
