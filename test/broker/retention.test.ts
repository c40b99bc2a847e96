import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventLog } from '../../src/broker/event-log.js';
import { parseRetentionRules, type RetentionRule } from '../../src/broker/partitions/retention.js';
import { partitionOf } from '../../src/common/namespace.js';
import { input, openLog, readAll } from '../support/log.js';
import { tempDir } from '../support/temp.js';

let dir: Awaited<ReturnType<typeof tempDir>>;
let log: EventLog | undefined;

beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  await log?.close();
  log = undefined;
  await dir.remove();
});

async function fill(target: EventLog, namespace: string, rounds: number, perRound: number, firstRound = 0): Promise<void> {
  for (let round = firstRound; round < firstRound + rounds; round++) {
    await target.append(Array.from({ length: perRound }, (_, i) => input(namespace, `${round}-${i}`)));
  }
}

describe('retention', () => {
  it('keeps the newest maxEvents of each matching namespace, trimming inside a group', async () => {
    log = await openLog(dir.path);
    await fill(log, '/logs/a', 5, 10);
    await fill(log, '/logs/b', 2, 10);
    await fill(log, '/keep/c', 5, 10);
    await log.setRetentionRules(parseRetentionRules([{ namespace: '/logs/**', maxEvents: 15 }]));
    const a = await readAll(log, '/logs/a');
    expect(a.map((event) => event.text())).toEqual([...['3-5', '3-6', '3-7', '3-8', '3-9'], ...Array.from({ length: 10 }, (_, i) => `4-${i}`)]);
    expect(await readAll(log, '/logs/b')).toHaveLength(15);
    expect(await readAll(log, '/keep/c')).toHaveLength(50);
    expect((await log.metrics.retentionDeletedEvents.get()).values[0]!.value).toBe(40);
  });

  it('applies only the first rule that matches a namespace', async () => {
    log = await openLog(dir.path);
    await fill(log, '/logs/audit', 3, 10);
    await fill(log, '/logs/debug', 3, 10);
    await log.setRetentionRules(parseRetentionRules([
      { namespace: '/logs/audit', maxEvents: 25 },
      { namespace: '/logs/**', maxEvents: 5 },
    ]));
    expect(await readAll(log, '/logs/audit')).toHaveLength(25);
    expect(await readAll(log, '/logs/debug')).toHaveLength(5);
  });

  it('removes exactly the events older than maxAge', async () => {
    let now = 1_000_000;
    log = await openLog(dir.path, { clock: () => now });
    await fill(log, '/metrics/cpu', 2, 10);
    await fill(log, '/other/cpu', 1, 10);
    now += 100;
    await fill(log, '/metrics/cpu', 1, 10, 2);
    now += 30;
    // Rounds 0 and 1 are 130 ms old, round 2 is 30 ms old: only round 2 is within 50 ms.
    await log.setRetentionRules(parseRetentionRules([{ namespace: '/metrics/**', maxAge: '50ms' }]));
    const left = await readAll(log, '/metrics/cpu');
    expect(left.map((event) => event.text())).toEqual(Array.from({ length: 10 }, (_, i) => `2-${i}`));
    expect(await readAll(log, '/other/cpu')).toHaveLength(10);
    expect(log.partitionSizes().reduce((sum, size) => sum + size.events, 0)).toBe(20);
    // The timestamp index no longer points at the removed commits.
    const partition = partitionOf('/metrics/cpu', log.partitions);
    const oldestIndexed = await log.offsetAtTime(partition, 0);
    expect(oldestIndexed === undefined || oldestIndexed >= 20).toBe(true);
  });

  it('keeps a namespace within maxBytes', async () => {
    log = await openLog(dir.path);
    for (let round = 0; round < 10; round++) await log.append(Array.from({ length: 10 }, () => input('/blobs/x', 'y'.repeat(100))));
    await log.setRetentionRules(parseRetentionRules([{ namespace: '/blobs/**', maxBytes: 3000 }]));
    const left = await readAll(log, '/blobs/x');
    expect(left.length).toBeGreaterThan(20);
    expect(left.length).toBeLessThan(30);
    expect(log.partitionSizes().reduce((sum, size) => sum + size.bytes, 0)).toBeLessThanOrEqual(3000);
  });

  it('forgets sizes correctly across a restart so limits still hold', async () => {
    log = await openLog(dir.path);
    await fill(log, '/r/x', 4, 10);
    await log.close();
    log = await openLog(dir.path, { retention: parseRetentionRules([{ namespace: '/r/**', maxEvents: 12 }]) });
    await log.runRetention();
    expect(await readAll(log, '/r/x')).toHaveLength(12);
  });

  it('finds at start-up the same namespace sizes it kept while running, after a trim inside a group', async () => {
    const rules = parseRetentionRules([{ namespace: '/s/**', maxEvents: 15 }]);
    log = await openLog(dir.path, { retention: rules });
    await fill(log, '/s/x', 4, 10);
    await fill(log, '/s/y', 1, 3);
    await log.runRetention();
    const running = (log as unknown as { sizes: { events: number[]; bytes: number[] } }).sizes;
    const kept = ['/s/x', '/s/y'].map((namespace) => log!.store.dictionary.idOf(namespace)).map((nsId) => ({ nsId, events: running.events[nsId], bytes: running.bytes[nsId] }));
    expect(kept.map((size) => size.events)).toEqual([15, 3]);
    await log.close();
    log = await openLog(dir.path, { retention: rules });
    expect(kept.map(({ nsId }) => ({ nsId, ...log!.store.namespaceSizes.get(nsId) }))).toEqual(kept);
  });

  it('rejects malformed rules with a message naming the rule', () => {
    expect(() => parseRetentionRules([{ namespace: '/a/**', maxAge: 'forever' }])).toThrow(/rule 1 maxAge/);
    expect(() => parseRetentionRules([{ namespace: '/a/**' }, { maxEvents: 3 }])).toThrow(/rule 2 needs a namespace/);
    expect(() => parseRetentionRules([{ namespace: '/a/**', maxEvent: 3 }])).toThrow(/unknown field/);
    expect(() => parseRetentionRules({})).toThrow(/JSON array/);
  });

  it('lets produce go on while a pass runs', async () => {
    log = await openLog(dir.path);
    await fill(log, '/busy/a', 50, 20);
    const hold = holdRetention(log);
    let passDone = false;
    const pass = log.setRetentionRules(parseRetentionRules([{ namespace: '/busy/**', maxEvents: 10 }])).then(() => (passDone = true));
    await hold.reached;
    // The pass is stopped half-way (it has read the index and not yet written): produce must still complete.
    const appended = await log.append([input('/busy/b', 'during')]);
    expect(appended.offsets.length).toBe(1);
    expect(passDone).toBe(false);
    hold.release();
    await pass;
    expect((await readAll(log, '/busy/b')).map((event) => event.text())).toEqual(['during']);
    expect(await readAll(log, '/busy/a')).toHaveLength(10);
  });

  it('matches each namespace against the rules once, and again only when the rules are replaced', async () => {
    log = await openLog(dir.path);
    for (let i = 0; i < 30; i++) await log.append([input(`/logs/${i}`, 'x'), input(`/keep/${i}`, 'x')]);
    const calls = { count: 0 };
    const rules = countingRules([{ namespace: '/logs/**', maxEvents: 1 }, { namespace: '/never/**', maxEvents: 1 }], calls);
    await log.setRetentionRules(rules);
    // 30 /logs namespaces stop at the first rule; 30 /keep ones try both.
    expect(calls.count).toBe(90);
    await log.runRetention();
    await log.runRetention();
    expect(calls.count).toBe(90);
    await log.append([input('/logs/new', 'x'), input('/keep/new', 'x')]);
    await log.runRetention();
    expect(calls.count).toBe(93);
    // Replaced rules (even equal ones) are a new list: every namespace is matched once more.
    await log.setRetentionRules(countingRules([{ namespace: '/logs/**', maxEvents: 1 }], calls));
    expect(calls.count).toBe(93 + 62);
  });

  it('reads nothing from the store for namespaces within count and size limits', async () => {
    log = await openLog(dir.path);
    for (let i = 0; i < 40; i++) await log.append([input(`/small/${i}`, 'x'), input(`/small/${i}`, 'y')]);
    await log.append([input('/small/big', 'a'), input('/small/big', 'b'), input('/small/big', 'c')]);
    const store = log.store;
    const readIndex = store.readIndex.bind(store);
    let reads = 0;
    store.readIndex = (...args) => (reads++, readIndex(...args));
    await log.setRetentionRules(parseRetentionRules([{ namespace: '/small/**', maxEvents: 2, maxBytes: '1Mi' }]));
    expect((await readAll(log, '/small/big')).map((event) => event.text())).toEqual(['b', 'c']);
    // Only the one namespace over its limit was looked up (and read back by readAll).
    expect(reads).toBeLessThanOrEqual(3);
    reads = 0;
    await log.runRetention();
    expect(reads).toBe(0);
  });
});

/** Rules whose globs count their matcher calls. */
function countingRules(input: unknown[], calls: { count: number }): RetentionRule[] {
  return parseRetentionRules(input).map((rule) => ({ ...rule, selector: { ...rule.selector, matches: (namespace: string) => (calls.count++, rule.selector.matches(namespace)) } }));
}

/** Stops the next retention pass at its first index read, until released. */
function holdRetention(target: EventLog): { reached: Promise<void>; release: () => void } {
  const store = target.store;
  const readIndex = store.readIndex.bind(store);
  let reach!: () => void;
  let release!: () => void;
  const reached = new Promise<void>((resolve) => (reach = resolve));
  const released = new Promise<void>((resolve) => (release = resolve));
  store.readIndex = async (...args) => {
    store.readIndex = readIndex;
    reach();
    await released;
    return readIndex(...args);
  };
  return { reached, release };
}
