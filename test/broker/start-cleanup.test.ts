// A start that fails after the API was built (here: listen refused, as when
// another process takes the port between the check and the bind) closes that
// API too, not only the log: no WebSocket server or timer outlives the failure.
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { silentLogger, tempDir } from '../support/temp.js';

const built: FastifyInstance[] = [];
vi.mock('../../src/broker/api/app.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/broker/api/app.js')>();
  return { ...original, buildApp: async (...args: Parameters<typeof original.buildApp>) => {
    const app = await original.buildApp(...args);
    built.push(app);
    return app;
  } };
});
const { Broker } = await import('../../src/broker/broker.js');

let dir: Awaited<ReturnType<typeof tempDir>>;
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  vi.restoreAllMocks();
  await dir.remove();
});

describe('a broker start that fails to listen', () => {
  it('closes the API it built as well as the log', async () => {
    vi.spyOn(Broker.prototype as unknown as { listen: () => Promise<void> }, 'listen').mockRejectedValue(Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE' }));
    await expect(Broker.start({ dataDir: join(dir.path, 'data'), port: 0, logger: silentLogger })).rejects.toBeDefined();
    expect(built).toHaveLength(1);
    // A closed fastify instance refuses to be used again.
    await expect(built[0]!.inject({ method: 'GET', url: '/healthz' })).rejects.toThrow();
    // And the data dir is free for the next start.
    vi.restoreAllMocks();
    const broker = await Broker.start({ dataDir: join(dir.path, 'data'), logger: silentLogger });
    await broker.close();
  });
});
