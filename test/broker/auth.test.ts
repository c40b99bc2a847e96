import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { parseAccessTokens, type AccessToken } from '../../src/broker/api/auth.js';
import { Broker, type BrokerOptions } from '../../src/broker/broker.js';
import { silentLogger, tempDir } from '../support/temp.js';

const READ = 'read-token-0123456789';
const WRITE = 'write-token-0123456789';
const ADMIN = 'admin-token-0123456789';
const TOKENS: AccessToken[] = [{ role: 'read', token: READ }, { role: 'write', token: WRITE }, { role: 'admin', token: ADMIN }];

const dirs: Array<Awaited<ReturnType<typeof tempDir>>> = [];
const brokers: Broker[] = [];

async function startBroker(options: Partial<BrokerOptions> = {}): Promise<Broker> {
  const dir = await tempDir();
  dirs.push(dir);
  const broker = await Broker.start({ dataDir: dir.path, logger: silentLogger, ...options });
  brokers.push(broker);
  return broker;
}

afterAll(async () => {
  for (const broker of brokers) await broker.close();
  for (const dir of dirs) await dir.remove();
});

type Method = 'GET' | 'POST' | 'PUT';

async function status(broker: Broker, method: Method, url: string, headers: Record<string, string> = {}, body?: unknown): Promise<{ status: number; code?: string }> {
  const response = await broker.app.inject({
    method,
    url,
    headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    payload: body === undefined ? undefined : JSON.stringify(body),
  });
  const code = response.headers['content-type']?.toString().includes('problem') ? (response.json() as { code: string }).code : undefined;
  return { status: response.statusCode, code };
}

const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

/** The HTTP status a WebSocket upgrade is answered with: 101 when it opens. */
function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers });
    socket.once('open', () => {
      socket.close();
      resolve(101);
    });
    socket.once('unexpected-response', (_request, response) => {
      resolve(response.statusCode ?? 0);
      socket.terminate();
    });
    socket.once('error', reject);
  });
}

const produceBody = { namespace: '/auth/x', data: 'x' };
const retentionBody = { rules: [] };

describe('a broker without tokens', () => {
  it('is open to every request', async () => {
    const broker = await startBroker();
    expect((await status(broker, 'POST', '/v1/events', {}, produceBody)).status).toBe(201);
    expect((await status(broker, 'GET', '/v1/events')).status).toBe(200);
    expect((await status(broker, 'PUT', '/v1/admin/retention', {}, retentionBody)).status).toBe(200);
  });
});

describe('a broker with tokens', () => {
  let broker: Broker;
  beforeAll(async () => {
    broker = await startBroker({ authTokens: TOKENS, port: 0 });
  });

  it('answers 401 FLO_ERR_UNAUTHENTICATED without a token or with an unknown one, on every data route', async () => {
    for (const headers of [{}, bearer('not-a-configured-token'), { authorization: `Basic ${READ}` }]) {
      expect(await status(broker, 'GET', '/v1/events', headers)).toEqual({ status: 401, code: 'FLO_ERR_UNAUTHENTICATED' });
      expect(await status(broker, 'GET', '/v1/cluster', headers)).toEqual({ status: 401, code: 'FLO_ERR_UNAUTHENTICATED' });
      expect(await status(broker, 'POST', '/v1/events', headers, produceBody)).toEqual({ status: 401, code: 'FLO_ERR_UNAUTHENTICATED' });
      expect(await status(broker, 'PUT', '/v1/admin/retention', headers, retentionBody)).toEqual({ status: 401, code: 'FLO_ERR_UNAUTHENTICATED' });
    }
    const response = await broker.app.inject({ method: 'GET', url: '/v1/events' });
    expect(response.headers['www-authenticate']).toContain('Bearer');
  });

  it('lets read tokens read, write tokens produce and commit, and only admin tokens change retention', async () => {
    expect((await status(broker, 'GET', '/v1/events', bearer(READ))).status).toBe(200);
    expect(await status(broker, 'POST', '/v1/events', bearer(READ), produceBody)).toEqual({ status: 403, code: 'FLO_ERR_FORBIDDEN' });
    expect(await status(broker, 'PUT', '/v1/groups/g1', bearer(READ), { cursor: 'c1.0.0.0.0.0.0.0.0' })).toEqual({ status: 403, code: 'FLO_ERR_FORBIDDEN' });
    expect(await status(broker, 'GET', '/v1/admin/retention', bearer(READ))).toEqual({ status: 403, code: 'FLO_ERR_FORBIDDEN' });

    expect((await status(broker, 'POST', '/v1/events', bearer(WRITE), produceBody)).status).toBe(201);
    expect((await status(broker, 'PUT', '/v1/groups/g1', bearer(WRITE), { cursor: 'c1.0.0.0.0.0.0.0.0' })).status).toBe(200);
    expect((await status(broker, 'GET', '/v1/events', bearer(WRITE))).status).toBe(200);
    expect(await status(broker, 'PUT', '/v1/admin/retention', bearer(WRITE), retentionBody)).toEqual({ status: 403, code: 'FLO_ERR_FORBIDDEN' });

    expect((await status(broker, 'PUT', '/v1/admin/retention', bearer(ADMIN), retentionBody)).status).toBe(200);
    expect((await status(broker, 'POST', '/v1/events', bearer(ADMIN), produceBody)).status).toBe(201);
    expect((await status(broker, 'GET', '/v1/groups/g1', bearer(ADMIN))).status).toBe(200);
  });

  it('keeps the health probes and metrics open', async () => {
    for (const url of ['/healthz', '/readyz', '/metrics']) expect((await status(broker, 'GET', url)).status).toBe(200);
  });

  it('checks the token on WebSocket upgrades: subscribe needs read, the produce socket write', async () => {
    const base = broker.url!.replace('http', 'ws');
    expect(await upgradeStatus(`${base}/v1/subscribe`)).toBe(401);
    expect(await upgradeStatus(`${base}/v1/subscribe`, bearer('wrong-token-0123456789'))).toBe(401);
    expect(await upgradeStatus(`${base}/v1/subscribe`, bearer(READ))).toBe(101);
    expect(await upgradeStatus(`${base}/v1/produce`, bearer(READ))).toBe(403);
    expect(await upgradeStatus(`${base}/v1/produce`, bearer(WRITE))).toBe(101);
  });

  it('checks the token on Server-Sent Events subscriptions', async () => {
    const url = `${broker.url}/v1/subscribe?follow=false`;
    const refused = await fetch(url, { headers: { accept: 'text/event-stream' } });
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ code: 'FLO_ERR_UNAUTHENTICATED' });
    const served = await fetch(url, { headers: { accept: 'text/event-stream', ...bearer(READ) } });
    expect(served.status).toBe(200);
    expect(await served.text()).toContain('event: end');
  });
});

describe('the token file format', () => {
  it('reads role:token lines and comma-separated entries, skipping comments and blank lines', () => {
    const tokens = parseAccessTokens(`# flo tokens\nread:${READ}\n\n  admin:${ADMIN}  \nwrite:${WRITE},read:${READ}x\n`, 'tokens.txt');
    expect(tokens).toEqual([
      { role: 'read', token: READ },
      { role: 'admin', token: ADMIN },
      { role: 'write', token: WRITE },
      { role: 'read', token: `${READ}x` },
    ]);
  });

  it.each([
    ['root:0123456789abcdef0123', /role read, write, admin/],
    ['read', /role:token/],
    ['read:short', /at least 16 characters/],
  ])('refuses %j without repeating the token', (text, message) => {
    let error: unknown;
    try {
      parseAccessTokens(text, 'tokens.txt');
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({ code: 'FLO_ERR_CONFIG_INVALID', message: expect.stringMatching(message) as unknown });
    expect(String((error as Error).message)).not.toContain(text.split(':')[1] ?? '\u0000');
  });
});

describe('the warning for an open broker beyond loopback', () => {
  const lines: string[] = [];
  const logger = pino({ level: 'warn' }, new Writable({ write(chunk: Buffer, _encoding, done) { lines.push(chunk.toString()); done(); } }));
  afterEach(() => {
    lines.length = 0;
  });

  it('is logged when the broker listens on all interfaces without tokens', async () => {
    const broker = await startBroker({ port: 0, host: '0.0.0.0', logger });
    await broker.close();
    expect(lines.some((line) => /"level":40.*WITHOUT authentication/.test(line))).toBe(true);
  });

  it('is not logged on loopback or with tokens', async () => {
    await (await startBroker({ port: 0, logger })).close();
    await (await startBroker({ port: 0, host: '0.0.0.0', logger, authTokens: TOKENS })).close();
    expect(lines.filter((line) => line.includes('WITHOUT authentication'))).toEqual([]);
  });
});

describe('Origin and Host checks', () => {
  let broker: Broker;
  beforeAll(async () => {
    broker = await startBroker({ port: 0, allowedOrigins: ['https://app.example.com'], allowedHosts: ['flo.internal'] });
  });

  it('refuses web pages of foreign origins with 403 and lets same-origin, loopback and allowed origins through', async () => {
    expect(await status(broker, 'GET', '/v1/events', { origin: 'https://evil.example' })).toEqual({ status: 403, code: 'FLO_ERR_FORBIDDEN' });
    expect(await status(broker, 'POST', '/v1/events', { origin: 'https://evil.example' }, produceBody)).toEqual({ status: 403, code: 'FLO_ERR_FORBIDDEN' });
    expect(await status(broker, 'GET', '/v1/events', { origin: 'null' })).toEqual({ status: 403, code: 'FLO_ERR_FORBIDDEN' });
    expect((await status(broker, 'GET', '/v1/events', { origin: 'http://localhost:5173' })).status).toBe(200);
    expect((await status(broker, 'GET', '/v1/events', { origin: 'http://127.0.0.1:8080' })).status).toBe(200);
    expect((await status(broker, 'GET', '/v1/events', { origin: 'https://app.example.com' })).status).toBe(200);
    expect((await status(broker, 'GET', '/v1/events', { host: 'flo.internal:3000', origin: 'http://flo.internal:3000' })).status).toBe(200);
    expect((await status(broker, 'GET', '/v1/events')).status).toBe(200);
  });

  it('refuses a WebSocket upgrade from a foreign origin (cross-site WebSocket hijacking)', async () => {
    const base = broker.url!.replace('http', 'ws');
    expect(await upgradeStatus(`${base}/v1/subscribe`, { origin: 'https://evil.example' })).toBe(403);
    expect(await upgradeStatus(`${base}/v1/produce`, { origin: 'https://evil.example' })).toBe(403);
    expect(await upgradeStatus(`${base}/v1/subscribe`, { origin: broker.url! })).toBe(101);
    expect(await upgradeStatus(`${base}/v1/subscribe`)).toBe(101);
  });

  it('refuses a foreign Host on a loopback broker (DNS rebinding), even with a matching Origin', async () => {
    expect(await status(broker, 'GET', '/v1/events', { host: 'evil.example:3000' })).toEqual({ status: 403, code: 'FLO_ERR_FORBIDDEN' });
    expect(await status(broker, 'PUT', '/v1/admin/retention', { host: 'evil.example:3000', origin: 'http://evil.example:3000' }, retentionBody)).toEqual({ status: 403, code: 'FLO_ERR_FORBIDDEN' });
    for (const host of ['localhost:3000', '127.0.0.1:3000', '127.1.2.3', '[::1]:3000', 'flo.internal']) {
      expect((await status(broker, 'GET', '/healthz', { host })).status).toBe(200);
    }
  });
});
