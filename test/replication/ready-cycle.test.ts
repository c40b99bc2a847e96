import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ClassicLevel } from 'classic-level';
import { afterEach, describe, expect, it } from 'vitest';
import { FloError } from '../../src/common/errors.js';
import { EntryType, type Entry } from '../../src/broker/raft/messages.js';
import { RaftNode, type StateMachine } from '../../src/broker/replication/raft-node.js';
import { GroupTicker } from '../../src/broker/replication/ticker.js';
import { RaftStorage } from '../../src/broker/storage/raft-storage.js';
import { LocalTransport } from '../../src/broker/transport/local-transport.js';
import { until } from './cluster.js';

type Db = ClassicLevel<Buffer, Buffer>;

interface Write {
  readonly sync: boolean;
  readonly keys: string[];
}

/** One-voter groups on one shared RaftStorage whose writes are recorded and can be held back or failed. */
class Broker {
  readonly writes: Write[] = [];
  readonly nodes: RaftNode[] = [];
  readonly failures: Error[] = [];
  private gate: Promise<void> | null = null;
  private open: () => void = () => undefined;
  failNext = false;
  inFlight = 0;
  storage!: RaftStorage;
  private readonly ticker = new GroupTicker(5);

  private constructor(private readonly db: Db, readonly dir: string) {}

  static async start(groups: number, machine: (groupId: number, storage: RaftStorage) => StateMachine): Promise<Broker> {
    const dir = await mkdtemp(path.join(tmpdir(), 'flo-cycle-'));
    const db: Db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open();
    const broker = new Broker(db, dir);
    broker.storage = RaftStorage.shared(db, (ops, sync) => broker.write(ops, sync));
    const transport = new LocalTransport(1);
    for (let groupId = 1; groupId <= groups; groupId++) {
      broker.nodes.push(await RaftNode.start({
        groupId, nodeId: 1, storage: broker.storage, transport, ticker: broker.ticker, founders: [1], seed: groupId,
        electionTicks: 2, heartbeatTicks: 1, stateMachine: machine(groupId, broker.storage),
        onFailure: (error) => broker.failures.push(error),
      }));
    }
    await until(() => broker.nodes.every((node) => {
      const status = node.status();
      return node.isLeader && status.appliedIndex === status.lastIndex && status.persistedIndex === status.lastIndex;
    }));
    // Let the last commit-index writes of the election land.
    await new Promise((resolve) => setTimeout(resolve, 20));
    return broker;
  }

  /** Holds every write from now on until release(). */
  hold(): void {
    const previous = this.open;
    this.gate = new Promise((resolve) => (this.open = () => { previous(); resolve(); }));
  }

  /** Lets the writes held so far go; with `keepHolding`, writes issued from now on are still held. */
  release(keepHolding = false): void {
    const open = this.open;
    this.open = () => undefined;
    if (keepHolding) this.hold();
    else this.gate = null;
    open();
  }

  private async write(ops: Array<{ type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer }>, sync: boolean): Promise<void> {
    this.writes.push({ sync, keys: ops.map((op) => op.key.toString('latin1')) });
    if (this.failNext) throw new FloError('FLO_ERR_STORAGE_FAILED', 'disk gone');
    this.inFlight++;
    try {
      if (this.gate !== null) await this.gate;
      await this.db.batch(ops, { sync });
    } finally {
      this.inFlight--;
    }
  }

  async close(): Promise<void> {
    this.release();
    for (const node of this.nodes) await node.close();
    this.ticker.stop();
    await this.db.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const idle = (): StateMachine => ({ apply: () => undefined });
/** Entries' keys in RaftStorage start with 'e' then the group id (u32). */
const hardStateKey = (groupId: number): string => {
  const key = Buffer.alloc(5);
  key.writeUInt8(0x68, 0);
  key.writeUInt32BE(groupId, 1);
  return key.toString('latin1');
};
const entryKey = (groupId: number, index: number): string => {
  const key = Buffer.alloc(13);
  key.writeUInt8(0x65, 0);
  key.writeUInt32BE(groupId, 1);
  key.writeUInt32BE(index, 9);
  return key.toString('latin1');
};
const groupsIn = (write: Write): number[] => [...new Set(write.keys.filter((key) => key[0] === 'e').map((key) => Buffer.from(key, 'latin1').readUInt32BE(1)))].sort();
let broker: Broker | null = null;
afterEach(async () => {
  await broker?.close();
  broker = null;
});

describe('ReadyCycle: one write per cycle for every group of a storage', () => {
  it('a group whose write is in flight joins the next cycle with every group that became ready meanwhile: one batch for all', async () => {
    broker = await Broker.start(3, idle);
    const [g1, g2, g3] = broker.nodes as [RaftNode, RaftNode, RaftNode];
    broker.hold();
    const from = broker.writes.length;
    const first = g1.propose(text('a'));
    await until(() => broker!.writes.length > from);
    // While g1's write is held, g2 and g3 get proposals in different turns.
    const second = g2.propose(text('b'));
    await new Promise((resolve) => setTimeout(resolve, 5));
    const third = g3.propose(text('c'));
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(broker.writes.length - from).toBe(1);
    broker.release();
    await Promise.all([first, second, third]);
    const writes = broker.writes.slice(from);
    expect(groupsIn(writes[0]!)).toEqual([1]);
    // g1's commit and the entries of g2 and g3 went out together in the next write, one fsync.
    expect(groupsIn(writes[1]!)).toEqual([2, 3]);
    expect(writes[1]!.keys).toContain(hardStateKey(1));
    expect(writes[1]!.sync).toBe(true);
  });

  it('applies committed entries while the next write is in flight, after handing that write to the store', async () => {
    const appliedAt: Array<{ value: string; writesIssued: number; writesInFlight: number }> = [];
    broker = await Broker.start(2, () => ({
      apply(entries: readonly Entry[]): void {
        for (const entry of entries) {
          if (entry.type !== EntryType.Normal || entry.data.length === 0) continue;
          appliedAt.push({ value: new TextDecoder().decode(entry.data), writesIssued: broker!.writes.length, writesInFlight: broker!.inFlight });
        }
      },
    }));
    const [g1, g2] = broker.nodes as [RaftNode, RaftNode];
    broker.hold();
    const from = broker.writes.length;
    const first = Promise.all([g1.propose(text('x1')), g2.propose(text('y1'))]);
    await until(() => broker!.writes.length > from);
    // Proposed while the first write is held: the next cycle writes x2 and y2, and applies x1 and y1 meanwhile.
    const second = Promise.all([g1.propose(text('x2')), g2.propose(text('y2'))]);
    await new Promise((resolve) => setTimeout(resolve, 5));
    broker.hold();
    broker.release(true);
    const [x1] = await first;
    await until(() => appliedAt.length >= 2);
    const writeOfX2 = broker.writes.findIndex((write, i) => i > from && groupsIn(write).includes(1));
    expect(writeOfX2).toBeGreaterThan(0);
    expect(broker.writes[writeOfX2]!.keys).toContain(entryKey(2, g2.status().lastIndex));
    for (const value of ['x1', 'y1']) {
      const at = appliedAt.find((applied) => applied.value === value)!;
      expect(at.writesIssued).toBe(writeOfX2 + 1); // handed to the store before the apply ran
      expect(at.writesInFlight).toBe(1); // and not done yet
    }
    broker.release();
    await second;
    expect(x1).toBeGreaterThan(0);
  });

  it('a failed write stops every group of the storage, not only those in the batch', async () => {
    broker = await Broker.start(3, idle);
    const [g1, g2, g3] = broker.nodes as [RaftNode, RaftNode, RaftNode];
    broker.failNext = true;
    await expect(g1.propose(text('lost'))).rejects.toMatchObject({ code: 'FLO_ERR_STORAGE' });
    expect(broker.failures).toHaveLength(3);
    const writes = broker.writes.length;
    await expect(g2.propose(text('after'))).rejects.toThrow(/disk gone/);
    await expect(g3.readIndex()).rejects.toThrow(/disk gone/);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(broker.writes.length).toBe(writes);
  });

  it('a group whose apply is slow holds back only itself: the other groups go on committing', async () => {
    let releaseApply: () => void = () => undefined;
    const slow = new Promise<void>((resolve) => (releaseApply = resolve));
    const applied: string[] = [];
    broker = await Broker.start(2, (groupId) => ({
      apply(entries: readonly Entry[]): Promise<void> | undefined {
        const values = entries.filter((entry) => entry.type === EntryType.Normal && entry.data.length > 0).map((entry) => new TextDecoder().decode(entry.data));
        if (values.length === 0) return undefined;
        if (groupId === 1) return slow.then(() => void applied.push(...values));
        applied.push(...values);
        return undefined;
      },
    }));
    const [g1, g2] = broker.nodes as [RaftNode, RaftNode];
    await g1.propose(text('slow'));
    // g1 is stuck applying; g2 commits and applies several entries meanwhile.
    await until(() => g1.status().commitIndex > g1.status().appliedIndex);
    for (let i = 0; i < 5; i++) await g2.propose(text(`fast-${i}`));
    await until(() => applied.includes('fast-4'));
    expect(applied).not.toContain('slow');
    releaseApply();
    await until(() => applied.includes('slow'));
    expect(g1.status().appliedIndex).toBe(g1.status().commitIndex);
  });
});
