// Maps each namespace ever written to a small numeric id (and its partition), so
// index keys stay short and a glob is matched once per namespace, not per event.
// Ids are assigned in memory at append time and persisted with the first commit
// that uses them; the dictionary is loaded whole at start-up.
import { partitionOf } from '../../common/namespace.js';

export interface NewNamespace {
  readonly nsId: number;
  readonly namespace: string;
}

export class NamespaceDictionary {
  private readonly ids = new Map<string, number>();
  private readonly names: string[] = [];
  private readonly partitionOfId: number[] = [];
  private unpersisted: NewNamespace[] = [];

  constructor(private readonly partitions: number) {}

  get size(): number {
    return this.names.length;
  }

  /** Restores an entry read from storage; ids are dense, so entries arrive in id order. */
  load(nsId: number, namespace: string): void {
    this.names[nsId] = namespace;
    this.ids.set(namespace, nsId);
    this.partitionOfId[nsId] = partitionOf(namespace, this.partitions);
  }

  idOf(namespace: string): number {
    const known = this.ids.get(namespace);
    if (known !== undefined) return known;
    const nsId = this.names.length;
    this.load(nsId, namespace);
    this.unpersisted.push({ nsId, namespace });
    return nsId;
  }

  lookup(namespace: string): number | undefined {
    return this.ids.get(namespace);
  }

  nameOf(nsId: number): string {
    return this.names[nsId]!;
  }

  partitionOf(nsId: number): number {
    return this.partitionOfId[nsId]!;
  }

  /** The partition a namespace maps to, known to the dictionary or not. */
  partitionFor(namespace: string): number {
    return partitionOf(namespace, this.partitions);
  }

  /** Entries not yet written; the committer writes them in its next batch. */
  takeUnpersisted(): NewNamespace[] {
    const taken = this.unpersisted;
    this.unpersisted = [];
    return taken;
  }

  /** Puts back entries whose write failed, so the next commit persists them. */
  restoreUnpersisted(entries: readonly NewNamespace[]): void {
    this.unpersisted.unshift(...entries);
  }
}
