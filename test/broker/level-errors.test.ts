import { describe, expect, it } from 'vitest';
import { isCorruption, isLocked } from '../../src/broker/storage/level-errors.js';

const openFailure = (cause: Error): Error => new Error('Database failed to open', { cause });

describe('LevelDB error classes', () => {
  it('are told by code or LevelDB status prefix, not by words in a path', () => {
    const full = openFailure(new Error('IO error: /srv/corrupt-lock/data/000005.ldb: No space left on device'));
    expect(isCorruption(full)).toBe(false);
    expect(isLocked(full)).toBe(false);
    expect(isCorruption(openFailure(new Error('Corruption: checksum mismatch')))).toBe(true);
    expect(isCorruption(Object.assign(new Error('x'), { code: 'LEVEL_CORRUPTION' }))).toBe(true);
    expect(isLocked(openFailure(Object.assign(new Error('IO error: lock /srv/data/LOCK: Resource temporarily unavailable'), {})))).toBe(true);
    expect(isLocked(Object.assign(new Error('Database failed to open'), { cause: Object.assign(new Error('x'), { code: 'LEVEL_LOCKED' }) }))).toBe(true);
  });
});
