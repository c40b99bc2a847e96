import { describe, expect, it } from 'vitest';
import { FloError } from '../../src/common/errors.js';
import { forEachRecordEvent } from '../../src/common/event.js';
import { decodeProduceReply, decodeRecordsFrame, encodeProduceAck, encodeRecordsFrame } from '../../src/common/frames.js';
import { decodeBatch, dropGroupPrefix, encodeBatch, encodeGroup, readGroupHeader } from '../../src/common/wire.js';

describe('produce batch codec', () => {
  it('round-trips namespaces, parents and binary data', () => {
    const events = [
      { namespace: '/a/b', data: Buffer.from([0, 1, 2, 255]), parentId: '0001-0000000000005' },
      { namespace: '/ünï/çødé', data: Buffer.alloc(0), parentId: undefined },
    ];
    expect(decodeBatch(encodeBatch(events), 10)).toEqual(events);
  });

  it('rejects truncated bodies with a typed error, never a crash', () => {
    const body = encodeBatch([{ namespace: '/a', data: Buffer.alloc(100) }]);
    for (let cut = 2; cut < body.length; cut += 7) {
      expect(() => decodeBatch(body.subarray(0, cut), 10)).toThrow(FloError);
    }
  });

  it('rejects a length that claims more than the body holds', () => {
    const body = Buffer.from([1, 0, 2, 0x2f, 0x61, 0, 0xff, 0xff, 0xff, 0xff]);
    expect(() => decodeBatch(body, 10)).toThrow(/truncated/);
  });

  it('refuses more events than allowed', () => {
    const body = encodeBatch(Array.from({ length: 5 }, () => ({ namespace: '/a', data: Buffer.alloc(1) })));
    expect(() => decodeBatch(body, 4)).toThrow(/at most 4/);
  });
});

describe('event groups', () => {
  it('keep count, timestamp and namespace id in the header', () => {
    const group = encodeGroup([{ data: Buffer.from('x'), parentId: undefined }, { data: Buffer.from('y'), parentId: undefined }], 1234, 7);
    expect(readGroupHeader(group)).toEqual({ count: 2, timestamp: 1234, nsId: 7 });
  });

  it('drop a prefix for retention and keep the rest intact', () => {
    const group = encodeGroup(['a', 'b', 'c'].map((text) => ({ data: Buffer.from(text), parentId: undefined })), 99, 3);
    const kept = dropGroupPrefix(group, 2);
    const texts: string[] = [];
    forEachRecordEvent({ partition: 0, start: 12, skip: 0, namespace: '/n', group: kept }, (event) => texts.push(`${event.offset}:${event.text()}`));
    expect(texts).toEqual(['12:c']);
  });
});

describe('records frames', () => {
  it('carry groups and skip events a reader already has', () => {
    const group = encodeGroup(['a', 'b', 'c'].map((text) => ({ data: Buffer.from(text), parentId: undefined })), 5, 0);
    const frame = encodeRecordsFrame([{ partition: 2, start: 10, skip: 1, namespace: '/x', group }]);
    const seen: string[] = [];
    for (const record of decodeRecordsFrame(frame)) forEachRecordEvent(record, (event) => seen.push(`${event.id}:${event.text()}`));
    expect(seen).toEqual(['0002-000000000000b:b', '0002-000000000000c:c']);
  });

  it('produce acks round-trip positions', () => {
    const reply = decodeProduceReply(encodeProduceAck(9, [1, 2], [100, 7]));
    expect(reply).toEqual({ requestId: 9, ok: true, partitions: [1, 2], offsets: [100, 7] });
  });
});
