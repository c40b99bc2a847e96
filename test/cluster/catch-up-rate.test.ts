// The copy of events to a replica catching up past a snapshot was unbounded. With
// --catch-up-rate the brokers it copies from send no faster than that: a copy of
// ~750 KiB per partition at 128 KiB/s (a burst of 128 KiB allowed) takes about five
// seconds; unbounded (1Gi) it took 104 and 178 ms here, under the 1.5 s asserted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionOf } from '../../src/common/namespace.js';
import { TestCluster } from '../support/cluster.js';
import { waitFor } from '../support/temp.js';
import { byPartition, postEvents, readAll } from './http.js';

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await TestCluster.start({ brokers: 3, logLevel: 'info', args: ['--catch-up-rate', '128Ki'] });
});
afterAll(async () => {
  await cluster?.close();
});

/** Past three snapshot intervals (256 entries each; 64 kept behind the last). */
const REQUESTS_PER_NAMESPACE = 800;
const NAMESPACES = ['/rate/a', '/rate/b'];
const PAYLOAD = 'x'.repeat(1024);

/** The "caught up past the snapshot" lines of a broker's log (pretty or JSON): partition, end offset, milliseconds. */
function copiesIn(log: string): Array<{ partition: number; to: number; ms: number }> {
  const copies: Array<{ partition: number; to: number; ms: number }> = [];
  const lines = log.split('\n');
  lines.forEach((line, i) => {
    if (!line.includes('caught up past the snapshot')) return;
    const fields = new Map<string, number>();
    const json = /^\{/.test(line.trim()) ? (JSON.parse(line) as Record<string, unknown>) : undefined;
    if (json !== undefined) for (const key of ['partition', 'to', 'ms']) fields.set(key, Number(json[key]));
    for (let j = i + 1; json === undefined && j < lines.length && /^\s+\w+: /.test(lines[j]!); j++) {
      const [, key, value] = /^\s+(\w+): (.*)$/.exec(lines[j]!)!;
      fields.set(key!, Number(value));
    }
    copies.push({ partition: fields.get('partition') ?? -1, to: fields.get('to') ?? -1, ms: fields.get('ms') ?? -1 });
  });
  return copies;
}

describe('catching up under --catch-up-rate', () => {
  it('copies no faster than the rate, and still serves every event', async () => {
    expect(partitionOf(NAMESPACES[0]!, 8)).not.toBe(partitionOf(NAMESPACES[1]!, 8));
    const [entry, , lagging] = cluster.brokers;
    const early = await postEvents(entry!.url, { events: NAMESPACES.map((namespace) => ({ namespace, data: 'before' })) });
    expect(early.status).toBe(201);
    await waitFor(async () => (await readAll(lagging!.url, { namespace: '/rate/**' })).events.length === 2, 'the lagging broker to hold the first events');
    await cluster.stop(lagging!.nodeId);
    await Promise.all(NAMESPACES.map(async (namespace) => {
      for (let i = 0; i < REQUESTS_PER_NAMESPACE; i++) {
        const answer = await postEvents(entry!.url, { namespace, data: PAYLOAD });
        expect(answer.status, JSON.stringify(answer.body)).toBe(201);
      }
    }));
    cluster.restart(lagging!.nodeId);
    await cluster.waitFormed();
    const reference = await readAll(entry!.url, { namespace: '/rate/**' });
    const caughtUp = await waitFor(async () => {
      const page = await readAll(lagging!.url, { namespace: '/rate/**' }).catch(() => undefined);
      return page !== undefined && page.events.length >= reference.events.length ? page : false;
    }, `broker ${lagging!.nodeId} to serve all ${reference.events.length} events`, 60_000);
    expect(byPartition(caughtUp.events)).toEqual(byPartition(reference.events));

    // Each partition's copy logs how long it took.
    // Each partition's copy logs how long it took.
    const copies = copiesIn(lagging!.output()).filter((copy) => NAMESPACES.some((namespace) => partitionOf(namespace, 8) === copy.partition));
    expect(copies.length, lagging!.output().slice(-3000)).toBeGreaterThan(0);
    for (const copy of copies) expect(copy.ms, `partition ${copy.partition}, copied up to offset ${copy.to}`).toBeGreaterThanOrEqual(1_500);
  });
});
