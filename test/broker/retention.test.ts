import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventLog } from '../../src/broker/event-log.js';
import { parseRetentionRules } from '../../src/broker/partitions/retention.js';
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

  it('removes events older than maxAge', async () => {
    log = await openLog(dir.path);
    await fill(log, '/metrics/cpu', 2, 10);
    const cutoff = Date.now() + 30;
    while (Date.now() <= cutoff) await new Promise((resolve) => setTimeout(resolve, 5));
    await fill(log, '/metrics/cpu', 1, 10, 2);
    await log.setRetentionRules(parseRetentionRules([{ namespace: '/metrics/**', maxAge: '25ms' }]));
    const left = await readAll(log, '/metrics/cpu');
    // The newest round may expire too on a slow machine; the two old rounds must be gone.
    expect(left.length).toBeLessThanOrEqual(10);
    expect(left.filter((event) => !event.text().startsWith('2-'))).toEqual([]);
    expect(log.partitionSizes().reduce((sum, size) => sum + size.events, 0)).toBe(left.length);
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

  it('rejects malformed rules with a message naming the rule', () => {
    expect(() => parseRetentionRules([{ namespace: '/a/**', maxAge: 'forever' }])).toThrow(/rule 1 maxAge/);
    expect(() => parseRetentionRules([{ namespace: '/a/**' }, { maxEvents: 3 }])).toThrow(/rule 2 needs a namespace/);
    expect(() => parseRetentionRules([{ namespace: '/a/**', maxEvent: 3 }])).toThrow(/unknown field/);
    expect(() => parseRetentionRules({})).toThrow(/JSON array/);
  });

  it('lets produce go on while a pass runs', async () => {
    log = await openLog(dir.path);
    await fill(log, '/busy/a', 50, 20);
    const pass = log.setRetentionRules(parseRetentionRules([{ namespace: '/busy/**', maxEvents: 10 }]));
    const appended = await log.append([input('/busy/b', 'during')]);
    expect(appended.offsets.length).toBe(1);
    await pass;
    expect((await readAll(log, '/busy/b')).map((event) => event.text())).toEqual(['during']);
  });
});
