import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { problemOf } from '../../src/broker/api/problem.js';
import { Broker } from '../../src/broker/broker.js';
import { FloError } from '../../src/common/errors.js';
import { BATCH_MEDIA_TYPE } from '../../src/common/wire.js';
import { tempDir, waitFor } from '../support/temp.js';

let dir: Awaited<ReturnType<typeof tempDir>>;
let broker: Broker;
const logLines: string[] = [];

beforeAll(async () => {
  dir = await tempDir();
  const logger = pino({ level: 'warn' }, new Writable({ write(chunk: Buffer, _encoding, done) { logLines.push(chunk.toString()); done(); } }));
  broker = await Broker.start({ dataDir: dir.path, logger, port: 0 });
});
afterAll(async () => {
  await broker.close();
  await dir.remove();
});

async function post(body: Buffer | string, contentType: string): Promise<{ status: number; code?: string }> {
  const response = await broker.app.inject({ method: 'POST', url: '/v1/events', payload: body, headers: { 'content-type': contentType } });
  return { status: response.statusCode, code: (response.json() as { code?: string }).code };
}

/** A binary batch with one event whose namespace is the given bytes. */
function batchWithNamespace(namespace: Buffer): Buffer {
  const header = Buffer.alloc(3);
  header.writeUInt8(1, 0);
  header.writeUInt16BE(namespace.length, 1);
  return Buffer.concat([header, namespace, Buffer.from([0, 0, 0, 0, 0])]);
}

async function storedNamespaces(): Promise<string[]> {
  const page = (await broker.app.inject({ method: 'GET', url: '/v1/events' })).json() as { events: Array<{ namespace: string }> };
  return page.events.map((event) => event.namespace);
}

describe('namespaces that are not UTF-8', () => {
  // "/a\xff" and "/a\xfe" would both have become "/a\uFFFD": two producers' events in one namespace.
  const invalid = [Buffer.from([0x2f, 0x61, 0xff]), Buffer.from([0x2f, 0x61, 0xfe]), Buffer.from([0x2f, 0xc0, 0xaf])];

  it('are refused with 400 in binary batches, not rewritten to U+FFFD', async () => {
    for (const namespace of invalid) expect(await post(batchWithNamespace(namespace), BATCH_MEDIA_TYPE)).toEqual({ status: 400, code: 'FLO_ERR_NAMESPACE_INVALID' });
    expect(await storedNamespaces()).not.toContain('/a\uFFFD');
  });

  it('are refused with 400 in JSON and NDJSON bodies', async () => {
    for (const namespace of invalid) {
      const json = Buffer.concat([Buffer.from('{"namespace":"'), namespace, Buffer.from('","data":"x"}')]);
      expect(await post(json, 'application/json')).toEqual({ status: 400, code: 'FLO_ERR_REQUEST_INVALID' });
      expect(await post(Buffer.concat([json, Buffer.from('\n')]), 'application/x-ndjson')).toEqual({ status: 400, code: 'FLO_ERR_REQUEST_INVALID' });
    }
    expect(await storedNamespaces()).not.toContain('/a\uFFFD');
  });

  it('are refused over the produce WebSocket', async () => {
    const socket = new WebSocket(`${broker.url!.replace('http', 'ws')}/v1/produce`);
    await new Promise((resolve) => socket.once('open', resolve));
    const answer = new Promise<Buffer>((resolve) => socket.once('message', resolve));
    const requestId = Buffer.alloc(4);
    requestId.writeUInt32BE(7);
    socket.send(Buffer.concat([requestId, batchWithNamespace(invalid[0]!)]));
    const frame = await answer;
    socket.close();
    expect(frame.readUInt32BE(0)).toBe(7);
    expect(frame[4]).toBe(1);
    expect(JSON.parse(frame.subarray(5).toString())).toMatchObject({ code: 'FLO_ERR_NAMESPACE_INVALID' });
  });

  it('still accepts every valid UTF-8 namespace, also outside ASCII', async () => {
    expect((await post(JSON.stringify({ namespace: '/café/日本/🙂', data: 'x' }), 'application/json')).status).toBe(201);
    expect((await post(batchWithNamespace(Buffer.from('/café/batch')), BATCH_MEDIA_TYPE)).status).toBe(201);
    expect(await storedNamespaces()).toEqual(expect.arrayContaining(['/café/日本/🙂', '/café/batch']));
  });
});

describe('the produce body schema', () => {
  it.each([
    [{ events: [{ namespace: '/s/1', data: 'x' }], extra: true }],
    [{ events: [{ namespace: '/s/1', data: 'x', colour: 'red' }] }],
    [[{ namespace: '/s/1', data: 'x' }, 'not an event']],
    [{ namespace: '/s/1', data: true }],
    [{ namespace: 42 }],
    [{ namespace: '/s/1', parentId: 12 }],
    [null],
  ])('refuses the shape %j with a 400 problem', async (body) => {
    expect(await post(JSON.stringify(body), 'application/json')).toEqual({ status: 400, code: 'FLO_ERR_REQUEST_INVALID' });
  });

  it('refuses a Content-Encoding with 415 instead of reading the compressed bytes as the body', async () => {
    const response = await broker.app.inject({ method: 'POST', url: '/v1/events', payload: '{"namespace":"/encoded/x"}', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } });
    expect(response.statusCode).toBe(415);
    expect(response.json()).toMatchObject({ code: 'FLO_ERR_MEDIA_TYPE_UNSUPPORTED' });
    const plain = await broker.app.inject({ method: 'POST', url: '/v1/events', payload: '{"namespace":"/encoded/x"}', headers: { 'content-type': 'application/json', 'content-encoding': 'identity' } });
    expect(plain.statusCode).toBe(201);
  });

  it('names the field that is wrong', async () => {
    const response = await broker.app.inject({ method: 'POST', url: '/v1/events', payload: { namespace: '/s/1', data: 42 } });
    expect((response.json() as { detail: string }).detail).toMatch(/data must be a string/);
  });
});

describe('consumer group names', () => {
  it('accepts every documented length, 1 to 128 characters, and refuses 129 with a 400 problem', async () => {
    for (const length of [1, 100, 101, 128]) {
      const name = 'g'.repeat(length);
      const put = await broker.app.inject({ method: 'PUT', url: `/v1/groups/${name}`, payload: { cursor: 'c1.0.0.0.0.0.0.0.0' } });
      expect(put.statusCode).toBe(200);
      expect((await broker.app.inject({ method: 'GET', url: `/v1/groups/${name}` })).statusCode).toBe(200);
    }
    const tooLong = await broker.app.inject({ method: 'PUT', url: `/v1/groups/${'g'.repeat(129)}`, payload: { cursor: 'c1.0.0.0.0.0.0.0.0' } });
    expect(tooLong.statusCode).toBe(400);
    expect(tooLong.headers['content-type']).toContain('application/problem+json');
    const wayTooLong = await broker.app.inject({ method: 'GET', url: `/v1/groups/${'g'.repeat(1000)}` });
    expect(wayTooLong.headers['content-type']).toContain('application/problem+json');
    expect(wayTooLong.json()).toMatchObject({ code: 'FLO_ERR_REQUEST_INVALID' });
  });
});

describe('problem details', () => {
  it('never show file paths for server-side failures', () => {
    const problem = problemOf(new FloError('FLO_ERR_STORAGE', 'IO error: /var/lib/flo/data/events/000005.log: No space left on device'));
    expect(problem.detail).toBe('IO error: <path>: No space left on device');
    expect(problemOf(new FloError('FLO_ERR_INTERNAL', 'open /home/dev/flo/data/LOCK failed')).detail).not.toContain('/home');
  });

  it('keep the client\'s own namespaces and globs in 4xx details', () => {
    expect(problemOf(new FloError('FLO_ERR_NAMESPACE_INVALID', 'namespace "/a/b/" has an empty segment')).detail).toContain('/a/b/');
  });
});

describe('malformed WebSocket frames', () => {
  it('are logged as a warning naming the peer, without a stack trace', async () => {
    const socket = new WebSocket(`${broker.url!.replace('http', 'ws')}/v1/produce`);
    await new Promise((resolve) => socket.once('open', resolve));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.on('error', () => undefined);
    // opcode 3 is reserved: a frame no WebSocket library sends (FIN, opcode 3, masked, empty payload)
    (socket as unknown as { _socket: import('node:net').Socket })._socket.write(Buffer.from([0x83, 0x80, 1, 2, 3, 4]));
    await closed;
    const entry = await waitFor(() => logLines.find((line) => line.includes('malformed WebSocket frame')), 'the warning');
    const parsed = JSON.parse(entry) as Record<string, unknown>;
    expect(parsed).toMatchObject({ level: 40, peer: '127.0.0.1', code: 'WS_ERR_INVALID_OPCODE' });
    expect(entry).not.toMatch(/"stack"|\n\s+at /);
    expect(logLines.filter((line) => /"level":50/.test(line))).toEqual([]);
  });
});

describe('server-side failures on the produce WebSocket', () => {
  it('are answered with a 500 problem frame and logged with their cause, as over HTTP', async () => {
    const append = broker.log.append.bind(broker.log);
    broker.log.append = () => Promise.reject(new Error('disk said no'));
    try {
      const socket = new WebSocket(`${broker.url!.replace('http', 'ws')}/v1/produce`);
      await new Promise((resolve) => socket.once('open', resolve));
      const answer = new Promise<Buffer>((resolve) => socket.once('message', resolve));
      const requestId = Buffer.alloc(4);
      requestId.writeUInt32BE(9);
      socket.send(Buffer.concat([requestId, batchWithNamespace(Buffer.from('/ws/failure'))]));
      const frame = await answer;
      socket.close();
      expect(frame[4]).toBe(1);
      expect(JSON.parse(frame.subarray(5).toString())).toMatchObject({ code: 'FLO_ERR_INTERNAL', status: 500 });
      const entry = await waitFor(() => logLines.find((line) => line.includes('disk said no')), 'the failure to be logged');
      expect(JSON.parse(entry)).toMatchObject({ level: 50, code: 'FLO_ERR_INTERNAL', msg: 'request failed' });
    } finally {
      broker.log.append = append;
    }
  });
});
