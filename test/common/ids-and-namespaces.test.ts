import { describe, expect, it } from 'vitest';
import { FloError } from '../../src/common/errors.js';
import { formatCursor, formatEventId, parseCursor, parseEventId } from '../../src/common/ids.js';
import { compileGlob, partitionOf, validateNamespace } from '../../src/common/namespace.js';
import { parseDurationMs, parseSizeBytes } from '../../src/common/units.js';

describe('event ids', () => {
  it('round-trip partition and offset', () => {
    const id = formatEventId(3, 0x1a2);
    expect(id).toBe('0003-00000000001a2');
    expect(parseEventId(id)).toEqual({ partition: 3, offset: 0x1a2 });
  });

  it('sort by offset within a partition', () => {
    const ids = [5, 100, 17, 4096, 0].map((offset) => formatEventId(2, offset));
    expect([...ids].sort()).toEqual([0, 5, 17, 100, 4096].map((offset) => formatEventId(2, offset)));
  });

  it('are URL-safe', () => {
    const id = formatEventId(4095, 2 ** 52 - 1);
    expect(encodeURIComponent(id)).toBe(id);
  });

  it('reject malformed ids with a typed error', () => {
    expect(() => parseEventId('nope')).toThrow(FloError);
    expect(() => parseEventId('0003-1a2')).toThrow(/not an event id/);
  });
});

describe('cursors', () => {
  it('round-trip every partition offset', () => {
    const offsets = [0, 1, 36, 1_000_000_007, 2 ** 52 - 1];
    expect(parseCursor(formatCursor(offsets))).toEqual(offsets);
  });

  it('refuse a cursor for another partition count', () => {
    expect(() => parseCursor(formatCursor([1, 2, 3]), 8)).toThrow(/3 partitions, the broker has 8/);
  });

  it('refuse junk', () => {
    expect(() => parseCursor('c1.zz!.3')).toThrow(FloError);
    expect(() => parseCursor('hello')).toThrow(FloError);
  });
});

describe('namespaces', () => {
  it('accept hierarchical UTF-8 paths', () => {
    expect(validateNamespace('/food/breakfast/eggs')).toBe('/food/breakfast/eggs');
    expect(validateNamespace('/café/🍳')).toBe('/café/🍳');
  });

  it.each([
    ['', /non-empty/],
    ['food/eggs', /start with/],
    ['/food\n/eggs', /control characters/],
    ['/food//eggs', /empty segment/],
    ['/food/', /empty segment/],
    ['/', /names no stream/],
    ['/' + 'x'.repeat(2000), /limit is 1024/],
    ['/bad\ud800', /well-formed/],
  ])('refuse %j', (namespace, message) => {
    expect(() => validateNamespace(namespace)).toThrow(message);
  });

  it('map a namespace to the same partition every time', () => {
    expect(partitionOf('/orders/eu/42', 8)).toBe(partitionOf('/orders/eu/42', 8));
    const partitions = new Set(Array.from({ length: 64 }, (_, i) => partitionOf(`/orders/eu/${i}`, 8)));
    expect(partitions.size).toBe(8);
  });
});

describe('globs', () => {
  it('select with micromatch syntax', () => {
    expect(compileGlob('/food/**').matches('/food/breakfast/eggs')).toBe(true);
    expect(compileGlob('/food/**').matches('/drinks/tea')).toBe(false);
    expect(compileGlob('/food/*/eggs').matches('/food/breakfast/eggs')).toBe(true);
    expect(compileGlob('/food/*/eggs').matches('/food/a/b/eggs')).toBe(false);
    expect(compileGlob('/{food,drinks}/**').matches('/drinks/tea')).toBe(true);
  });

  it('treat an absent or catch-all glob as everything', () => {
    expect(compileGlob(undefined).all).toBe(true);
    expect(compileGlob('/**').all).toBe(true);
    expect(compileGlob('/food/**').all).toBe(false);
  });

  it('refuse globs that are not paths', () => {
    expect(() => compileGlob('food')).toThrow(/must start with/);
  });
});

describe('units', () => {
  it('parse durations and sizes as users write them', () => {
    expect(parseDurationMs('7d', 'maxAge')).toBe(7 * 86_400_000);
    expect(parseDurationMs('500ms', 'maxAge')).toBe(500);
    expect(parseSizeBytes('10Gi', 'maxBytes')).toBe(10 * 2 ** 30);
    expect(parseSizeBytes('500MB', 'maxBytes')).toBe(500e6);
    expect(parseSizeBytes(1024, 'maxBytes')).toBe(1024);
  });

  it('refuse nonsense with the field name in the message', () => {
    expect(() => parseDurationMs('soon', 'maxAge')).toThrow(/maxAge/);
    expect(() => parseSizeBytes('-5', 'maxBytes')).toThrow(/maxBytes/);
    expect(() => parseSizeBytes('12 parsecs', 'maxBytes')).toThrow(/maxBytes/);
  });
});
