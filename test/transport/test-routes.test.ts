import { describe, expect, it } from 'vitest';
import { parsePeerRoutes, routed } from '../../src/broker/transport/test-routes.js';

describe('FLO_TEST_PEER_ROUTES (the chaos mesh hook)', () => {
  it('sends a dial for a routed address to its proxy and leaves every other address alone', () => {
    const routes = parsePeerRoutes('127.0.0.1:4002=127.0.0.1:5012, 127.0.0.1:5032=127.0.0.1:5012,garbage,127.0.0.1:x=127.0.0.1:1');
    expect(routes.size).toBe(2);
    expect(routed({ host: '127.0.0.1', port: 4002 }, routes)).toEqual({ host: '127.0.0.1', port: 5012 });
    expect(routed({ host: '127.0.0.1', port: 5032 }, routes)).toEqual({ host: '127.0.0.1', port: 5012 });
    expect(routed({ host: '127.0.0.1', port: 4003 }, routes)).toEqual({ host: '127.0.0.1', port: 4003 });
    expect(routed({ host: '127.0.0.1', port: 4002 }, parsePeerRoutes(undefined))).toEqual({ host: '127.0.0.1', port: 4002 });
  });
});
