// The Raft safety properties (Figure 3 of the paper), checked as the simulation
// runs: election safety, log matching, leader completeness and state machine
// safety (the same entry at every index, the same partition state in every snapshot
// at an index, each op given one offset only). Any breach throws SimViolation,
// which ends the run with the seed printed.

import type { RaftCore } from '../../../src/broker/raft/core.js';
import { crc32 } from 'node:zlib';
import type { Entry, NodeId } from '../../../src/broker/raft/messages.js';
import { entryKey } from './node.js';

export class SimViolation extends Error {
  override name = 'SimViolation';
}

interface Applied {
  readonly term: number;
  readonly key: string;
}

export class SafetyChecker {
  private readonly leaderOfTerm = new Map<number, NodeId>();
  /** The one history every member must apply: index -> entry identity (state machine safety). */
  readonly history = new Map<number, Applied>();
  /** Client op id -> its event's position in the partition (offset + 1, as reads count events). */
  readonly opPosition = new Map<number, number>();
  /** Raft index -> checksum of the partition state there, from every snapshot taken or installed. */
  private readonly machineAt = new Map<number, { node: NodeId; crc: number }>();

  /** Election safety: at most one leader per term. Leader completeness: it holds every applied entry. */
  onLeader(id: NodeId, core: RaftCore): void {
    const other = this.leaderOfTerm.get(core.term);
    if (other !== undefined && other !== id) {
      throw new SimViolation(`election safety: nodes ${other} and ${id} both lead term ${core.term}`);
    }
    this.leaderOfTerm.set(core.term, id);
    const first = core.log.firstIndex();
    for (const [index, applied] of this.history) {
      if (index < first) continue;
      const term = core.log.term(index);
      if (term !== applied.term) {
        throw new SimViolation(`leader completeness: leader ${id} of term ${core.term} has term ${term} at committed index ${index} (term ${applied.term})`);
      }
    }
  }

  /** State machine safety: no two members apply different entries at one index. */
  onApply(id: NodeId, entry: Entry): void {
    const key = entryKey(entry);
    const known = this.history.get(entry.index);
    if (known === undefined) {
      this.history.set(entry.index, { term: entry.term, key });
    } else if (known.key !== key || known.term !== entry.term) {
      throw new SimViolation(`state machine safety: node ${id} applied ${key}@${entry.term} at index ${entry.index}, others ${known.key}@${known.term}`);
    }
  }

  /** Each op gets one offset, the same on every member (a retry the machine does not recognise is stored twice). */
  onAppended(id: NodeId, opId: number, offset: number): void {
    const known = this.opPosition.get(opId);
    if (known === undefined) this.opPosition.set(opId, offset + 1);
    else if (known !== offset + 1) throw new SimViolation(`op ${opId} appended twice: at offset ${known - 1}, and by node ${id} at offset ${offset}`);
  }

  /** The partition state at one index is byte-identical on every member (offsets, dedup windows, groups). */
  onMachineSnapshot(id: NodeId, index: number, data: Uint8Array): void {
    const crc = crc32(data);
    const known = this.machineAt.get(index);
    if (known === undefined) this.machineAt.set(index, { node: id, crc });
    else if (known.crc !== crc) throw new SimViolation(`state machine safety: node ${id}'s partition state at index ${index} differs from node ${known.node}'s`);
  }

  /** Log matching: if two logs hold an entry with the same index and term, they agree on everything before it. */
  checkLogMatching(cores: readonly RaftCore[]): void {
    for (let a = 0; a < cores.length; a++) {
      for (let b = a + 1; b < cores.length; b++) {
        const x = cores[a] as RaftCore;
        const y = cores[b] as RaftCore;
        const lo = Math.max(x.log.firstIndex(), y.log.firstIndex());
        const hi = Math.min(x.log.lastIndex(), y.log.lastIndex());
        let agreed = false;
        for (let i = hi; i >= lo; i--) {
          const tx = x.log.term(i);
          const ty = y.log.term(i);
          if (!agreed) {
            agreed = tx === ty;
            continue;
          }
          if (tx !== ty) throw new SimViolation(`log matching: nodes ${x.id} and ${y.id} agree above index ${i} but differ at it`);
        }
      }
    }
  }
}
