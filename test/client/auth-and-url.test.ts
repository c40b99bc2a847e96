// The client's token goes out as `Authorization: Bearer <token>` on every HTTP
// request and WebSocket upgrade, from the library and from the CLI's --token /
// FLO_TOKEN; broker URLs without a scheme mean http://. A tiny local HTTP server
// records what arrives and refuses upgrades with a problem body.
import { spawn } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/index.js';
import { normalizeBrokerUrl } from '../../src/client/http.js';
import { CLI_PATH } from '../support/server-process.js';

interface Seen {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}

const CLUSTER = { mode: 'single-node', nodeId: 'n1', replicationFactor: 1, durability: 'fsync', brokers: [], partitions: [] };
let server: Server;
let url: string;
const seen: Seen[] = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    seen.push({ method: request.method!, path: request.url!, headers: request.headers });
    const body = request.url === '/v1/cluster' ? CLUSTER : request.url!.startsWith('/v1/events') ? { events: [], cursor: 'c1.0', endOfStream: true } : { status: 'ok' };
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  server.on('upgrade', (request, socket) => {
    seen.push({ method: 'UPGRADE', path: request.url!, headers: request.headers });
    const problem = JSON.stringify({ code: 'FLO_ERR_REQUEST_INVALID', detail: 'recorded and refused' });
    socket.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\ncontent-length: ${Buffer.byteLength(problem)}\r\nconnection: close\r\n\r\n${problem}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const authorizationOf = (predicate: (request: Seen) => boolean): Array<string | undefined> => seen.filter(predicate).map((request) => request.headers.authorization);

function flo(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], { env: { ...process.env, FLO_URL: url, FLO_TOKEN: '', ...env } });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolve({ code, stderr }));
    child.stdin.end();
  });
}

describe('client token', () => {
  it('is sent as a bearer token on HTTP requests and on produce and subscribe upgrades', async () => {
    seen.length = 0;
    const client = await connect(url, { token: 's3cret' });
    await client.cluster();
    await client.read({ namespace: '/a/**' });
    await expect(client.produce({ namespace: '/a', data: 'x' })).rejects.toMatchObject({ code: 'FLO_ERR_REQUEST_INVALID', message: 'recorded and refused' });
    const subscription = client.subscribe({ namespace: '/a/**' });
    await expect((async () => {
      for await (const _event of subscription) break;
    })()).rejects.toMatchObject({ code: 'FLO_ERR_REQUEST_INVALID' });
    await client.close();
    expect(seen.map((request) => `${request.method} ${request.path.split('?')[0]}`)).toEqual(['GET /v1/cluster', 'GET /v1/cluster', 'GET /v1/events', 'UPGRADE /v1/produce', 'UPGRADE /v1/subscribe']);
    expect(new Set(authorizationOf(() => true))).toEqual(new Set(['Bearer s3cret']));
  });

  it('is not sent when none is set', async () => {
    seen.length = 0;
    const client = await connect(url);
    await client.cluster();
    await client.close();
    expect(authorizationOf(() => true)).toEqual([undefined, undefined]);
  });

  it.each([
    [['cluster', 'status', '--token', 'from-flag'], {}, 'Bearer from-flag'],
    [['produce', '-n', '/a', '-d', 'x'], { FLO_TOKEN: 'from-env' }, 'Bearer from-env'],
    [['consume', '--token', 'consumer'], {}, 'Bearer consumer'],
  ])('is taken from the CLI: %j', async (args, env, expected) => {
    seen.length = 0;
    await flo(args, env);
    expect(seen.length).toBeGreaterThan(0);
    expect(new Set(authorizationOf(() => true))).toEqual(new Set([expected]));
  });
});

describe('broker URLs', () => {
  it.each([
    ['localhost:3000', 'http://localhost:3000'],
    ['127.0.0.1:3000/', 'http://127.0.0.1:3000'],
    ['//flo.example:3000', 'http://flo.example:3000'],
    ['https://flo.example', 'https://flo.example'],
    ['HTTP://Localhost:3000', 'http://localhost:3000'],
    ['https://gw.example/flo/', 'https://gw.example/flo'],
  ])('reads %s as %s', (input, expected) => {
    expect(normalizeBrokerUrl(input)).toBe(expected);
  });

  it.each(['ftp://flo.example', 'ws://localhost:3000', 'http://', ''])('refuses %j with a message that shows the expected form', (input) => {
    expect(() => normalizeBrokerUrl(input)).toThrow(/http:\/\/127\.0\.0\.1:3000/);
  });

  it.each(['localhost:3000/v1', 'http://localhost:3000/v1/events', 'https://gw.example/flo/v1'])('refuses %j, which names the API path, pointing at the base URL', (input) => {
    expect(() => normalizeBrokerUrl(input)).toThrow(/includes the API path .*give the broker's base URL, e\.g\. https?:\/\/(localhost:3000|gw\.example)$/);
  });

  it('lets the client and the CLI reach a broker given as host:port', async () => {
    seen.length = 0;
    const hostPort = url.replace('http://', '');
    const client = await connect(hostPort);
    expect(client.url).toBe(url);
    await client.close();
    const result = await flo(['cluster', 'status', '--url', hostPort]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it('refuses a URL of another scheme in the CLI with one clear line', async () => {
    const result = await flo(['cluster', 'status', '--url', 'ftp://flo.example']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/must start with http:\/\/ or https:\/\//);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
