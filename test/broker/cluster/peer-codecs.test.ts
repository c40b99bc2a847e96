import { describe, expect, it } from 'vitest';
import { decodeFetch, decodeSegments, encodeFetch, encodeSegments, isFetch } from '../../../src/broker/cluster/catch-up.js';
import { decodeForward, decodeOffsets, encodeForward, encodeOffsets, forwardAppend, safeToRetry } from '../../../src/broker/cluster/forwarding.js';
import { COMMAND_APPEND, COMMAND_SKIP, NO_PRODUCER, encodeCommand } from '../../../src/broker/partitions/commands.js';
import { PeerRequestError } from '../../../src/broker/transport/tcp-transport.js';

const events = [
  { namespace: '/food/eggs', parentId: undefined, data: Buffer.from('one') },
  { namespace: '/food/eggs', parentId: '0001-0000000000000', data: Buffer.alloc(0) },
];

describe('forwarding codec', () => {
  it('round-trips a forwarded append and its offsets', () => {
    const command = encodeCommand({ kind: COMMAND_APPEND, timestamp: 5, producerId: NO_PRODUCER, firstSequence: 0, events });
    const decoded = decodeForward(encodeForward(7, command));
    expect(decoded.partition).toBe(7);
    expect(decoded.command.events.map((e) => [e.namespace, e.parentId, Buffer.from(e.data).toString()])).toEqual([['/food/eggs', undefined, 'one'], ['/food/eggs', '0001-0000000000000', '']]);
    expect([...decodeOffsets(encodeOffsets(Float64Array.from([3, 9])), 2)]).toEqual([3, 9]);
  });

  it('refuses anything but an append, and offsets of another count', () => {
    expect(() => decodeForward(encodeForward(0, encodeCommand({ kind: COMMAND_SKIP, nextOffset: 1, timestamp: 0 })))).toThrow(/must be an append/);
    expect(() => decodeForward(Buffer.from([9, 0, 0]))).toThrow(/not a forwarded append/);
    expect(() => decodeOffsets(encodeOffsets(Float64Array.from([1])), 2)).toThrow(/something else/);
  });

  it('reports a forward sent and then lost as FLO_ERR_OUTCOME_UNKNOWN, and one never sent as it was', async () => {
    const failing = (error: Error) => ({ request: () => Promise.reject(error) }) as unknown as Parameters<typeof forwardAppend>[0];
    await expect(forwardAppend(failing(new PeerRequestError('FLO_ERR_CONNECTION', 'lost after sending', true)), 2, 0, Buffer.alloc(0), 1)).rejects.toMatchObject({ code: 'FLO_ERR_OUTCOME_UNKNOWN', delivered: true });
    await expect(forwardAppend(failing(new PeerRequestError('FLO_ERR_TIMEOUT', 'no answer', true)), 2, 0, Buffer.alloc(0), 1)).rejects.toMatchObject({ code: 'FLO_ERR_OUTCOME_UNKNOWN' });
    await expect(forwardAppend(failing(new PeerRequestError('FLO_ERR_CONNECTION', 'not connected', false)), 2, 0, Buffer.alloc(0), 1)).rejects.toMatchObject({ code: 'FLO_ERR_CONNECTION', delivered: false });
  });

  it('retries only what provably was not proposed', () => {
    expect(safeToRetry(new PeerRequestError('FLO_ERR_CONNECTION', 'not connected', false))).toBe(true);
    expect(safeToRetry(new PeerRequestError('FLO_ERR_NOT_LEADER', 'moved', true))).toBe(true);
    expect(safeToRetry(new PeerRequestError('FLO_ERR_CONNECTION', 'lost after sending', true))).toBe(false);
    expect(safeToRetry(new PeerRequestError('FLO_ERR_TIMEOUT', 'no answer', true))).toBe(false);
    expect(safeToRetry(new Error('anything else'))).toBe(false);
  });
});

describe('catch-up codec', () => {
  it('round-trips a fetch and the segments it answers', () => {
    const request = { partition: 3, from: 10, to: 400, maxBytes: 1 << 20 };
    const payload = encodeFetch(request);
    expect(isFetch(payload)).toBe(true);
    expect(decodeFetch(payload)).toEqual(request);
    const segments = [{ start: 10, timestamp: 1000, events }, { start: 40, timestamp: 1001, events: events.slice(0, 1) }];
    const back = decodeSegments(encodeSegments(segments));
    expect(back.map((s) => [s.start, s.timestamp, s.events.length])).toEqual([[10, 1000, 2], [40, 1001, 1]]);
    expect(decodeSegments(encodeSegments([]))).toEqual([]);
  });

  it('refuses a fetch range backwards or a reply cut short or with trailing bytes', () => {
    expect(() => decodeFetch(encodeFetch({ partition: 0, from: 5, to: 4, maxBytes: 1 }))).toThrow(/out of bounds/);
    const reply = encodeSegments([{ start: 0, timestamp: 1, events }]);
    expect(() => decodeSegments(reply.subarray(0, reply.length - 1))).toThrow(/malformed|truncated|bytes/);
    expect(() => decodeSegments(Buffer.concat([reply, Buffer.from([0])]))).toThrow(/malformed/);
  });
});
