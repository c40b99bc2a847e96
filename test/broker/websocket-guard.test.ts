import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { AccessToken } from '../../src/broker/api/auth.js';
import type { BrokerOptions } from '../../src/broker/broker.js';
import { parseResponse, useRawBroker, type RawConnection } from '../support/raw-connection.js';
import { waitFor } from '../support/temp.js';

const READ = 'read-token-0123456789';
const TOKENS: AccessToken[] = [{ role: 'read', token: READ }];

const raw = useRawBroker();
const startBroker = async (options: Partial<BrokerOptions> = {}): Promise<string> => (await raw.start(options)).url!;
const openConnection = raw.connect;

function upgradeRequest(path: string, headers: Record<string, string> = {}): string {
  const all = { host: '127.0.0.1', upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-key': randomBytes(16).toString('base64'), 'sec-websocket-version': '13', ...headers };
  const lines = Object.entries(all).filter(([, value]) => value !== '').map(([name, value]) => `${name}: ${value}\r\n`);
  return `GET ${path} HTTP/1.1\r\n${lines.join('')}\r\n`;
}

/** The one response a connection got before it closed (or its 101). */
async function responseOf(connection: RawConnection): Promise<ReturnType<typeof parseResponse>> {
  await waitFor(() => connection.received().includes('\r\n\r\n') && (connection.closed() || /^HTTP\/1\.1 101/.test(connection.received())), 'a response');
  return parseResponse(connection.received());
}

/** A masked (with a zero key, so the payload goes as is) client frame header for a binary payload of `length` bytes. */
function frameHeader(length: number): Buffer {
  if (length < 126) return Buffer.from([0x82, 0x80 | length, 0, 0, 0, 0]);
  if (length < 65536) {
    const header = Buffer.from([0x82, 0x80 | 126, 0, 0, 0, 0, 0, 0]);
    header.writeUInt16BE(length, 2);
    return header;
  }
  const header = Buffer.alloc(14);
  header[0] = 0x82;
  header[1] = 0x80 | 127;
  header.writeBigUInt64BE(BigInt(length), 2);
  return header;
}

/** The close code of the first close frame (opcode 8) the server sent after the 101. */
function closeCode(received: Buffer): number | undefined {
  let at = received.indexOf('\r\n\r\n') + 4;
  while (at > 3 && at + 2 <= received.length) {
    const opcode = received[at]! & 0x0f;
    let length = received[at + 1]! & 0x7f;
    let start = at + 2;
    if (length === 126) {
      length = received.readUInt16BE(at + 2);
      start = at + 4;
    } else if (length === 127) {
      length = Number(received.readBigUInt64BE(at + 2));
      start = at + 10;
    }
    if (opcode === 8 && start + 2 <= received.length) return received.readUInt16BE(start);
    at = start + length;
  }
  return undefined;
}

const bigUpload = async (url: string): Promise<Response> =>
  fetch(`${url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ namespace: '/ws/big', data: 'x'.repeat(600_000) }) });

describe('upgrades', () => {
  it('are refused with a problem on routes that are no WebSocket, /healthz (open without a token) too', async () => {
    const url = await startBroker({ authTokens: TOKENS });
    for (const [path, headers] of [['/healthz', {}], ['/metrics', {}], ['/v1/events', { authorization: `Bearer ${READ}` }]] as const) {
      const answer = await responseOf(await openConnection(url, upgradeRequest(path, headers)));
      expect(answer.status, path).toBe(400);
      expect(answer.type).toContain('application/problem+json');
      expect(answer.body).toMatchObject({ code: 'FLO_ERR_REQUEST_INVALID' });
    }
  });

  it.each([
    ['no Sec-WebSocket-Key', { 'sec-websocket-key': '' }],
    ['a Sec-WebSocket-Key that is not 16 bytes', { 'sec-websocket-key': 'c2hvcnQ=' }],
    ['an unknown Sec-WebSocket-Version', { 'sec-websocket-version': '99' }],
  ])('with %s are answered with a 400 problem, not bare text', async (_what, headers) => {
    const url = await startBroker();
    const answer = await responseOf(await openConnection(url, upgradeRequest('/v1/subscribe?namespace=/a', headers)));
    expect(answer.status).toBe(400);
    expect(answer.type).toContain('application/problem+json');
    expect(answer.body).toMatchObject({ code: 'FLO_ERR_REQUEST_INVALID' });
  });

  it('a request to the produce socket without an upgrade gets a 426 problem', async () => {
    const url = await startBroker();
    const response = await fetch(`${url}/v1/produce`);
    expect(response.status).toBe(426);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    expect(await response.json()).toMatchObject({ code: 'FLO_ERR_REQUEST_INVALID', status: 426 });
  });
});

describe('an HTTP/1.1 request without Host', () => {
  it('is answered with a 400 problem', async () => {
    const url = await startBroker();
    const answer = await responseOf(await openConnection(url, 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n'));
    expect(answer.status).toBe(400);
    expect(answer.type).toContain('application/problem+json');
    expect(answer.body).toMatchObject({ code: 'FLO_ERR_REQUEST_INVALID' });
  });
});

describe('WebSocket messages being received', () => {
  it('draw on the body budget: a socket whose unfinished message does not fit is closed with 1013 and gives its bytes back', async () => {
    const url = await startBroker({ maxBodyBytesInFlight: 1024 * 1024 });
    const connection = await openConnection(url, upgradeRequest('/v1/subscribe?namespace=/quiet'));
    await waitFor(() => /^HTTP\/1\.1 101/.test(connection.received()), 'the upgrade');
    connection.socket.write(frameHeader(4 * 1024 * 1024));
    connection.socket.write(Buffer.alloc(1536 * 1024));
    await waitFor(() => closeCode(connection.receivedBytes()), 'the socket to be closed for the budget');
    expect(closeCode(connection.receivedBytes())).toBe(1013);
    await waitFor(() => connection.closed(), 'the connection to be cut');
    expect((await bigUpload(url)).status).toBe(201);
  });

  it('give their bytes back once whole: after 20,000 messages a near-budget upload still fits', async () => {
    const url = await startBroker({ maxBodyBytesInFlight: 700_000 });
    const connection = await openConnection(url, upgradeRequest('/v1/subscribe?namespace=/quiet'));
    await waitFor(() => /^HTTP\/1\.1 101/.test(connection.received()), 'the upgrade');
    const frames: Buffer[] = [];
    for (const length of [10, 125, 126, 200, 65_535, 65_536]) frames.push(frameHeader(length), Buffer.alloc(length));
    for (let i = 0; i < 20_000; i++) frames.push(frameHeader(130), Buffer.alloc(130));
    connection.socket.write(Buffer.concat(frames));
    // a ping behind them all: its pong says the broker has read every frame before it
    connection.socket.write(Buffer.from([0x89, 0x80, 0, 0, 0, 0]));
    await waitFor(() => connection.receivedBytes().includes(Buffer.from([0x8a, 0x00])), 'the pong');
    expect(closeCode(connection.receivedBytes())).toBeUndefined();
    expect((await bigUpload(url)).status).toBe(201);
  });
});
