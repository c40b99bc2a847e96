import { describe, expect, it } from 'vitest';
import { decodeReadIndexReply, decodeReadIndexRequest, encodeReadIndexReply, encodeReadIndexRequest, isReadIndexRequest } from '../../../src/broker/cluster/read-index-requests.js';

describe('read-index peer requests', () => {
  it('carry a partition one way and an index back', () => {
    const request = encodeReadIndexRequest(513);
    expect(isReadIndexRequest(request)).toBe(true);
    expect(decodeReadIndexRequest(request)).toBe(513);
    expect(decodeReadIndexReply(encodeReadIndexReply(987_654_321))).toBe(987_654_321);
  });

  it('refuse what a hostile or older peer could send', () => {
    expect(isReadIndexRequest(Buffer.of(4, 0, 1))).toBe(false);
    expect(() => decodeReadIndexRequest(Buffer.of(5, 0))).toThrow(/malformed read-index request/);
    expect(() => decodeReadIndexRequest(Buffer.of(5, 0, 1, 2))).toThrow(/malformed read-index request/);
    for (const bad of [Buffer.alloc(0), Buffer.alloc(7), encodeReadIndexReply(-1), encodeReadIndexReply(1.5), encodeReadIndexReply(Number.NaN), encodeReadIndexReply(2 ** 60)]) {
      expect(() => decodeReadIndexReply(bad)).toThrow(/malformed read-index reply/);
    }
  });
});
