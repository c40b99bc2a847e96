// A partition's chunks go to its leader in the order they were taken (bench W4 on 1e58e8f failed
// every run: a chunk taken as a handover ended found no leader and slept its retry pause while a
// newer chunk of the same producer, taken a moment later, was forwarded first; the leader stored
// the newer batch and refused the older one as stale). Two chunks, the first finding no leader at
// its first look: with ForwardOrder the leader still receives the first chunk first.
import { describe, expect, it } from 'vitest';
import { AppliedOffsets } from '../../src/broker/partitions/applied-offsets.js';
import { ForwardOrder, forwardToLeader, type ForwardJob } from '../../src/broker/partitions/leader-forwarding.js';
import type { PartitionHost } from '../../src/broker/partitions/partition.js';
import type { Slot } from '../../src/broker/partitions/slots.js';
import { FloError } from '../../src/common/errors.js';

function slot(firstSequence: number): Slot {
  return {
    event: { namespace: '/w4/0', parentId: undefined, data: new Uint8Array(4) },
    ticket: { partitions: new Uint16Array(1), offsets: new Float64Array(1), remaining: 1, resolve: () => undefined, reject: () => undefined },
    index: 0, bytes: 4, forwarded: false, attempts: 0, producer: { id: 7, firstSequence },
  };
}

describe('forwarding a partition\'s chunks to its leader', () => {
  it('sends them in the order they were taken, even when the first has to wait for a leader', async () => {
    let forwards = 0;
    let offset = 0;
    const host = {
      nodeId: 1, clock: () => 0,
      forward: async () => {
        forwards++;
        return new Float64Array([offset++]);
      },
    } as unknown as PartitionHost;
    const order = new ForwardOrder();
    const sentSequences: number[] = [];
    let firstLooks = 0;
    const job = (firstSequence: number, leader: () => number | null): ForwardJob => ({
      partition: 0, host, applied: new AppliedOffsets(Number.MAX_SAFE_INTEGER), slots: [slot(firstSequence)], leader, ...order.next(),
      halted: () => undefined, requeue: () => undefined, settle: () => undefined,
      release: () => sentSequences.push(firstSequence),
    });
    // The first chunk sees no leader at its first look (a handover just ended); the second sees one at once.
    const first = forwardToLeader(job(100, () => (firstLooks++ === 0 ? null : 2)));
    const second = forwardToLeader(job(200, () => 2));
    await Promise.all([first, second]);
    expect(forwards).toBe(2);
    expect(sentSequences).toEqual([100, 200]);
  });

  it('answers a batch the leader refused as stale at once instead of sending it again until the 5 s bound', async () => {
    let forwards = 0;
    const host = {
      nodeId: 1, clock: () => 0,
      forward: async () => {
        forwards++;
        throw new FloError('FLO_ERR_SEQUENCE_STALE', 'partition 0: producer 7: sequence 100 is not after its last (200)');
      },
    } as unknown as PartitionHost;
    const settled: string[] = [];
    await forwardToLeader({
      partition: 0, host, applied: new AppliedOffsets(0), slots: [slot(100)], leader: () => 2, ...new ForwardOrder().next(),
      halted: () => undefined, requeue: () => undefined, settle: (_slot, reason) => settled.push((reason as FloError).code), release: () => undefined,
    });
    expect(forwards).toBe(1);
    expect(settled).toEqual(['FLO_ERR_SEQUENCE_STALE']);
  });
});

