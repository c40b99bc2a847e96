// A produce request whose events go to several partitions, one of which refuses
// its part, is answered per event: 207 with the ids of what was stored and, for
// each event that was not, its index and problem. (It had failed as a whole while
// the other partitions' events were stored: a blind retry stored them twice.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Broker } from '../../src/broker/broker.js';
import { partitionOf } from '../../src/common/namespace.js';
import { silentLogger, tempDir } from '../support/temp.js';

let dir: Awaited<ReturnType<typeof tempDir>>;
let broker: Broker;
const PARTITIONS = 4;

beforeAll(async () => {
  dir = await tempDir();
  broker = await Broker.start({ dataDir: dir.path, logger: silentLogger, partitions: PARTITIONS });
});
afterAll(async () => {
  await broker.close();
  await dir.remove();
});

function produce(events: Array<{ namespace: string; data: string }>, producer: { id: string; sequence: string }) {
  return broker.app.inject({
    method: 'POST', url: '/v1/events', payload: JSON.stringify(events),
    headers: { 'content-type': 'application/json', 'flo-producer-id': producer.id, 'flo-producer-sequence': producer.sequence },
  });
}

/** Two namespaces on different partitions. */
function twoPartitions(): [string, string] {
  const first = '/partial/a';
  for (let i = 0; i < 100; i++) {
    const other = `/partial/b${i}`;
    if (partitionOf(other, PARTITIONS) !== partitionOf(first, PARTITIONS)) return [first, other];
  }
  throw new Error('no second partition found');
}

describe('a produce request partly refused', () => {
  it('answers 207 with the stored ids and, per refused event, its index and problem', async () => {
    const [stale, fresh] = twoPartitions();
    // The producer has sequence 10 in the first namespace's partition: an older sequence there is stale.
    expect((await produce([{ namespace: stale, data: 'first' }], { id: '77', sequence: '10' })).statusCode).toBe(201);
    const response = await produce([{ namespace: fresh, data: 'kept' }, { namespace: stale, data: 'refused' }], { id: '77', sequence: '5' });
    expect(response.statusCode, response.body).toBe(207);
    const body = response.json() as { ids: Array<string | null>; failed: Array<{ index: number; problem: { code: string; status: number; retryable: boolean } }> };
    expect(body.ids[0]).toMatch(/^\d{4}-\d{13}$/);
    expect(body.ids[1]).toBeNull();
    expect(body.failed).toEqual([{ index: 1, problem: expect.objectContaining({ code: 'FLO_ERR_SEQUENCE_STALE', status: 409, retryable: false }) }]);
    const read = await broker.app.inject({ method: 'GET', url: `/v1/events/${body.ids[0]}`, headers: { accept: 'application/json' } });
    expect(read.json()).toMatchObject({ namespace: fresh, data: 'kept' });
  });
});
