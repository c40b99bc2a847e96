// The group committer against a store whose writes the test completes by hand,
// so "acknowledged only after the durable write" is checked directly.
import { describe, expect, it } from 'vitest';
import { GroupCommitter, MAX_GROUP_BYTES, type AppendTicket } from '../../src/broker/partitions/group-committer.js';
import type { EventStore, StoreOperation, StoredGroup } from '../../src/broker/storage/event-store.js';
import { NamespaceDictionary } from '../../src/broker/storage/namespace-dictionary.js';
import { deferred, type Deferred } from '../../src/common/deferred.js';
import { FloError } from '../../src/common/errors.js';
import { waitFor } from '../support/temp.js';

interface Write { operations: StoreOperation[]; sync: boolean; done: Deferred<void> }

function harness(sync = true): { committer: GroupCommitter; writes: Write[]; committed: StoredGroup[][]; state: { nextOffset: number[]; lastTimestamp: number[] }; dictionary: NamespaceDictionary; store: { failed: Error | undefined } } {
  const writes: Write[] = [];
  const dictionary = new NamespaceDictionary(2);
  const store = {
    dictionary,
    failed: undefined,
    reserve: () => Promise.resolve(),
    write: (operations: StoreOperation[], synced: boolean) => {
      const done = deferred<void>();
      writes.push({ operations, sync: synced, done });
      return done.promise;
    },
  } as unknown as EventStore;
  const state = { nextOffset: [0, 0], lastTimestamp: [0, 0] };
  const committed: StoredGroup[][] = [];
  const committer = new GroupCommitter(store, state, sync, { onCommitted: (groups) => committed.push([...groups]) }, () => 1000);
  return { committer, writes, committed, state, dictionary, store: store as unknown as { failed: Error | undefined } };
}

function ticket(count: number): AppendTicket & { settled: Promise<'ok' | Error> } {
  const done = deferred<void>();
  const settled = done.promise.then(() => 'ok' as const, (error: Error) => error);
  return { partitions: new Uint16Array(count), offsets: new Float64Array(count), remaining: count, resolve: () => done.resolve(), reject: (error) => done.reject(error), settled };
}

async function isSettled(promise: Promise<unknown>): Promise<boolean> {
  const marker = Symbol('pending');
  return (await Promise.race([promise, Promise.resolve(marker)])) !== marker;
}

describe('group commit', () => {
  it('acknowledges only after the synced write completes, and shares one write among concurrent appends', async () => {
    const { committer, writes, state, dictionary } = harness();
    const a = ticket(1);
    const b = ticket(1);
    const ns = dictionary.idOf('/a');
    committer.enqueue(dictionary.partitionOf(ns), { nsId: ns, parentId: undefined, data: Buffer.from('x') }, a, 0);
    committer.enqueue(dictionary.partitionOf(ns), { nsId: ns, parentId: undefined, data: Buffer.from('y') }, b, 0);
    await waitFor(() => writes.length === 1, 'the first write');
    expect(writes[0]!.sync).toBe(true);
    expect(await isSettled(a.settled)).toBe(false);
    expect(state.nextOffset[dictionary.partitionOf(ns)]).toBe(0);
    writes[0]!.done.resolve();
    expect(await a.settled).toBe('ok');
    expect(await b.settled).toBe('ok');
    expect([a.offsets[0], b.offsets[0]]).toEqual([0, 1]);
    expect(state.nextOffset[dictionary.partitionOf(ns)]).toBe(2);
  });

  it('passes sync=false through for durability "os"', async () => {
    const { committer, writes, dictionary } = harness(false);
    const ns = dictionary.idOf('/a');
    committer.enqueue(dictionary.partitionOf(ns), { nsId: ns, parentId: undefined, data: Buffer.from('x') }, ticket(1), 0);
    await waitFor(() => writes.length === 1, 'the write');
    expect(writes[0]!.sync).toBe(false);
  });

  it('rejects the appends of a failed write, reuses their offsets and keeps new namespaces for the next write', async () => {
    const { committer, writes, state, dictionary } = harness();
    const ns = dictionary.idOf('/fails');
    const partition = dictionary.partitionOf(ns);
    const first = ticket(1);
    committer.enqueue(partition, { nsId: ns, parentId: undefined, data: Buffer.from('x') }, first, 0);
    await waitFor(() => writes.length === 1, 'the write');
    writes[0]!.done.reject(new Error('disk on fire'));
    expect(await first.settled).toMatchObject({ message: 'disk on fire' });
    expect(state.nextOffset[partition]).toBe(0);
    const second = ticket(1);
    committer.enqueue(partition, { nsId: ns, parentId: undefined, data: Buffer.from('y') }, second, 0);
    await waitFor(() => writes.length === 2, 'the retry write');
    expect(writes[1]!.operations.some((operation) => operation.key[0] === 0x44)).toBe(true);
    writes[1]!.done.resolve();
    expect(await second.settled).toBe('ok');
    expect(second.offsets[0]).toBe(0);
  });

  it('once the store has failed, rejects the appends waiting behind the failed write and refuses new ones, with no further write', async () => {
    const { committer, writes, dictionary, store } = harness();
    const ns = dictionary.idOf('/fails');
    const partition = dictionary.partitionOf(ns);
    const inFlight = ticket(1);
    committer.enqueue(partition, { nsId: ns, parentId: undefined, data: Buffer.from('x') }, inFlight, 0);
    await waitFor(() => writes.length === 1, 'the write');
    const waiting = ticket(1);
    committer.enqueue(partition, { nsId: ns, parentId: undefined, data: Buffer.from('y') }, waiting, 0);
    const failure = new FloError('FLO_ERR_STORAGE_FAILED', 'a write to the data directory failed');
    store.failed = failure;
    writes[0]!.done.reject(failure);
    expect(await inFlight.settled).toBe(failure);
    expect(await waiting.settled).toBe(failure);
    expect(() => committer.enqueue(partition, { nsId: ns, parentId: undefined, data: Buffer.from('z') }, ticket(1), 0)).toThrow(/a write to the data directory failed/);
    await committer.drain();
    expect(writes).toHaveLength(1);
  });

  it('splits a large backlog of one namespace into bounded groups with contiguous offsets', async () => {
    const { committer, writes, committed, dictionary } = harness();
    const ns = dictionary.idOf('/big');
    const partition = dictionary.partitionOf(ns);
    const big = ticket(40);
    for (let i = 0; i < 40; i++) committer.enqueue(partition, { nsId: ns, parentId: undefined, data: Buffer.alloc(100 * 1024) }, big, i);
    // 4 MiB of one namespace: more than one group, so more than one write may be needed too.
    let completed = 0;
    for (let round = 0; round < 10; round++) {
      await waitFor(() => writes.length > completed, `write ${completed + 1}`);
      writes[completed++]!.done.resolve();
      const settled = await waitFor(async () => ((await isSettled(big.settled)) ? 'done' : writes.length > completed ? 'more' : false), 'the ack or another write');
      if (settled === 'done') break;
    }
    expect(await big.settled).toBe('ok');
    const groups = committed.flat();
    expect(groups.length).toBeGreaterThan(1);
    for (const group of groups) expect(group.value.length).toBeLessThanOrEqual(MAX_GROUP_BYTES + 1024);
    expect(Array.from(big.offsets)).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });
});
