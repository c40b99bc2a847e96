// Which namespaces a selector matches, remembered. Namespace ids are dense and
// only grow, so a selection keeps the id up to which it has matched and, on each
// use, matches only the namespaces added since: a namespace is matched once per
// selector, not once per read. Selections are shared by every read and
// subscription with the same glob, and matching is sliced by its cost, so a
// glob against 200k namespaces never holds the event loop for long.
import { MATCH_STEPS_PER_SLICE, MAX_CACHED_SELECTION_IDS, MAX_CACHED_SELECTIONS } from '../../common/bounds.js';
import { globMatchSteps } from '../../common/glob.js';
import type { NamespaceSelector } from '../../common/namespace.js';

/** The part of the namespace dictionary matching needs. */
export interface NamespaceNames {
  readonly size: number;
  nameOf(nsId: number): string;
  partitionOf(nsId: number): number;
}

/**
 * Calls `visit` for the namespaces with ids from `from` up to the dictionary's
 * size (which may grow meanwhile); `visit` returns the matching steps it spent,
 * and whenever they add up to MATCH_STEPS_PER_SLICE the loop yields to the event
 * loop. Resolves with the id it got to (the size at the end).
 */
export async function forEachNewNamespace(names: NamespaceNames, from: number, visit: (nsId: number, name: string) => number): Promise<number> {
  let steps = 0;
  let nsId = from;
  for (; nsId < names.size; nsId++) {
    if (steps >= MATCH_STEPS_PER_SLICE) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      steps = 0;
    }
    const name = names.nameOf(nsId);
    steps += visit(nsId, name);
  }
  return nsId;
}

/** What one match call costs beyond the glob's own steps (the call, splitting the name, recording it), in steps: about 1 µs. */
const STEPS_PER_MATCH_CALL = 256;

/** Matches `name` against `selector` and tells the steps it took: the glob's own count (see glob.ts) plus the call itself. */
export function countedMatch(selector: NamespaceSelector, name: string): { matched: boolean; steps: number } {
  const before = globMatchSteps();
  const matched = selector.matches(name);
  return { matched, steps: globMatchSteps() - before + STEPS_PER_MATCH_CALL };
}

/** The namespaces one selector matches, per partition. */
export class Selection {
  private matchedUpTo = 0;
  private matchedIds = 0;
  private catchingUp: Promise<void> | undefined;
  private readonly sets: Array<Set<number>>;

  constructor(private readonly selector: NamespaceSelector, partitions: number) {
    this.sets = Array.from({ length: partitions }, () => new Set<number>());
  }

  /** Matched namespace ids held (what the cache's memory bound counts). */
  get size(): number {
    return this.matchedIds;
  }

  /** The matched ids of one partition; the caller must not change the set. */
  inPartition(partition: number): Set<number> {
    return this.sets[partition]!;
  }

  /** Matches the namespaces new since the last update; concurrent callers share one pass. */
  async update(names: NamespaceNames): Promise<void> {
    while (this.catchingUp) await this.catchingUp;
    if (this.matchedUpTo >= names.size) return;
    this.catchingUp = this.catchUp(names).finally(() => (this.catchingUp = undefined));
    await this.catchingUp;
  }

  private async catchUp(names: NamespaceNames): Promise<void> {
    this.matchedUpTo = await forEachNewNamespace(names, this.matchedUpTo, (nsId, name) => {
      const { matched, steps } = countedMatch(this.selector, name);
      if (matched) {
        this.sets[names.partitionOf(nsId)]!.add(nsId);
        this.matchedIds++;
      }
      return steps;
    });
  }
}

/**
 * Selections by selector object (a subscription keeps its own for as long as it
 * lives) and by glob text (so a glob read page after page, or by many clients, is
 * matched once). The by-glob part is bounded in entries and in ids held; the
 * least recently used selections go first.
 */
export class SelectorCache {
  private readonly bySelector = new WeakMap<NamespaceSelector, Selection>();
  private readonly byGlob = new Map<string, Selection>();

  constructor(private readonly names: NamespaceNames, private readonly partitions: number) {}

  /** The selection of `selector`, brought up to date with the dictionary. */
  async select(selector: NamespaceSelector): Promise<Selection> {
    const known = this.bySelector.get(selector) ?? this.byGlob.get(selector.glob);
    const selection = known ?? new Selection(selector, this.partitions);
    this.bySelector.set(selector, selection);
    this.byGlob.delete(selector.glob);
    this.byGlob.set(selector.glob, selection);
    const sizeBefore = selection.size;
    await selection.update(this.names);
    if (!known || selection.size !== sizeBefore) this.evict();
    return selection;
  }

  private evict(): void {
    let ids = 0;
    for (const selection of this.byGlob.values()) ids += selection.size;
    for (const [glob, selection] of this.byGlob) {
      if (this.byGlob.size <= MAX_CACHED_SELECTIONS && ids <= MAX_CACHED_SELECTION_IDS) return;
      if (this.byGlob.size === 1) return;
      this.byGlob.delete(glob);
      ids -= selection.size;
    }
  }
}
