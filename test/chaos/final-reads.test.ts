// The final reads that end a cluster run: a broker that answers every read with an
// error (a 503 while it cannot serve, as after a restart that never caught up) used
// to reject the whole read-back, and the run ended without a verdict. Now the
// others are judged and that broker is a liveness failure.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { convergedReads } from './cluster-campaign.js';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

/** A stand-in broker on loopback answering every read with `status` and `body`. */
async function fakeBroker(status: number, body: unknown): Promise<string> {
  const server = createServer((_request, response) => {
    response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const page = (values: string[]): unknown => ({
  events: values.map((value, index) => ({ id: `0-${index}`, namespace: '/chaos/n0', data: value })),
  cursor: 'end',
  endOfStream: true,
});

describe('final reads of a cluster run', () => {
  it('judges the brokers that answer and names the one that never could', async () => {
    const healthy = await fakeBroker(200, page(['a', 'b']));
    const unavailable = await fakeBroker(503, { code: 'FLO_ERR_UNAVAILABLE' });
    const liveness: string[] = [];
    const reads = await convergedReads([{ name: 'b0', url: healthy }, { name: 'b1', url: unavailable }], 10, liveness, 1_000);
    expect(reads.map((read) => [read.broker, read.events.map((event) => event.value)])).toEqual([['b0', ['a', 'b']]]);
    expect(liveness).toHaveLength(1);
    expect(liveness[0]).toMatch(/^b1 could not be read 1 s after the heal: final read of .* failed: 503/);
  });

  it('names brokers that answer but still differ at the deadline, and returns both reads to judge', async () => {
    const ahead = await fakeBroker(200, page(['a', 'b']));
    const behind = await fakeBroker(200, page(['a']));
    const liveness: string[] = [];
    const reads = await convergedReads([{ name: 'b0', url: ahead }, { name: 'b1', url: behind }], 10, liveness, 600);
    expect(reads.map((read) => read.events.length)).toEqual([2, 1]);
    expect(liveness).toEqual(["the brokers' final reads still differ 0.6 s after the heal (b0: 2, b1: 1)"]);
  });

  it('returns at once when every broker answers the same', async () => {
    const one = await fakeBroker(200, page(['a']));
    const two = await fakeBroker(200, page(['a']));
    const liveness: string[] = [];
    const reads = await convergedReads([{ name: 'b0', url: one }, { name: 'b1', url: two }], 10, liveness, 60_000);
    expect(reads).toHaveLength(2);
    expect(liveness).toEqual([]);
  });
});
