// The Raft safety properties (Figure 3 of the paper), checked as the simulation
// runs: election safety, log matching, leader completeness and state machine
// safety. Any breach throws SimViolation, which ends the run with the seed printed.

import type { RaftCore } from '../../../src/broker/raft/core.js';
import { EntryType, type Entry, type NodeId, type Snapshot } from '../../../src/broker/raft/messages.js';
import { decodeOp, decodeState } from './node.js';

export class SimViolation extends Error {
  override name = 'SimViolation';
}

interface Applied {
  readonly term: number;
  readonly key: string;
}

function entryKey(entry: Entry): string {
  if (entry.type === EntryType.ConfChange) return `conf:${Array.from(entry.data).join('.')}`;
  const opId = decodeOp(entry);
  return opId >= 0 ? `op:${opId}` : `raw:${entry.data.byteLength}`;
}

export class SafetyChecker {
  private readonly leaderOfTerm = new Map<number, NodeId>();
  /** The one history every member must apply: index -> entry identity (state machine safety). */
  readonly history = new Map<number, Applied>();
  /** Client op id -> index where it was applied. */
  readonly opIndex = new Map<number, number>();

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
      const opId = decodeOp(entry);
      if (opId >= 0) {
        const previous = this.opIndex.get(opId);
        if (previous !== undefined) throw new SimViolation(`op ${opId} applied twice, at ${previous} and ${entry.index}`);
        this.opIndex.set(opId, entry.index);
      }
    } else if (known.key !== key || known.term !== entry.term) {
      throw new SimViolation(`state machine safety: node ${id} applied ${key}@${entry.term} at index ${entry.index}, others ${known.key}@${known.term}`);
    }
  }

  onSnapshot(id: NodeId, snapshot: Snapshot): void {
    for (const [index, opId] of decodeState(snapshot.data)) {
      const known = this.history.get(index);
      if (known !== undefined && known.key !== `op:${opId}`) {
        throw new SimViolation(`state machine safety: snapshot on node ${id} has op ${opId} at ${index}, others ${known.key}`);
      }
    }
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
