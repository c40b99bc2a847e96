// Real RaftNodes for tests: each member has its own LevelDB in a temp dir and its
// own TCP transport on 127.0.0.1; members can be stopped and restarted from disk.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EntryType, type Entry, type NodeId } from '../../src/broker/raft/messages.js';
import { RaftNode, type StateMachine } from '../../src/broker/replication/raft-node.js';
import { RaftStorage } from '../../src/broker/storage/raft-storage.js';
import { TcpTransport } from '../../src/broker/transport/tcp-transport.js';

export class RecordingMachine implements StateMachine {
  values: string[] = [];
  lastIndex = 0;
  restoredAt: number[] = [];
  /** Indexes applied before this member's own log held them durably (a crash then leaves the state ahead of the log). */
  appliedAheadOfLog: number[] = [];

  constructor(private readonly durableIndex: () => number = () => Number.MAX_SAFE_INTEGER) {}

  apply(entries: readonly Entry[]): void {
    for (const e of entries) {
      if (e.index > this.durableIndex()) this.appliedAheadOfLog.push(e.index);
      this.lastIndex = e.index;
      if (e.type === EntryType.Normal && e.data.byteLength > 0) this.values.push(new TextDecoder().decode(e.data));
    }
  }

  snapshot(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify(this.values));
  }

  restore(data: Uint8Array, index: number): void {
    this.values = JSON.parse(new TextDecoder().decode(data)) as string[];
    this.lastIndex = index;
    this.restoredAt.push(index);
  }
}

export interface Member {
  id: NodeId;
  dir: string;
  port: number;
  node: RaftNode | null;
  storage: RaftStorage | null;
  transport: TcpTransport | null;
  machine: RecordingMachine;
}

export async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export class TestRaftCluster {
  readonly members = new Map<NodeId, Member>();
  readonly groupId = 7;

  constructor(private readonly founders: readonly NodeId[], private readonly snapshotEvery = 0) {}

  async start(): Promise<void> {
    for (const id of this.founders) await this.add(id, true);
    for (const id of this.founders) await this.startMember(id);
  }

  /** Creates a member's directory and transport (listening) without starting its RaftNode. */
  async add(id: NodeId, founder: boolean): Promise<Member> {
    const dir = await mkdtemp(path.join(tmpdir(), `flo-raft-${id}-`));
    const transport = await TcpTransport.listen({ nodeId: id });
    const member: Member = { id, dir, port: transport.port, node: null, storage: null, transport, machine: new RecordingMachine() };
    this.members.set(id, member);
    for (const other of this.members.values()) {
      if (other.id === id) continue;
      other.transport?.addPeer(id, { host: '127.0.0.1', port: member.port });
      transport.addPeer(other.id, { host: '127.0.0.1', port: other.port });
    }
    if (!founder) await this.startMember(id, false);
    return member;
  }

  async startMember(id: NodeId, founder = true): Promise<void> {
    const m = this.member(id);
    if (m.transport === null) {
      m.transport = await TcpTransport.listen({ nodeId: id, port: m.port });
      for (const other of this.members.values()) if (other.id !== id) m.transport.addPeer(other.id, { host: '127.0.0.1', port: other.port });
    }
    const storage = m.storage = await RaftStorage.open({ dataDir: m.dir });
    // The end of this member's log as its last completed write left it (an append cuts what follows it).
    let durable = (await storage.load(this.groupId)).lastIndex();
    const persist = storage.persist.bind(storage);
    storage.persist = async (groupId, ready, sync) => {
      await persist(groupId, ready, sync);
      if (groupId !== this.groupId) return;
      if (ready.snapshot !== null) durable = Math.max(durable, ready.snapshot.metadata.index);
      const last = ready.entries.at(-1);
      if (last !== undefined) durable = last.index;
    };
    const bootstrap = storage.bootstrap.bind(storage);
    storage.bootstrap = async (groupId, founders) => {
      const done = await bootstrap(groupId, founders);
      if (groupId === this.groupId) durable = (await storage.load(groupId)).lastIndex();
      return done;
    };
    m.machine = new RecordingMachine(() => durable);
    m.node = await RaftNode.start({
      groupId: this.groupId, nodeId: id, storage: m.storage, transport: m.transport, stateMachine: m.machine,
      founders: founder ? this.founders : undefined, snapshotEvery: this.snapshotEvery, snapshotTrailingEntries: 2, seed: id,
      electionTicks: 10, heartbeatTicks: 1, // fast elections keep the tests short
    });
  }

  async stopMember(id: NodeId): Promise<void> {
    const m = this.member(id);
    await m.node?.close();
    await m.storage?.close();
    await m.transport?.close();
    m.node = null;
    m.storage = null;
    m.transport = null;
  }

  member(id: NodeId): Member {
    const m = this.members.get(id);
    if (m === undefined) throw new Error(`no member ${id}`);
    return m;
  }

  async leader(timeoutMs = 10_000): Promise<Member> {
    let found: Member | undefined;
    await until(() => {
      found = [...this.members.values()].find((m) => m.node?.isLeader === true);
      return found !== undefined;
    }, timeoutMs);
    return found as Member;
  }

  async close(): Promise<void> {
    for (const id of this.members.keys()) await this.stopMember(id);
    for (const m of this.members.values()) await rm(m.dir, { recursive: true, force: true });
  }
}
