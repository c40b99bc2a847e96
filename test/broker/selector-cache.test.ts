import { describe, expect, it } from 'vitest';
import type { EventLog } from '../../src/broker/event-log.js';
import { Selection } from '../../src/broker/partitions/selector-cache.js';
import { MATCH_STEPS_PER_SLICE } from '../../src/common/bounds.js';
import { globMatchSteps } from '../../src/common/glob.js';
import { compileGlob, type NamespaceSelector } from '../../src/common/namespace.js';
import { input, openLog } from '../support/log.js';
import { tempDir } from '../support/temp.js';

/** A selector for `glob` that counts its matcher calls, as a new request compiling the same glob would be. */
function counting(glob: string): NamespaceSelector & { calls: number } {
  const compiled = compileGlob(glob);
  const selector = { ...compiled, calls: 0, matches: (namespace: string) => (selector.calls++, compiled.matches(namespace)) };
  return selector;
}

/** Reads everything selected, in small pages, as one HTTP client paging through would. */
async function readEvents(target: EventLog, selector: NamespaceSelector): Promise<number> {
  let cursor = new Array<number>(target.partitions).fill(0);
  const end = target.head();
  let events = 0;
  for (let pages = 0; pages < 10_000 && cursor.some((offset, partition) => offset < end[partition]!); pages++) {
    const page = await target.readPage({ selector, cursor, end, maxBytes: 64, maxEvents: 3 });
    events += page.events;
    cursor = page.cursor;
  }
  return events;
}

describe('selections', () => {
  it('match each namespace once per glob, however many pages and requests read it', async () => {
    const dir = await tempDir();
    const log = await openLog(dir.path);
    try {
      for (let i = 0; i < 40; i++) await log.append([input(`/a/${i}`, 'x'), input(`/a/${i}`, 'y'), input(`/b/${i}`, 'z')]);
      const first = counting('/a/**');
      expect(await readEvents(log, first)).toBe(80);
      expect(first.calls).toBe(80);
      // A second request compiles its own selector for the same glob: nothing is matched again.
      const second = counting('/a/**');
      expect(await readEvents(log, second)).toBe(80);
      expect(second.calls).toBe(0);
      // Only namespaces new since then are matched.
      await log.append([input('/a/new', 'x'), input('/b/new', 'x')]);
      const third = counting('/a/**');
      expect(await readEvents(log, third)).toBe(81);
      expect(first.calls + second.calls + third.calls).toBe(82);
    } finally {
      await log.close();
      await dir.remove();
    }
  });

  it('yield to the event loop while matching many namespaces', async () => {
    // Each match of this glob against these names takes about 250k steps (only the 10 one-digit names match): a slice holds a few.
    const names = Array.from({ length: 50 }, (_, i) => `/${'a'.repeat(1000)}${i}`);
    const dictionary = { size: names.length, nameOf: (nsId: number) => names[nsId]!, partitionOf: (nsId: number) => nsId % 4 };
    const compiled = compileGlob('/*' + 'a'.repeat(500) + '?');
    let turns = 0;
    const turnsSeen: number[] = [];
    const selector: NamespaceSelector = { ...compiled, matches: (namespace) => (turnsSeen.push(turns), compiled.matches(namespace)) };
    let ticking = true;
    const tick = (): void => {
      turns++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const before = globMatchSteps();
    const selection = new Selection(selector, 4);
    await selection.update(dictionary);
    ticking = false;
    const slices = Math.floor((globMatchSteps() - before) / MATCH_STEPS_PER_SLICE);
    expect(slices).toBeGreaterThanOrEqual(5);
    expect([0, 1, 2, 3].map((partition) => selection.inPartition(partition).size)).toEqual([3, 3, 2, 2]);
    // Other work ran between the slices: the turn counter moved on while the selection was built.
    expect(turnsSeen.at(-1)! - turnsSeen[0]!).toBeGreaterThanOrEqual(slices - 1);
  });
});
