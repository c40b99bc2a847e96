// A synchronous in-memory cluster for unit tests: every Ready is persisted to a
// MemoryStorage, its messages delivered in order, its entries applied. Links can
// be cut per direction. Deterministic: one seeded random source per node.

import { RaftCore, type RaftConfig } from '../../src/broker/raft/core.js';
import { MemoryStorage, bootstrapState } from '../../src/broker/raft/storage.js';
import { SeededRandom } from '../../src/broker/raft/random.js';
import { EntryType, Role, type Entry, type Message, type NodeId, type Ready, type ReadState } from '../../src/broker/raft/messages.js';

export interface TestNode {
  core: RaftCore;
  storage: MemoryStorage;
  applied: Entry[];
  readStates: ReadState[];
  readies: Ready[];
}

export type ConfigOverrides = Partial<Omit<RaftConfig, 'id' | 'random'>>;

export class TestCluster {
  readonly nodes = new Map<NodeId, TestNode>();
  private readonly cut = new Set<string>();
  /** Messages dropped by a filter, kept for inspection. */
  readonly dropped: Message[] = [];
  /** Rewrites or (returning null) drops a message in flight. */
  transform: ((m: Message) => Message | null) | null = null;
  readonly sent: Message[] = [];

  constructor(ids: readonly NodeId[], private readonly overrides: ConfigOverrides = {}, seed = 1) {
    const boot = bootstrapState(ids);
    for (const id of ids) {
      const storage = new MemoryStorage();
      storage.restore({ metadata: { index: 0, term: 0, conf: { voters: [], learners: [] } }, data: new Uint8Array(0) }, boot.entries, boot.hardState);
      this.addNode(id, storage, seed);
    }
  }

  addNode(id: NodeId, storage = new MemoryStorage(), seed = 1): TestNode {
    const core = new RaftCore({ id, random: new SeededRandom(seed * 1000 + id), ...this.overrides }, storage);
    const node: TestNode = { core, storage, applied: [], readStates: [], readies: [] };
    this.nodes.set(id, node);
    return node;
  }

  node(id: NodeId): TestNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  core(id: NodeId): RaftCore {
    return this.node(id).core;
  }

  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}>${other}`);
      this.cut.add(`${other}>${id}`);
    }
  }

  cutLink(from: NodeId, to: NodeId): void {
    this.cut.add(`${from}>${to}`);
  }

  heal(): void {
    this.cut.clear();
  }

  /** Handles every Ready and delivers every message until the cluster is quiet. */
  settle(maxRounds = 1000): void {
    for (let round = 0; round < maxRounds; round++) {
      const inbox: Message[] = [];
      for (const node of this.nodes.values()) {
        if (!node.core.hasReady()) continue;
        const rd = node.core.ready();
        node.readies.push(rd);
        node.storage.applyReady(rd);
        for (const sent of [...rd.messagesBeforePersist, ...rd.messages]) {
          this.sent.push(sent);
          const m = this.transform === null ? sent : this.transform(sent);
          if (m === null || this.cut.has(`${m.from}>${m.to}`) || !this.nodes.has(m.to)) {
            this.dropped.push(sent);
          } else {
            inbox.push(m);
          }
        }
        for (const entry of rd.committedEntries) node.applied.push(entry);
        for (const rs of rd.readStates) node.readStates.push(rs);
        node.core.advance();
      }
      if (inbox.length === 0 && ![...this.nodes.values()].some((n) => n.core.hasReady())) return;
      for (const m of inbox) this.node(m.to).core.step(m);
    }
    throw new Error('cluster did not settle');
  }

  tick(id: NodeId, times = 1): void {
    for (let i = 0; i < times; i++) {
      this.core(id).tick();
      this.settle();
    }
  }

  tickAll(times = 1): void {
    for (let i = 0; i < times; i++) {
      for (const node of this.nodes.values()) node.core.tick();
      this.settle();
    }
  }

  /** Makes `id` campaign now by ticking it past its election timeout. */
  elect(id: NodeId): void {
    const core = this.core(id);
    for (let i = 0; i < 100 && core.role !== Role.Leader; i++) this.tick(id);
    if (core.role !== Role.Leader) throw new Error(`node ${id} could not become leader`);
  }

  leaders(): NodeId[] {
    return [...this.nodes.values()].filter((n) => n.core.role === Role.Leader).map((n) => n.core.id);
  }

  propose(id: NodeId, text: string): number {
    const result = this.core(id).propose([new TextEncoder().encode(text)]);
    if (!result.ok) throw new Error(`proposal refused: ${result.reason}`);
    this.settle();
    return result.lastIndex;
  }

  appliedTexts(id: NodeId): string[] {
    return this.node(id)
      .applied.filter((e) => e.type === EntryType.Normal && e.data.byteLength > 0)
      .map((e) => new TextDecoder().decode(e.data));
  }
}

export function text(value: string): Uint8Array {
  return new TextEncoder().encode(value);
}
