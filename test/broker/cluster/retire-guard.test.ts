// When a join may retire a member: only one this controller leader could have heard, and did not.
import { describe, expect, it } from 'vitest';
import { addressWait, RUNNING_MEMBER_REFUSAL, retireWait, type RetireCheck } from '../../../src/broker/cluster/retire-guard.js';

const heard = (table: Record<number, number | undefined>) => (id: number): number | undefined => table[id];
const base: RetireCheck = { replaced: 1, self: 2, ledForMs: 60_000, others: [3], msSinceHeard: heard({ 1: 10_000, 3: 80 }) };

describe('retiring a member in a join', () => {
  it('is allowed once the member has been silent for 3 s to a leader that has led that long and hears the others', () => {
    expect(retireWait(base)).toBeUndefined();
    expect(retireWait({ ...base, msSinceHeard: heard({ 3: 80 }) }), 'never heard in a long lead').toBeUndefined();
  });

  it('is refused for good while the member is heard from, or leads the controller itself', () => {
    expect(retireWait({ ...base, msSinceHeard: heard({ 1: 90, 3: 80 }) })).toMatch(new RegExp(`^${RUNNING_MEMBER_REFUSAL}: node 1 was heard from 90 ms ago`));
    expect(retireWait({ ...base, self: 1, others: [2, 3] })).toMatch(new RegExp(`^${RUNNING_MEMBER_REFUSAL}: node 1 leads the controller`));
  });

  it('waits, without calling the member running, for a leader that has just been elected (it may not have heard it yet)', () => {
    const wait = retireWait({ ...base, ledForMs: 400, msSinceHeard: heard({ 3: 80 }) });
    expect(wait).toMatch(/has led for 400 ms/);
    expect(wait).not.toContain(RUNNING_MEMBER_REFUSAL);
  });

  it('waits while this leader has heard nobody lately (its event loop stood still: every member looks silent)', () => {
    expect(retireWait({ ...base, msSinceHeard: heard({ 1: 4_000, 3: 4_000 }) })).toMatch(/heard no member in the last 1000 ms/);
  });
});

describe('who answers at the replaced member\'s address', () => {
  it('lets the join retire it only when the joiner itself answers there or nobody listens', () => {
    expect(addressWait(1, 'flo-0.flo-peers:4000', 'the-joiner')).toBeUndefined();
    expect(addressWait(1, '127.0.0.1:4001', 'nobody-listens')).toBeUndefined();
    expect(addressWait(1, '127.0.0.1:4001', 'no-answer')).toMatch(/accepts connections but does not answer/);
    expect(addressWait(1, '127.0.0.1:4001', 'no-answer')).not.toContain(RUNNING_MEMBER_REFUSAL);
    expect(addressWait(1, '127.0.0.1:4001', { member: 1 })).toMatch(new RegExp(`^${RUNNING_MEMBER_REFUSAL}: node 1 answers at 127.0.0.1:4001`));
  });
});
