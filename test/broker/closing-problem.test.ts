// A broker that is shutting down (a pod deleted during a scale or a rollout) still gets
// requests on connections kept alive through a Service; each must be refused with a Flo
// problem (FLO_ERR_SHUTTING_DOWN), not with the web framework's bare 503 JSON.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Broker } from '../../src/broker/broker.js';
import { silentLogger, tempDir } from '../support/temp.js';

describe('a closing broker', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let broker: Broker;

  beforeAll(async () => {
    dir = await tempDir();
    broker = await Broker.start({ dataDir: dir.path, logger: silentLogger, port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => { await dir.remove(); });

  it('refuses a request arriving on a kept-alive connection with a documented problem', async () => {
    const url = new URL(broker.url!);
    const socket = connect(Number(url.port), url.hostname);
    let received = '';
    const ended = new Promise<void>((resolve) => {
      socket.on('data', (chunk: Buffer) => { received += chunk.toString(); });
      socket.on('close', () => resolve());
    });
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const body = JSON.stringify({ namespace: '/a', data: 'x' });
    // The first request is in flight (its body not all sent) when the broker starts closing,
    // so its connection is active, not idle, and stays open for the pipelined second one.
    socket.write(`POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 5)}`);
    await new Promise<void>((resolve) => setImmediate(resolve));
    const closing = broker.close();
    await new Promise<void>((resolve) => setImmediate(resolve));
    socket.write(`${body.slice(5)}GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    await ended;
    await closing;
    const responses = received.split(/(?=HTTP\/1\.1 )/).map((response) => response.split('\r\n\r\n') as [string, string]);
    const refused = responses.filter(([head]) => /^HTTP\/1\.1 503/.test(head));
    expect(refused.length).toBeGreaterThan(0);
    for (const [head, payload] of refused) {
      expect(head.toLowerCase()).toContain('content-type: application/problem+json');
      expect(JSON.parse(payload)).toMatchObject({ status: 503, code: 'FLO_ERR_SHUTTING_DOWN', retryable: true });
    }
  });
});
