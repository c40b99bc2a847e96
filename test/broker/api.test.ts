import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Broker } from '../../src/broker/broker.js';
import { ERROR_CATALOGUE } from '../../src/common/errors.js';
import { encodeBatch, BATCH_MEDIA_TYPE } from '../../src/common/wire.js';
import { silentLogger, tempDir } from '../support/temp.js';

let dir: Awaited<ReturnType<typeof tempDir>>;
let broker: Broker;

beforeAll(async () => {
  dir = await tempDir();
  broker = await Broker.start({ dataDir: dir.path, logger: silentLogger, maxEventBytes: 1024, advertiseUrl: 'http://flo.example:3005' });
});
afterAll(async () => {
  await broker.close();
  await dir.remove();
});

type InjectResponse = Awaited<ReturnType<Broker['app']['inject']>>;

function inject(method: 'GET' | 'POST' | 'PUT', url: string, body?: unknown, contentType = 'application/json'): Promise<InjectResponse> {
  const payload = body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  return broker.app.inject({ method, url, payload, headers: payload === undefined ? {} : { 'content-type': contentType } });
}

function expectProblem(response: InjectResponse, status: number, code: string): void {
  expect(response.statusCode).toBe(status);
  expect(response.headers['content-type']).toContain('application/problem+json');
  const body = response.json() as Record<string, unknown>;
  expect(body).toMatchObject({ status, code, title: ERROR_CATALOGUE[code as keyof typeof ERROR_CATALOGUE].title });
  expect(typeof body.detail).toBe('string');
  expect(String(body.detail)).not.toMatch(/\n\s+at /);
}

describe('POST /v1/events', () => {
  it('appends one JSON event and answers with its id', async () => {
    const response = await inject('POST', '/v1/events', { namespace: '/food/eggs', data: 'I made some eggs' });
    expect(response.statusCode).toBe(201);
    const { id } = response.json() as { id: string };
    const read = await inject('GET', `/v1/events/${id}`);
    expect(read.json()).toMatchObject({ id, namespace: '/food/eggs', data: 'I made some eggs' });
  });

  it('appends JSON, NDJSON and binary batches', async () => {
    const json = await inject('POST', '/v1/events', { events: [{ namespace: '/b/1', data: 'a' }, { namespace: '/b/2', dataBase64: Buffer.from([0, 255]).toString('base64') }] });
    expect((json.json() as { ids: string[] }).ids).toHaveLength(2);
    const ndjson = await inject('POST', '/v1/events', '{"namespace":"/b/3","data":"x"}\n{"namespace":"/b/3","data":"y"}\n', 'application/x-ndjson');
    expect((ndjson.json() as { ids: string[] }).ids).toHaveLength(2);
    const binary = await inject('POST', '/v1/events', encodeBatch([{ namespace: '/b/4', data: Buffer.from('bin') }]), BATCH_MEDIA_TYPE);
    expect((binary.json() as { ids: string[] }).ids).toHaveLength(1);
    const page = await inject('GET', '/v1/events?namespace=/b/**');
    const events = (page.json() as { events: Array<Record<string, string>> }).events;
    expect(events.find((event) => event.namespace === '/b/2')).toMatchObject({ dataBase64: 'AP8=' });
    expect(events.map((event) => event.namespace).sort()).toEqual(['/b/1', '/b/2', '/b/3', '/b/3', '/b/4']);
  });

  it.each([
    [{ data: 'no namespace' }, 400, 'FLO_ERR_REQUEST_INVALID'],
    [{ namespace: 'relative', data: 'x' }, 400, 'FLO_ERR_NAMESPACE_INVALID'],
    [{ namespace: '/a', data: 42 }, 400, 'FLO_ERR_REQUEST_INVALID'],
    [{ namespace: '/a', data: 'x', dataBase64: 'eA==' }, 400, 'FLO_ERR_REQUEST_INVALID'],
    [{ namespace: '/a', dataBase64: '***' }, 400, 'FLO_ERR_REQUEST_INVALID'],
    [{ namespace: '/a', data: 'x', extra: 1 }, 400, 'FLO_ERR_REQUEST_INVALID'],
    [{ namespace: '/a', data: 'x', parentId: 'nope' }, 400, 'FLO_ERR_EVENT_ID_INVALID'],
    [{ namespace: '/a', data: 'x'.repeat(2000) }, 413, 'FLO_ERR_EVENT_TOO_LARGE'],
    [{ events: [] }, 400, 'FLO_ERR_REQUEST_INVALID'],
    [{ events: 'many' }, 400, 'FLO_ERR_REQUEST_INVALID'],
    [[], 400, 'FLO_ERR_REQUEST_INVALID'],
    ['"just a string"', 400, 'FLO_ERR_REQUEST_INVALID'],
  ])('refuses %j with %i %s', async (body, status, code) => {
    expectProblem(await inject('POST', '/v1/events', body), status, code);
  });

  it('refuses broken JSON, NDJSON, binary and unknown media types', async () => {
    expectProblem(await inject('POST', '/v1/events', '{"namespace":'), 400, 'FLO_ERR_REQUEST_INVALID');
    expectProblem(await inject('POST', '/v1/events', 'not json\n', 'application/x-ndjson'), 400, 'FLO_ERR_REQUEST_INVALID');
    expectProblem(await inject('POST', '/v1/events', Buffer.from([1, 0, 9, 0x2f]), BATCH_MEDIA_TYPE), 400, 'FLO_ERR_REQUEST_INVALID');
    expectProblem(await inject('POST', '/v1/events', Buffer.from([7]), BATCH_MEDIA_TYPE), 400, 'FLO_ERR_REQUEST_INVALID');
    expectProblem(await inject('POST', '/v1/events', 'namespace=/a', 'text/plain'), 415, 'FLO_ERR_MEDIA_TYPE_UNSUPPORTED');
  });
});

describe('GET /v1/events', () => {
  it('pages through a glob with a cursor, without gaps or duplicates', async () => {
    await inject('POST', '/v1/events', { events: Array.from({ length: 25 }, (_, i) => ({ namespace: `/page/${i % 3}`, data: String(i) })) });
    const seen: string[] = [];
    let from = 'earliest';
    for (let pages = 0; pages < 20; pages++) {
      const body = (await inject('GET', `/v1/events?namespace=/page/**&limit=4&from=${from}`)).json() as { events: Array<{ data: string }>; cursor: string; endOfStream: boolean };
      expect(body.events.length).toBeLessThanOrEqual(4);
      seen.push(...body.events.map((event) => event.data));
      from = body.cursor;
      if (body.endOfStream && body.events.length === 0) break;
    }
    expect(seen.sort((a, b) => Number(a) - Number(b))).toEqual(Array.from({ length: 25 }, (_, i) => String(i)));
  });

  it.each([
    ['/v1/events?namespace=food', 400, 'FLO_ERR_GLOB_INVALID'],
    ['/v1/events?from=tomorrow', 400, 'FLO_ERR_POSITION_INVALID'],
    ['/v1/events?from=c1.1.2', 400, 'FLO_ERR_POSITION_INVALID'],
    ['/v1/events?limit=0', 400, 'FLO_ERR_REQUEST_INVALID'],
    ['/v1/events?limit=lots', 400, 'FLO_ERR_REQUEST_INVALID'],
    ['/v1/events?colour=red', 400, 'FLO_ERR_REQUEST_INVALID'],
    ['/v1/events/not-an-id', 400, 'FLO_ERR_EVENT_ID_INVALID'],
    ['/v1/events/0000-00000000fffff', 404, 'FLO_ERR_EVENT_NOT_FOUND'],
    ['/v1/events/ffff-0000000000000', 404, 'FLO_ERR_EVENT_NOT_FOUND'],
    ['/v1/nothing-here', 404, 'FLO_ERR_ROUTE_NOT_FOUND'],
  ])('refuses %s with %i %s', async (url, status, code) => {
    expectProblem(await inject('GET', url), status, code);
  });
});

describe('admin and operations', () => {
  it('replaces retention rules at run time and refuses bad ones', async () => {
    const rules = [{ namespace: '/tmp/**', maxEvents: 2, maxAge: '7d' }];
    const put = await inject('PUT', '/v1/admin/retention', { rules });
    expect(put.statusCode).toBe(200);
    expect((await inject('GET', '/v1/admin/retention')).json()).toEqual({ rules });
    expectProblem(await inject('PUT', '/v1/admin/retention', { rules: [{ namespace: '/x', maxAge: 'ages' }] }), 400, 'FLO_ERR_RETENTION_INVALID');
    expectProblem(await inject('PUT', '/v1/admin/retention', { policies: [] }), 400, 'FLO_ERR_REQUEST_INVALID');
    const bare = await inject('PUT', '/v1/admin/retention', rules);
    expectProblem(bare, 400, 'FLO_ERR_RETENTION_INVALID');
    expect(bare.json().detail).toMatch(/send the rules as \{"rules": \[\.\.\.\]\}/);
    expect((await inject('GET', '/v1/admin/retention')).json()).toEqual({ rules });
  });

  it('reports health, readiness, cluster and metrics', async () => {
    expect((await inject('GET', '/healthz')).statusCode).toBe(200);
    expect((await inject('GET', '/readyz')).statusCode).toBe(200);
    const cluster = (await inject('GET', '/v1/cluster')).json() as { partitions: Array<{ raft: Record<string, unknown> }>; replicationFactor: number; brokers: Array<{ url: string | null }> };
    expect(cluster.partitions).toHaveLength(8);
    // --advertise-url is shown on a single broker too.
    expect(cluster.brokers.map((b) => b.url)).toEqual(['http://flo.example:3005']);
    expect(cluster.replicationFactor).toBe(1);
    // Every partition is a one-voter Raft group led by this broker.
    cluster.partitions.forEach((partition, i) => expect(partition.raft).toMatchObject({ group: i + 1, member: 1, role: 'leader', leader: 1, voters: [1] }));
    expect(cluster.partitions[0]!.raft.commitIndex).toBeGreaterThanOrEqual(1);
    const metrics = (await inject('GET', '/metrics')).body;
    for (const name of ['flo_produced_events_total', 'flo_delivered_events_total', 'flo_log_read_bytes_total', 'flo_commit_duration_seconds', 'flo_partition_bytes', 'flo_active_subscriptions']) {
      expect(metrics).toContain(name);
    }
  });
});
