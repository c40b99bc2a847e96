// Reads a page of groups for a namespace selector from a cursor, up to an end
// offset per partition. Three paths, cheapest first: the read cache (head of the
// log), the namespace index (a selective glob reads only its own groups), and a
// partition scan (a glob matching most of a partition). The returned cursor
// moves past everything examined, matched or not, so a reader never rescans.
import { MAX_INDEXED_NAMESPACES_PER_READ } from '../../common/bounds.js';
import type { WireRecord } from '../../common/frames.js';
import type { NamespaceSelector } from '../../common/namespace.js';
import { readGroupHeader } from '../../common/wire.js';
import type { EventStore, IndexEntry, StoredGroup } from '../storage/event-store.js';
import type { ReadCache } from './read-cache.js';
import { SelectorCache } from './selector-cache.js';

const INDEX_ENTRIES_PER_NAMESPACE = 64;

export interface PageRequest {
  readonly selector: NamespaceSelector;
  /** Next offset to read per partition; not modified. */
  readonly cursor: readonly number[];
  /** Exclusive end per partition (the committed head, or a snapshot of it). */
  readonly end: readonly number[];
  readonly maxBytes: number;
  readonly maxEvents: number;
}

export interface Page {
  readonly records: WireRecord[];
  readonly cursor: number[];
  readonly events: number;
}

/** Told how many bytes of groups each read took from where (for metrics and the W5 benchmark). */
export type ReadCounter = (source: 'cache' | 'storage', bytes: number) => void;

export class Reader {
  /** Which namespaces each selector matches, matched once per namespace (selector-cache.ts). */
  private readonly selectors: SelectorCache;
  private rotation = 0;

  constructor(
    private readonly store: EventStore,
    private readonly cache: ReadCache,
    private readonly countRead: ReadCounter,
  ) {
    this.selectors = new SelectorCache(store.dictionary, store.meta.partitions);
  }

  async readPage(request: PageRequest): Promise<Page> {
    const cursor = [...request.cursor];
    const records: WireRecord[] = [];
    const budget = { bytes: request.maxBytes, events: request.maxEvents };
    const partitions = cursor.length;
    const first = this.rotation++ % partitions;
    for (let i = 0; i < partitions && budget.bytes > 0 && budget.events > 0; i++) {
      const partition = (first + i) % partitions;
      if (cursor[partition]! >= request.end[partition]!) continue;
      cursor[partition] = await this.readPartition(request, partition, cursor[partition]!, records, budget);
    }
    return { records, cursor, events: request.maxEvents - budget.events };
  }

  private async readPartition(request: PageRequest, partition: number, from: number, out: WireRecord[], budget: Budget): Promise<number> {
    const end = request.end[partition]!;
    const wanted = request.selector.all ? undefined : (await this.selectors.select(request.selector)).inPartition(partition);
    if (wanted && wanted.size === 0) return end;
    const cached = this.cache.from(partition, from);
    if (cached) return this.take(cached, from, end, wanted, out, budget, 'cache');
    if (wanted && wanted.size <= MAX_INDEXED_NAMESPACES_PER_READ) return this.readByIndex(partition, [...wanted], from, end, out, budget);
    const groups = await this.store.readGroups(partition, from, budget.bytes, end);
    const next = this.take(groups, from, end, wanted, out, budget, 'storage');
    return groups.length === 0 ? end : next;
  }

  /** Appends groups in offset order within the budget; returns the next offset to read. */
  private take(groups: readonly StoredGroup[], from: number, end: number, wanted: Set<number> | undefined, out: WireRecord[], budget: Budget, source: 'cache' | 'storage'): number {
    let next = from;
    for (const group of groups) {
      if (group.start >= end || budget.bytes <= 0 || budget.events <= 0) return Math.max(next, Math.min(group.start, end));
      if (source === 'storage') this.countRead('storage', group.value.length);
      // A group retention trimmed while this read ran can show up twice (old and new key): never deliver an offset twice.
      if (group.start + group.count <= next) continue;
      const readFrom = next;
      next = group.start + group.count;
      if (wanted && !wanted.has(group.nsId)) continue;
      if (source === 'cache') this.countRead('cache', group.value.length);
      out.push(toRecord(this.store, group, readFrom));
      budget.bytes -= group.value.length;
      budget.events -= group.count - Math.max(0, readFrom - group.start);
    }
    return source === 'cache' ? end : next;
  }

  private async readByIndex(partition: number, nsIds: number[], from: number, end: number, out: WireRecord[], budget: Budget): Promise<number> {
    let bound = end;
    const entries: IndexEntry[] = [];
    for (const nsId of nsIds) {
      const found = await this.store.readIndex(nsId, from, end, INDEX_ENTRIES_PER_NAMESPACE);
      if (found.length >= INDEX_ENTRIES_PER_NAMESPACE) {
        const last = found[found.length - 1]!;
        bound = Math.min(bound, last.start + last.count);
      }
      entries.push(...found);
    }
    const chosen: IndexEntry[] = [];
    let bytes = 0;
    let events = 0;
    entries.sort((a, b) => a.start - b.start);
    for (const entry of entries) {
      if (entry.start >= bound) break;
      if (bytes >= budget.bytes || events >= budget.events) {
        bound = entry.start;
        break;
      }
      chosen.push(entry);
      bytes += entry.sizeBytes;
      events += entry.count;
    }
    const values = await this.store.getGroups(partition, chosen.map((entry) => entry.start));
    const groups: StoredGroup[] = [];
    for (let i = 0; i < values.length; i++) {
      const value = values[i];
      // Retention rewrote or removed this group since the index was read: stop before it and let the
      // next read look it up again, rather than skip events it may still hold.
      if (!value) {
        bound = Math.max(from, chosen[i]!.start);
        break;
      }
      // The group's own header is covered by its checksum; the index entry is not, so it must agree.
      const header = readGroupHeader(value);
      if (header.count !== chosen[i]!.count) throw this.store.damaged(`the namespace index says partition ${partition} offset ${chosen[i]!.start} holds ${chosen[i]!.count} events, the group holds ${header.count}`);
      groups.push({ partition, start: chosen[i]!.start, count: header.count, timestamp: header.timestamp, nsId: header.nsId, value });
    }
    this.take(groups, from, bound, undefined, out, budget, 'storage');
    return bound;
  }
}

interface Budget {
  bytes: number;
  events: number;
}

function toRecord(store: EventStore, group: StoredGroup, from: number): WireRecord {
  return {
    partition: group.partition,
    start: group.start,
    skip: Math.max(0, from - group.start),
    namespace: store.dictionary.nameOf(group.nsId),
    group: group.value,
  };
}
