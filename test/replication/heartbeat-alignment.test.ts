// The groups a broker leads heartbeat in the same tick of its shared ticker, so the
// transport sends each peer one write per heartbeat round instead of one per group
// (an idle cluster with 64 partitions spent most of its CPU on those writes).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MessageType, type Message, type NodeId } from '../../src/broker/raft/messages.js';
import { RaftNode } from '../../src/broker/replication/raft-node.js';
import { GroupTicker } from '../../src/broker/replication/ticker.js';
import { RaftStorage } from '../../src/broker/storage/raft-storage.js';
import type { MessageHandler, RaftTransport } from '../../src/broker/transport/tcp-transport.js';
import { RecordingMachine, until } from './cluster.js';

const HEARTBEAT_TICKS = 5;

/** An in-memory network: messages arrive on the next turn of the event loop. */
class Hub {
  readonly handlers = new Map<string, MessageHandler>();
  transport(nodeId: NodeId, onSend: (groupId: number, message: Message) => void): RaftTransport {
    return {
      nodeId,
      send: (groupId, messages) => {
        for (const message of messages) {
          onSend(groupId, message);
          setImmediate(() => this.handlers.get(`${message.to}/${groupId}`)?.(message));
        }
      },
      register: (groupId, handler) => void this.handlers.set(`${nodeId}/${groupId}`, handler),
      unregister: (groupId) => void this.handlers.delete(`${nodeId}/${groupId}`),
    };
  }
}

describe('heartbeats of many groups', () => {
  it('are sent by each broker in one tick per round, whichever tick each group won its election in', async () => {
    const ids = [1, 2, 3];
    const groups = [1, 2, 3, 4, 5, 6, 7, 8];
    const dirs = await Promise.all(ids.map((id) => mkdtemp(path.join(tmpdir(), `flo-beat-${id}-`))));
    const storages = await Promise.all(dirs.map((dataDir) => RaftStorage.open({ dataDir })));
    // Tickers driven by hand: tick n of every broker happens together.
    const tickers = ids.map(() => new GroupTicker(10, { setInterval: () => 'manual', clearInterval: () => undefined }));
    const tickAll = (ticker: GroupTicker): void => (ticker as unknown as { tickAll(): void }).tickAll();
    const hub = new Hub();
    /** Per broker: the ticker's tick at which each heartbeat was sent. */
    const beats = ids.map(() => [] as number[]);
    const nodes: RaftNode[] = [];
    try {
      for (const group of groups) {
        for (let i = 0; i < ids.length; i++) {
          nodes.push(await RaftNode.start({
            groupId: group, nodeId: ids[i]!, storage: storages[i]!, ticker: tickers[i]!, stateMachine: new RecordingMachine(),
            transport: hub.transport(ids[i]!, (_group, message) => {
              if (message.type === MessageType.Heartbeat) beats[i]!.push(tickers[i]!.ticks);
            }),
            founders: ids, seed: group * 31 + i, electionTicks: 20, heartbeatTicks: HEARTBEAT_TICKS,
          }));
        }
      }
      const step = async (ticks: number): Promise<void> => {
        for (let n = 0; n < ticks; n++) {
          for (const ticker of tickers) tickAll(ticker);
          await new Promise((resolve) => setTimeout(resolve, 3));
        }
      };
      for (let n = 0; n < 400 && !groups.every((_, g) => nodes.slice(g * 3, g * 3 + 3).some((node) => node.isLeader)); n++) await step(1);
      await until(() => groups.every((_, g) => nodes.slice(g * 3, g * 3 + 3).some((node) => node.isLeader)), 1);
      for (const b of beats) b.length = 0;
      await step(20 * HEARTBEAT_TICKS);

      for (let i = 0; i < ids.length; i++) {
        const led = nodes.filter((node, k) => k % 3 === i && node.isLeader).length;
        if (led === 0) continue;
        const ticks = new Set(beats[i]);
        const phases = new Set(beats[i]!.map((tick) => tick % HEARTBEAT_TICKS));
        // One round every HEARTBEAT_TICKS ticks, all groups in it: one phase, however many groups it leads.
        expect({ broker: ids[i], led, phases: [...phases] }).toEqual({ broker: ids[i], led, phases: [[...phases][0]] });
        expect(ticks.size).toBeLessThanOrEqual(20 + 1);
        expect(beats[i]!.length).toBeGreaterThanOrEqual(led * 2 * 19);
      }
    } finally {
      for (const node of nodes) await node.close();
      for (const storage of storages) await storage.close();
      for (const dir of dirs) await rm(dir, { recursive: true, force: true });
    }
  });
});
