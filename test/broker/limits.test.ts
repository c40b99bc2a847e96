import { existsSync } from 'node:fs';
import { maxHeaderSize } from 'node:http';
import { describe, expect, it } from 'vitest';
import { Broker } from '../../src/broker/broker.js';
import { parseResponse, useRawBroker } from '../support/raw-connection.js';
import { silentLogger, tempDir, waitFor } from '../support/temp.js';

const raw = useRawBroker();
const startBroker = raw.start;
const openConnection = raw.connect;

const HALF_SENT_POST = 'POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"namespace":';

describe('request timeouts', () => {
  it('cuts clients that never finish their request, while /healthz keeps answering', async () => {
    const { url } = await startBroker({ requestTimeoutMs: 400 });
    const stalled = await Promise.all(Array.from({ length: 40 }, () => openConnection(url!, HALF_SENT_POST)));
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    await waitFor(() => stalled.every((connection) => connection.closed()), 'the stalled uploads to be cut', 10_000);
    for (const connection of stalled) {
      const response = parseResponse(connection.received());
      expect(response.status).toBe(408);
      expect(response.type).toContain('application/problem+json');
      expect(response.body).toMatchObject({ code: 'FLO_ERR_REQUEST_TIMEOUT', status: 408 });
    }
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('leaves a completed request and its response alone however long the client then stays', async () => {
    const { url } = await startBroker({ requestTimeoutMs: 300 });
    const response = await fetch(`${url}/v1/subscribe?namespace=/quiet/**`, { headers: { accept: 'text/event-stream' } });
    const reader = response.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toContain('event: start');
    // a stalled upload being cut shows that a request timeout has passed since the subscription began
    const stalled = await openConnection(url!, HALF_SENT_POST);
    await waitFor(() => stalled.closed(), 'a request timeout to pass');
    const id = (await (await fetch(`${url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"namespace":"/quiet/1","data":"late"}' })).json() as { id: string }).id;
    let text = first;
    await waitFor(async () => {
      text += new TextDecoder().decode((await reader.read()).value);
      return text.includes(id);
    }, 'the tailing SSE subscriber to get the event');
    await reader.cancel();
  });
});

describe('the connection cap', () => {
  it('answers connections over the cap with a 503 problem while the open ones keep working', async () => {
    const { url } = await startBroker({ maxConnections: 5 });
    const open = await Promise.all(Array.from({ length: 5 }, () => openConnection(url!)));
    const refused = await openConnection(url!, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await waitFor(() => refused.closed(), 'the connection over the cap to be closed');
    const answer = parseResponse(refused.received());
    expect(answer.status).toBe(503);
    expect(answer.type).toContain('application/problem+json');
    expect(answer.body).toMatchObject({ code: 'FLO_ERR_OVERLOADED', retryable: true });
    expect(refused.received()).toMatch(/\r\nretry-after: 1\r\n/i);
    const existing = open[0]!;
    existing.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await waitFor(() => existing.received().includes('"status":"ok"'), 'an open connection to be served');
    expect(existing.received()).toMatch(/^HTTP\/1\.1 200/);
    // a closed connection frees its place
    for (const connection of open) connection.socket.destroy();
    await waitFor(async () => (await fetch(`${url}/healthz`).catch(() => undefined))?.status === 200, 'a new connection to be served after others closed');
  });
});

describe('the budget of request bodies being received', () => {
  const bigEvent = (): string => JSON.stringify({ namespace: '/big/1', data: 'x'.repeat(600_000) });
  const postBig = async (url: string): Promise<Response> => fetch(`${url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: bigEvent() });

  it('answers an upload that does not fit beside slow ones with a 503 problem and Retry-After, and frees the space when they end', async () => {
    const { url } = await startBroker({ maxBodyBytesInFlight: 1024 * 1024 });
    const slow = await openConnection(url!, 'POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 700000\r\n\r\n{"namespace":');
    await waitFor(async () => (await postBig(url!)).status === 503, 'an upload beside the slow one to be refused');
    const refused = await postBig(url!);
    expect(refused.headers.get('content-type')).toContain('application/problem+json');
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(await refused.json()).toMatchObject({ code: 'FLO_ERR_OVERLOADED', retryable: true });
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    slow.socket.destroy();
    await waitFor(async () => (await postBig(url!)).status === 201, 'the space of the dropped upload to be given back');
    // finished uploads give their space back too: many in a row all fit
    for (let i = 0; i < 5; i++) expect((await postBig(url!)).status).toBe(201);
  });
});

describe('limit options', () => {
  it.each([[{ requestTimeoutMs: 0 }], [{ maxConnections: -1 }], [{ keepAliveTimeoutMs: 1.5 }], [{ maxBodyBytesInFlight: 0 }]])('refuses %j before touching the data dir', async (limits) => {
    const dir = await tempDir();
    const dataDir = `${dir.path}/data`;
    await expect(Broker.start({ dataDir, logger: silentLogger, port: 0, ...limits })).rejects.toMatchObject({ code: 'FLO_ERR_CONFIG_INVALID' });
    expect(existsSync(dataDir)).toBe(false);
    await dir.remove();
  });
});

describe('errors before routing are problem bodies', () => {
  it('answers a URL over 16 KiB with a 431 problem naming the limit Node enforces', async () => {
    const { url } = await startBroker();
    const response = await fetch(`${url}/v1/events?namespace=/${'x'.repeat(20_000)}`);
    expect(response.status).toBe(431);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    expect(await response.json()).toMatchObject({ code: 'FLO_ERR_REQUEST_INVALID', status: 431, detail: expect.stringContaining(`${maxHeaderSize} bytes`) as unknown });
  });

  it('answers a request Node cannot parse with a 400 problem', async () => {
    const { url } = await startBroker();
    const connection = await openConnection(url!, 'NOT HTTP AT ALL\r\n\r\n');
    await waitFor(() => connection.closed(), 'the connection to be closed');
    expect(parseResponse(connection.received())).toMatchObject({ status: 400, type: expect.stringContaining('problem+json') as unknown, body: { code: 'FLO_ERR_REQUEST_INVALID' } });
  });

  it.each([
    ['/v1/events/%zz'],
    ['/v1/groups/%zz'],
    ['/v1/events?namespace=/a%zz'],
    ['/v1/events?namespace=/a%ff'],
    ['/v1/events?namespace=/%C0%AF'],
  ])('answers the malformed percent-encoding of %s with a 400 problem', async (path) => {
    const { url } = await startBroker();
    const response = await fetch(`${url}${path}`);
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    expect(await response.json()).toMatchObject({ code: 'FLO_ERR_REQUEST_INVALID', status: 400 });
  });
});
