import { describe, expect, it } from 'vitest';
import { defaultKinds, topologyOf } from './campaign.js';
import { FAULT_KINDS } from './schedule.js';

describe('the default fault mix', () => {
  it('is every kind on a cluster of three, damage and member replacement included', () => {
    expect(defaultKinds(topologyOf({ brokers: 3 }))).toEqual([...FAULT_KINDS]);
  });

  it('is the kinds a single broker can take', () => {
    expect(defaultKinds(topologyOf({ brokers: 1 }))).toEqual(['kill', 'kill-lose-unsynced', 'pause']);
  });
});
