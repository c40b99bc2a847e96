// Linearizability of the client-visible history against an append-only log model:
// a write appends its op, a read returns the whole log up to some index. Because
// the log fixes the order of writes, a history is linearizable exactly when these
// real-time constraints hold (each is checked, with the offending ops named):
//   1. an acknowledged write sits at the index it was acknowledged with;
//   2. a refused write never appears; no write appears twice;
//   3. a write acknowledged before another write began precedes it in the log;
//   4. a read sees every write acknowledged before it began, and none that began after it ended;
//   5. a read that ended before another began saw no more of the log than it.

export interface WriteOp {
  readonly opId: number;
  readonly invokedAt: number;
  ackedAt: number | null;
  ackedIndex: number | null;
  refused: boolean;
}

export interface ReadOp {
  readonly opId: number;
  readonly invokedAt: number;
  completedAt: number | null;
  /** The read saw every write at an index <= this. */
  seenIndex: number | null;
}

export interface ClientHistory {
  readonly writes: readonly WriteOp[];
  readonly reads: readonly ReadOp[];
}

/** Returns a description of the first violation, or null when the history is linearizable. */
export function checkLinearizable(history: ClientHistory, positionOf: ReadonlyMap<number, number>): string | null {
  for (const w of history.writes) {
    const pos = positionOf.get(w.opId);
    if (w.refused && pos !== undefined) return `write ${w.opId} was refused but appears at index ${pos}`;
    if (w.ackedIndex !== null && pos !== w.ackedIndex) return `write ${w.opId} acknowledged at index ${w.ackedIndex} but the log has it at ${pos}`;
  }
  const placed = history.writes.filter((w) => positionOf.has(w.opId));
  const pos = (w: WriteOp): number => positionOf.get(w.opId) ?? -1;
  const acked = placed.filter((w) => w.ackedAt !== null).sort((a, b) => (a.ackedAt ?? 0) - (b.ackedAt ?? 0));
  // prefixMax[i]: highest index among the first i writes by acknowledgement time.
  const prefixMax: number[] = [0];
  const prefixOp: number[] = [-1];
  for (const w of acked) {
    const best = prefixMax.at(-1) ?? 0;
    prefixMax.push(Math.max(best, pos(w)));
    prefixOp.push(pos(w) >= best ? w.opId : (prefixOp.at(-1) ?? -1));
  }
  const ackedBefore = (time: number): number => {
    let lo = 0;
    let hi = acked.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((acked[mid]?.ackedAt ?? 0) < time) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  for (const w of placed) {
    const n = ackedBefore(w.invokedAt);
    if ((prefixMax[n] ?? 0) >= pos(w)) return `write ${w.opId} at index ${pos(w)} precedes write ${prefixOp[n]} that was acknowledged before it began`;
  }
  const byInvoke = [...placed].sort((a, b) => a.invokedAt - b.invokedAt);
  const writePositions = placed.map(pos).sort((a, b) => a - b);
  // The state a read saw is identified by the last write position it covers.
  const stateOf = (seen: number): number => {
    let lo = 0;
    let hi = writePositions.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((writePositions[mid] ?? 0) <= seen) lo = mid + 1;
      else hi = mid;
    }
    return lo === 0 ? 0 : (writePositions[lo - 1] ?? 0);
  };
  const done = history.reads.filter((r) => r.completedAt !== null && r.seenIndex !== null);
  // suffixMin[i]: lowest index among writes byInvoke[i..].
  const suffixMin: number[] = new Array<number>(byInvoke.length + 1).fill(Number.MAX_SAFE_INTEGER);
  for (let i = byInvoke.length - 1; i >= 0; i--) suffixMin[i] = Math.min(suffixMin[i + 1] ?? 0, pos(byInvoke[i] as WriteOp));
  const firstInvokedAfter = (time: number): number => {
    let lo = 0;
    let hi = byInvoke.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((byInvoke[mid]?.invokedAt ?? 0) <= time) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  for (const r of done) {
    const seen = r.seenIndex ?? 0;
    const n = ackedBefore(r.invokedAt);
    if ((prefixMax[n] ?? 0) > seen) return `read ${r.opId} saw up to ${seen} but write ${prefixOp[n]} at ${prefixMax[n]} was acknowledged before it began`;
    const later = suffixMin[firstInvokedAfter(r.completedAt ?? 0)] ?? Number.MAX_SAFE_INTEGER;
    if (later <= seen) return `read ${r.opId} saw index ${later}, written by an op that began after the read ended`;
  }
  const byCompletion = [...done].sort((a, b) => (a.completedAt ?? 0) - (b.completedAt ?? 0));
  const stateMax: number[] = [0];
  for (const r of byCompletion) stateMax.push(Math.max(stateMax.at(-1) ?? 0, stateOf(r.seenIndex ?? 0)));
  for (const r2 of done) {
    let lo = 0;
    let hi = byCompletion.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((byCompletion[mid]?.completedAt ?? 0) < r2.invokedAt) lo = mid + 1;
      else hi = mid;
    }
    if ((stateMax[lo] ?? 0) > stateOf(r2.seenIndex ?? 0)) {
      return `read ${r2.opId} saw less of the log (up to ${r2.seenIndex}) than a read that ended before it began`;
    }
  }
  return null;
}
