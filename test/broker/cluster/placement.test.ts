import { describe, expect, it } from 'vitest';
import { defaultReplicationFactor, placement, replicasOf } from '../../../src/broker/cluster/placement.js';

describe('placement', () => {
  it('is the same table whatever order the members are listed in', () => {
    expect(placement(8, [3, 1, 2], 3)).toEqual(placement(8, [1, 2, 3], 3));
    expect(placement(5, [7, 40, 9, 2], 2)).toEqual(placement(5, [2, 9, 7, 40], 2));
  });

  it('puts partition p on members p .. p+RF-1 of the sorted members, preferred leader first', () => {
    expect(placement(4, [10, 20, 30], 2)).toEqual([[10, 20], [20, 30], [30, 10], [10, 20]]);
    expect(replicasOf(5, [1, 2, 3, 4, 5], 3)).toEqual([1, 2, 3]);
  });

  it('gives every partition RF distinct members and spreads replicas and preferred leaders evenly', () => {
    const members = [1, 2, 3, 4, 5];
    const table = placement(64, members, 3);
    const replicas = new Map<number, number>();
    const leaders = new Map<number, number>();
    for (const row of table) {
      expect(new Set(row).size).toBe(3);
      for (const member of row) replicas.set(member, (replicas.get(member) ?? 0) + 1);
      leaders.set(row[0]!, (leaders.get(row[0]!) ?? 0) + 1);
    }
    for (const member of members) {
      expect(Math.abs(replicas.get(member)! - (64 * 3) / 5)).toBeLessThanOrEqual(3);
      expect(Math.abs(leaders.get(member)! - 64 / 5)).toBeLessThanOrEqual(1);
    }
  });

  it('holds every partition on every member when RF equals the members, and defaults RF to min(3, members)', () => {
    for (const row of placement(6, [1, 2, 3], 3)) expect([...row].sort()).toEqual([1, 2, 3]);
    expect([1, 2, 3, 4, 7].map(defaultReplicationFactor)).toEqual([1, 2, 3, 3, 3]);
  });

  it('refuses a replication factor beyond the members, below 1, and duplicate member ids', () => {
    expect(() => replicasOf(0, [1, 2], 3)).toThrow(/replication factor/);
    expect(() => replicasOf(0, [1, 2], 0)).toThrow(/replication factor/);
    expect(() => replicasOf(0, [1, 1, 2], 2)).toThrow(/distinct/);
  });
});
