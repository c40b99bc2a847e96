import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Broker } from '../../src/embedded.js';
import { silentLogger, tempDir } from '../support/temp.js';

let dir: Awaited<ReturnType<typeof tempDir>>;
let occupier: Server;
let port: number;

beforeEach(async () => {
  dir = await tempDir();
  occupier = createServer();
  await new Promise<void>((resolve) => occupier.listen(0, '127.0.0.1', resolve));
  port = (occupier.address() as { port: number }).port;
});
afterEach(async () => {
  await new Promise((resolve) => occupier.close(resolve));
  await dir.remove();
});

describe('an embedded broker on a port that is taken (e.g. beside npm start)', () => {
  it('fails with one FloError line, FLO_ERR_ADDRESS_IN_USE, not a raw EADDRINUSE', async () => {
    const error = await Broker.start({ dataDir: join(dir.path, 'data'), port, logger: silentLogger }).then(() => undefined, (caught: unknown) => caught);
    expect(error).toMatchObject({ name: 'FloError', code: 'FLO_ERR_ADDRESS_IN_USE' });
    expect((error as Error).message).toBe(`port ${port} on 127.0.0.1 is in use: is another flo server running?`);
    expect((error as Error).message).not.toContain('\n');
  });

  it('has not created the data dir', async () => {
    const dataDir = join(dir.path, 'never-created');
    const failed = await Broker.start({ dataDir, port, logger: silentLogger }).then(() => false, () => true);
    expect(failed).toBe(true);
    expect(existsSync(dataDir)).toBe(false);
  });

  it('starts normally once the port is free', async () => {
    await new Promise((resolve) => occupier.close(resolve));
    const broker = await Broker.start({ dataDir: join(dir.path, 'data'), port, logger: silentLogger });
    try {
      expect((await fetch(`${broker.url}/healthz`)).status).toBe(200);
    } finally {
      await broker.close();
      occupier = createServer();
    }
  });
});
