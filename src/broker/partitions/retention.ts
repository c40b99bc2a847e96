// Retention: an ordered list of rules; the first rule whose glob matches a
// namespace applies to it, and its limits hold for each namespace separately.
// A pass removes the oldest groups (and trims a partly expired one) of every
// namespace over its limits, in small write batches, so produce never waits on it.
// Which rule applies to a namespace is worked out once (RuleAssignment), not per pass.
import { MAX_RETENTION_RULES } from '../../common/bounds.js';
import { FloError } from '../../common/errors.js';
import { compileGlob, type NamespaceSelector } from '../../common/namespace.js';
import { parseCount, parseDurationMs, parseSizeBytes } from '../../common/units.js';
import { dropGroupPrefix, forEachGroupEvent, groupEventBytes, GROUP_HEADER_BYTES } from '../../common/wire.js';
import type { EventStore, IndexEntry, StoreOperation } from '../storage/event-store.js';
import * as keys from '../storage/keys.js';
import type { TrimCommand } from './commands.js';
import { countedMatch, forEachNewNamespace, type NamespaceNames } from './selector-cache.js';

/** A rule as users write it (API, CLI, Kubernetes spec). */
export interface RetentionRuleInput {
  namespace: string;
  maxAge?: string | number;
  maxEvents?: number | string;
  maxBytes?: number | string;
}

export interface RetentionRule {
  readonly namespace: string;
  readonly maxAgeMs: number | undefined;
  readonly maxEvents: number | undefined;
  readonly maxBytes: number | undefined;
  readonly selector: NamespaceSelector;
  readonly input: RetentionRuleInput;
}

export function parseRetentionRules(input: unknown): RetentionRule[] {
  if (!Array.isArray(input)) throw new FloError('FLO_ERR_RETENTION_INVALID', 'retention rules must be a JSON array of {namespace, maxAge?, maxEvents?, maxBytes?}');
  if (input.length > MAX_RETENTION_RULES) throw new FloError('FLO_ERR_RETENTION_INVALID', `at most ${MAX_RETENTION_RULES} retention rules are allowed`);
  return input.map((raw: unknown, i) => {
    const where = `retention rule ${i + 1}`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new FloError('FLO_ERR_RETENTION_INVALID', `${where} must be an object`);
    const rule = raw as Record<string, unknown>;
    const unknownKeys = Object.keys(rule).filter((key) => !['namespace', 'maxAge', 'maxEvents', 'maxBytes'].includes(key));
    if (unknownKeys.length > 0) throw new FloError('FLO_ERR_RETENTION_INVALID', `${where} has unknown field(s): ${unknownKeys.join(', ')}`);
    if (typeof rule.namespace !== 'string') throw new FloError('FLO_ERR_RETENTION_INVALID', `${where} needs a namespace glob such as "/logs/**"`);
    let selector: NamespaceSelector;
    try {
      selector = compileGlob(rule.namespace);
    } catch (error) {
      throw new FloError('FLO_ERR_RETENTION_INVALID', `${where}: ${(error as Error).message}`);
    }
    const optional = <T>(value: unknown, parse: (v: unknown) => T): T | undefined => (value === undefined || value === null ? undefined : parse(value));
    const code = 'FLO_ERR_RETENTION_INVALID';
    const result: RetentionRule = {
      namespace: rule.namespace,
      maxAgeMs: optional(rule.maxAge, (v) => parseDurationMs(v, `${where} maxAge`, code)),
      maxEvents: optional(rule.maxEvents, (v) => parseCount(v, `${where} maxEvents`, code)),
      maxBytes: optional(rule.maxBytes, (v) => parseSizeBytes(v, `${where} maxBytes`, code)),
      selector,
      input: { ...(rule as unknown as RetentionRuleInput) },
    };
    return result;
  });
}

/** How much each namespace holds; kept in memory, rebuilt from the index at start-up. */
export class NamespaceSizes {
  readonly events: number[] = [];
  readonly bytes: number[] = [];

  add(nsId: number, events: number, bytes: number): void {
    this.events[nsId] = (this.events[nsId] ?? 0) + events;
    this.bytes[nsId] = (this.bytes[nsId] ?? 0) + bytes;
  }
}

/** One namespace's retention cut: its events below the offset go. */
export type TrimCut = TrimCommand['cuts'][number];

const ENTRIES_PER_STEP = 256;
/** Index pages one decision reads at most (the cut lands at what it found; the next pass goes on). */
const MAX_DECIDE_STEPS = 64;
const NO_RULE = -1;

/**
 * The first rule matching each namespace, remembered: a new namespace is matched
 * once against the live rules, and every namespace again only when the rules are
 * replaced (a new array), in slices so a pass never holds the event loop long.
 */
export class RuleAssignment {
  private rules: readonly RetentionRule[] = [];
  private ruleOf: number[] = [];

  async update(rules: readonly RetentionRule[], names: NamespaceNames): Promise<void> {
    if (rules !== this.rules) {
      this.rules = rules;
      this.ruleOf = [];
    }
    await forEachNewNamespace(names, this.ruleOf.length, (nsId, name) => {
      let steps = 0;
      this.ruleOf[nsId] = rules.findIndex((rule) => {
        const match = countedMatch(rule.selector, name);
        steps += match.steps;
        return match.matched;
      });
      return steps;
    });
  }

  ruleFor(nsId: number): RetentionRule | undefined {
    const index = this.ruleOf[nsId] ?? NO_RULE;
    return index === NO_RULE ? undefined : this.rules[index];
  }
}

export class RetentionEnforcer {
  private readonly assignment = new RuleAssignment();

  constructor(
    private readonly store: EventStore,
    private readonly sizes: NamespaceSizes,
  ) {}

  /**
   * The cuts the rules call for now, per partition `leads` says this broker decides for: for each
   * namespace over its limits, the oldest offset that stays. Nothing is removed here: the cut is
   * proposed through the partition's Raft log and every replica applies it (cutOperations).
   */
  async decide(rules: readonly RetentionRule[], now: number, leads: (partition: number) => boolean): Promise<Map<number, TrimCut[]>> {
    const cuts = new Map<number, TrimCut[]>();
    if (rules.length === 0) return cuts;
    const dictionary = this.store.dictionary;
    await this.assignment.update(rules, dictionary);
    for (let nsId = 0; nsId < dictionary.size; nsId++) {
      const rule = this.assignment.ruleFor(nsId);
      const partition = dictionary.partitionOf(nsId);
      if (!rule || (this.sizes.events[nsId] ?? 0) === 0 || !this.mayExceed(nsId, rule) || !leads(partition)) continue;
      const keepFrom = await this.keepFrom(nsId, rule, now, partition);
      if (keepFrom === undefined) continue;
      let list = cuts.get(partition);
      if (!list) cuts.set(partition, (list = []));
      list.push({ namespace: dictionary.nameOf(nsId), keepFromOffset: keepFrom });
    }
    return cuts;
  }

  /** Whether the rule may remove anything: an age limit needs the index, counts and sizes are known in memory. */
  private mayExceed(nsId: number, rule: RetentionRule): boolean {
    if (rule.maxAgeMs !== undefined) return true;
    return (rule.maxEvents !== undefined && (this.sizes.events[nsId] ?? 0) > rule.maxEvents) || (rule.maxBytes !== undefined && (this.sizes.bytes[nsId] ?? 0) > rule.maxBytes);
  }

  /** The first offset of the namespace the rule keeps, or undefined when it keeps everything. */
  private async keepFrom(nsId: number, rule: RetentionRule, now: number, partition: number): Promise<number | undefined> {
    const held = { events: this.sizes.events[nsId] ?? 0, bytes: this.sizes.bytes[nsId] ?? 0 };
    let keep: number | undefined;
    let from = 0;
    for (let step = 0; step < MAX_DECIDE_STEPS; step++) {
      const entries = await this.store.readIndex(nsId, from, Number.MAX_SAFE_INTEGER, ENTRIES_PER_STEP);
      if (entries.length === 0) return keep;
      for (const entry of entries) {
        const drop = await this.eventsToDrop(entry, rule, now, partition, held);
        if (drop === 0) return keep;
        if (drop < entry.count) return entry.start + drop;
        held.events -= entry.count;
        held.bytes -= entry.sizeBytes;
        keep = entry.start + entry.count;
      }
      from = keep!;
    }
    return keep;
  }

  /** The store operations that remove, in `partition`, every event of each cut's namespace below its offset. */
  async cutOperations(partition: number, cuts: readonly TrimCut[]): Promise<{ operations: StoreOperation[]; deleted: number }> {
    const operations: StoreOperation[] = [];
    let deleted = 0;
    for (const cut of cuts) {
      const nsId = this.store.dictionary.lookup(cut.namespace);
      if (nsId === undefined) continue; // nothing of it stored here
      for (;;) {
        const entries = await this.store.readIndex(nsId, 0, cut.keepFromOffset, ENTRIES_PER_STEP);
        const below = entries.filter((entry) => entry.start < cut.keepFromOffset);
        if (below.length === 0) break;
        for (const entry of below) deleted += await this.dropEvents(nsId, partition, entry, Math.min(entry.count, cut.keepFromOffset - entry.start), operations);
        // The index is read again from the start: write what this step removes first.
        if (below.length < ENTRIES_PER_STEP || below.some((entry) => entry.start + entry.count > cut.keepFromOffset)) break;
        await this.store.write(operations.splice(0), false);
      }
    }
    return { operations, deleted };
  }

  /** How many leading events of this (oldest) group the rule removes, given what the namespace still holds. */
  private async eventsToDrop(entry: IndexEntry, rule: RetentionRule, now: number, partition: number, held: { events: number; bytes: number }): Promise<number> {
    if (rule.maxAgeMs !== undefined && entry.timestamp < now - rule.maxAgeMs) return entry.count;
    const excessEvents = rule.maxEvents === undefined ? 0 : held.events - rule.maxEvents;
    const excessBytes = rule.maxBytes === undefined ? 0 : held.bytes - rule.maxBytes;
    if (excessEvents <= 0 && excessBytes <= 0) return 0;
    if (excessEvents >= entry.count || excessBytes >= entry.sizeBytes) return entry.count;
    let drop = Math.max(0, excessEvents);
    if (excessBytes > 0) {
      const [value] = await this.store.getGroups(partition, [entry.start]);
      if (!value) return entry.count;
      let freed = GROUP_HEADER_BYTES;
      let needed = 0;
      forEachGroupEvent(value, (index, parentId, data) => {
        if (freed < excessBytes) {
          freed += groupEventBytes({ parentId, data });
          needed = index + 1;
        }
      });
      drop = Math.max(drop, needed);
    }
    return Math.min(drop, entry.count);
  }

  private async dropEvents(nsId: number, partition: number, entry: IndexEntry, drop: number, operations: StoreOperation[]): Promise<number> {
    operations.push({ type: 'del', key: keys.groupKey(partition, entry.start) }, { type: 'del', key: keys.namespaceIndexKey(nsId, entry.start) });
    let keptBytes = 0;
    if (drop < entry.count) {
      const [value] = await this.store.getGroups(partition, [entry.start]);
      if (value) {
        const kept = dropGroupPrefix(value, drop);
        const start = entry.start + drop;
        operations.push({ type: 'put', key: keys.groupKey(partition, start), value: kept });
        operations.push({ type: 'put', key: keys.namespaceIndexKey(nsId, start), value: keys.encodeIndexValue(entry.count - drop, kept.length, entry.timestamp) });
        keptBytes = kept.length;
      }
    }
    this.sizes.add(nsId, -drop, keptBytes - entry.sizeBytes);
    return drop;
  }
}
