// The outage figures across a fault: from a namespace's last acknowledgement
// before a kill (or a partition's heal) to its first after it, in the
// namespace where that took longest, and how much of it came after the moment.
import { describe, expect, it } from 'vitest';
import { longestOutageAcross } from './figures.js';
import type { AppendOp } from './history.js';
import type { TimelineEntry } from './nemesis.js';

function ok(namespace: string, timeMs: number): AppendOp {
  return { index: 0, timeMs, process: 'w', type: 'ok', f: 'append', namespace, value: `${namespace}:${timeMs}`, id: 'x' };
}

const history: AppendOp[] = [
  ...[0, 100, 200, 300, 1_900, 2_000].map((t) => ok('/chaos/n0', t)),
  ...[0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1_000, 4_200].map((t) => ok('/chaos/n1', t)),
];
const timeline: TimelineEntry[] = [
  { timeMs: 350, kind: 'kill', phase: 'start', targets: ['b1'] },
  { timeMs: 1_500, kind: 'kill', phase: 'end', targets: ['b1'] },
  { timeMs: 1_050, kind: 'partition-isolate', phase: 'start', targets: ['b0', 'b1'] },
  { timeMs: 4_000, kind: 'partition-isolate', phase: 'end', targets: ['b0', 'b1'] },
];

describe('outage figures across a fault', () => {
  it('measures across the kill itself, in the namespace that waited longest', () => {
    expect(longestOutageAcross(history, timeline, (kind) => kind === 'kill', 'start')).toEqual({ ms: 1_600, afterMs: 1_550, namespace: '/chaos/n0', fault: 'kill b1 at 350 ms' });
  });

  it('measures across the heal of a partition, counting the part after the heal', () => {
    expect(longestOutageAcross(history, timeline, (kind) => kind.startsWith('partition-'), 'end')).toEqual({ ms: 3_200, afterMs: 200, namespace: '/chaos/n1', fault: 'partition-isolate b0,b1 at 4000 ms' });
  });

  it('has nothing to say without such a fault, or without an acknowledgement after it', () => {
    expect(longestOutageAcross(history, timeline, (kind) => kind === 'pause', 'start')).toBeUndefined();
    expect(longestOutageAcross(history, [{ timeMs: 5_000, kind: 'kill', phase: 'start', targets: ['b0'] }], (kind) => kind === 'kill', 'start')).toBeUndefined();
  });
});
