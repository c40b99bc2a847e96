// Liveness after a storage failure: /healthz turns 503 so Kubernetes (or any
// supervisor) restarts the broker, and the restart's verification brings it back.
import { rm } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { Broker } from '../../src/broker/broker.js';
import { silentLogger } from '../support/temp.js';
import { mountSmallDisk } from '../support/tmpfs.js';

describe('liveness', () => {
  it('fails /healthz once a write has failed, and passes again after a restart', async (context) => {
    const disk = await mountSmallDisk(4 * 1024 * 1024);
    if ('skipped' in disk) return context.skip(disk.skipped);
    const { dataDir, filler } = disk;
    let broker: Broker | undefined;
    try {
      broker = await Broker.start({ dataDir, partitions: 1, logger: silentLogger, maxEventBytes: 64 * 1024 });
      expect((await broker.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
      let refused = 0;
      for (let i = 0; i < 1000 && refused === 0; i++) {
        const answer = await broker.app.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ namespace: '/fill', data: 'x'.repeat(16 * 1024) }) });
        if (answer.statusCode !== 201) refused = answer.statusCode;
      }
      expect(refused).toBe(503);
      const health = await broker.app.inject({ method: 'GET', url: '/healthz' });
      expect(health.statusCode).toBe(503);
      expect(health.json()).toMatchObject({ code: 'FLO_ERR_STORAGE_FAILED' });
      await rm(filler);
      await broker.close();
      broker = await Broker.start({ dataDir, logger: silentLogger, maxEventBytes: 64 * 1024 });
      expect((await broker.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    } finally {
      await broker?.close().catch(() => undefined);
      await disk.unmount();
    }
  });
});
