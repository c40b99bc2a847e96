// File damage does exactly what it says, on data files only, and the same pick
// does the same damage.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { damageDataDir } from './damage.js';

let dir: string;
const original = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7) % 256));

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flo-chaos-damage-'));
  await writeFile(join(dir, '000005.log'), original);
  await writeFile(join(dir, 'CURRENT'), 'MANIFEST-000004\n');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function differingBits(a: Buffer, b: Buffer): number {
  let bits = 0;
  for (let i = 0; i < a.length; i++) for (let x = a[i]! ^ b[i]!; x !== 0; x &= x - 1) bits++;
  return bits;
}

describe('file damage', () => {
  it('truncates the tail of a data file, keeping at least half', async () => {
    const what = await damageDataDir(dir, 'truncate', 12345);
    const after = await readFile(join(dir, '000005.log'));
    expect(what).toMatch(/truncated .*000005\.log/);
    expect(after.length).toBeLessThan(original.length);
    expect(after.length).toBeGreaterThanOrEqual(original.length / 2);
    expect(after.equals(original.subarray(0, after.length))).toBe(true);
    expect(await readFile(join(dir, 'CURRENT'), 'utf8')).toBe('MANIFEST-000004\n');
  });

  it('flips exactly one bit, the same one for the same pick', async () => {
    await damageDataDir(dir, 'bitflip', 777);
    const first = await readFile(join(dir, '000005.log'));
    expect(first.length).toBe(original.length);
    expect(differingBits(first, original)).toBe(1);
    await writeFile(join(dir, '000005.log'), original);
    await damageDataDir(dir, 'bitflip', 777);
    expect((await readFile(join(dir, '000005.log'))).equals(first)).toBe(true);
  });

  it('leaves a dir without data files alone', async () => {
    await rm(join(dir, '000005.log'));
    expect(await damageDataDir(dir, 'bitflip', 1)).toMatch(/nothing to damage/);
  });
});
