// The simulator's etcd: objects keyed by type, namespace and name; one monotonic
// resourceVersion counter across all types (as etcd's revision); a bounded history of
// changes so watches can resume from a resourceVersion, and "410 Gone" once it has been
// compacted away. Watchers get events synchronously in commit order.

import { clone, type KObject, type ResourceType } from './types.js';
import { typeKey } from './types.js';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ChangeEvent {
  readonly revision: number;
  readonly typeKey: string;
  readonly type: EventType;
  readonly object: KObject;
  readonly previous?: KObject;
}

export interface Watcher {
  readonly typeKey: string;
  deliver(event: ChangeEvent): void;
}

/** Changes kept for watch resume by default (a real server keeps ~5 minutes of etcd history). */
export const DEFAULT_HISTORY_EVENTS = 5000;

function objectKey(key: string, namespace: string | undefined, name: string): string {
  return `${key}|${namespace ?? ''}|${name}`;
}

export class Store {
  private revision = 1;
  private readonly objects = new Map<string, KObject>();
  private history: ChangeEvent[] = [];
  /** Oldest revision a watch may still resume from. */
  private compactedThrough = 0;
  private readonly watchers = new Set<Watcher>();

  constructor(private readonly historyLimit = DEFAULT_HISTORY_EVENTS) {}

  currentRevision(): number {
    return this.revision;
  }

  get(type: ResourceType, namespace: string | undefined, name: string): KObject | undefined {
    const found = this.objects.get(objectKey(typeKey(type), type.namespaced ? namespace : undefined, name));
    return found === undefined ? undefined : clone(found);
  }

  list(type: ResourceType, namespace?: string): KObject[] {
    const prefix = `${typeKey(type)}|`;
    const out: KObject[] = [];
    for (const [key, object] of this.objects) {
      if (!key.startsWith(prefix)) continue;
      if (namespace !== undefined && type.namespaced && object.metadata.namespace !== namespace) continue;
      out.push(clone(object));
    }
    return out.sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
  }

  /** Stores an object under a new resourceVersion and notifies watchers. */
  write(type: ResourceType, object: KObject, eventType: 'ADDED' | 'MODIFIED'): KObject {
    this.revision += 1;
    const stored = clone(object);
    stored.metadata.resourceVersion = String(this.revision);
    const key = objectKey(typeKey(type), type.namespaced ? stored.metadata.namespace : undefined, stored.metadata.name ?? '');
    const previous = this.objects.get(key);
    this.objects.set(key, stored);
    this.record({ revision: this.revision, typeKey: typeKey(type), type: eventType, object: stored, ...(previous ? { previous } : {}) });
    return clone(stored);
  }

  remove(type: ResourceType, object: KObject): KObject {
    this.revision += 1;
    const key = objectKey(typeKey(type), type.namespaced ? object.metadata.namespace : undefined, object.metadata.name ?? '');
    const previous = this.objects.get(key);
    this.objects.delete(key);
    const removed = clone(previous ?? object);
    removed.metadata.resourceVersion = String(this.revision);
    this.record({ revision: this.revision, typeKey: typeKey(type), type: 'DELETED', object: removed, ...(previous ? { previous } : {}) });
    return clone(removed);
  }

  private record(event: ChangeEvent): void {
    this.history.push(event);
    if (this.history.length > this.historyLimit) {
      const dropped = this.history.splice(0, this.history.length - this.historyLimit);
      this.compactedThrough = dropped[dropped.length - 1]!.revision;
    }
    for (const watcher of this.watchers) if (watcher.typeKey === event.typeKey) watcher.deliver(event);
  }

  /** Forgets all history up to now: every watch from an older resourceVersion gets 410. */
  compact(): void {
    this.compactedThrough = this.revision;
    this.history = [];
  }

  /** Events after `revision`, or undefined when that revision has been compacted. */
  since(key: string, revision: number): ChangeEvent[] | undefined {
    if (revision < this.compactedThrough) return undefined;
    return this.history.filter((event) => event.revision > revision && event.typeKey === key);
  }

  addWatcher(watcher: Watcher): () => void {
    this.watchers.add(watcher);
    return () => this.watchers.delete(watcher);
  }

  watcherCount(): number {
    return this.watchers.size;
  }
}
