import { describe, expect, it } from 'vitest';
import { encodeMessage } from '../../src/broker/raft/codec.js';
import { MessageType, message } from '../../src/broker/raft/messages.js';
import { SeededRandom } from '../../src/broker/raft/random.js';
import { FRAME_PROOF, FRAME_RAFT, FrameDecoder, MAX_PEER_FRAME_BYTES, ProtocolError, encodeHello, encodeProof, encodeRaftFrame } from '../../src/broker/transport/frame.js';

const nonce = Buffer.alloc(16, 7);

const sample = message({
  type: MessageType.Append, from: 1, to: 2, term: 7, index: 41, logTerm: 6, commit: 40, context: 3,
  entries: [{ term: 7, index: 42, type: 0, data: new Uint8Array([1, 2, 3]) }, { term: 7, index: 43, type: 1, data: new Uint8Array(5) }],
  snapshot: { metadata: { index: 9, term: 2, conf: { voters: [1, 2, 3], learners: [4] } }, data: new Uint8Array([9]) },
});

describe('frame codec', () => {
  it('round-trips a raft message with entries and a snapshot', () => {
    const frames = new FrameDecoder().push(Buffer.concat([encodeHello(5, nonce, 'prod-eu'), encodeProof(Buffer.alloc(32, 1)), encodeRaftFrame(77, sample)]));
    expect(frames[0]).toEqual({ kind: 1, nodeId: 5, nonce, clusterId: 'prod-eu' });
    expect(frames[1]).toEqual({ kind: FRAME_PROOF, proof: Buffer.alloc(32, 1) });
    expect(frames[2]).toMatchObject({ kind: FRAME_RAFT, groupId: 77 });
    const decoded = frames[2]?.kind === FRAME_RAFT ? frames[2].message : null;
    expect(decoded?.entries.map((e) => [e.index, e.type, Array.from(e.data)])).toEqual([[42, 0, [1, 2, 3]], [43, 1, [0, 0, 0, 0, 0]]]);
    expect(decoded?.snapshot?.metadata).toEqual(sample.snapshot?.metadata);
    expect({ ...decoded, entries: [], snapshot: null }).toEqual({ ...sample, entries: [], snapshot: null });
  });

  it('reassembles frames split at every byte boundary', () => {
    const bytes = Buffer.concat([encodeRaftFrame(1, sample), encodeRaftFrame(2, sample)]);
    const decoder = new FrameDecoder();
    const frames = [];
    for (let i = 0; i < bytes.length; i++) frames.push(...decoder.push(bytes.subarray(i, i + 1)));
    expect(frames.map((f) => (f.kind === FRAME_RAFT ? f.groupId : 0))).toEqual([1, 2]);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('rejects a frame length beyond the limit before buffering it', () => {
    const header = Buffer.alloc(5);
    header.writeUInt32BE(MAX_PEER_FRAME_BYTES + 1, 0);
    expect(() => new FrameDecoder().push(header)).toThrow(ProtocolError);
  });

  it('rejects unknown frame kinds, bad HELLOs and truncated messages', () => {
    const unknown = Buffer.from([0, 0, 0, 1, 9]);
    expect(() => new FrameDecoder().push(unknown)).toThrow(/unknown frame kind/);
    const badHello = encodeHello(1, nonce, 'flo');
    badHello.writeUInt32BE(0xdeadbeef, 5);
    expect(() => new FrameDecoder().push(badHello)).toThrow(/HELLO/);
    // Version 1 HELLO (magic and node id only) from an older broker is refused, not misread.
    const oldHello = Buffer.from([0, 0, 0, 9, 1, 0x46, 0x4c, 0x4f, 0x31, 0, 0, 0, 1]);
    expect(() => new FrameDecoder().push(oldHello)).toThrow(/HELLO/);
    const notUtf8 = encodeHello(1, nonce, 'ab');
    notUtf8[notUtf8.length - 1] = 0xff;
    expect(() => new FrameDecoder().push(notUtf8)).toThrow(/UTF-8/);
    const shortProof = Buffer.from([0, 0, 0, 3, FRAME_PROOF, 1, 2]);
    expect(() => new FrameDecoder().push(shortProof)).toThrow(/PROOF/);
    const body = encodeMessage(sample).subarray(0, 30);
    const frame = Buffer.alloc(9 + body.length);
    frame.writeUInt32BE(5 + body.length, 0);
    frame.writeUInt8(FRAME_RAFT, 4);
    Buffer.from(body).copy(frame, 9);
    expect(() => new FrameDecoder().push(frame)).toThrow(/malformed raft message/);
  });

  it('refuses an entry count the frame cannot hold instead of allocating it', () => {
    const body = Buffer.from(encodeMessage(message({ type: MessageType.Append, from: 1, to: 2, term: 1 })));
    body.writeUInt32BE(0xffffffff, 1 + 4 + 4 + 8 * 4 + 1 + 8 * 2); // the entry count field
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, FRAME_RAFT, 0, 0, 0, 1]), body]);
    frame.writeUInt32BE(frame.length - 4, 0);
    expect(() => new FrameDecoder().push(frame)).toThrow(/count/);
  });

  it('random garbage only ever raises ProtocolError', () => {
    const rng = new SeededRandom(7);
    const valid = encodeRaftFrame(3, sample);
    for (let i = 0; i < 3000; i++) {
      const bytes = Buffer.from(valid);
      for (let flips = 1 + rng.nextInt(4); flips > 0; flips--) bytes[rng.nextInt(bytes.length)] = rng.nextInt(256);
      try {
        new FrameDecoder().push(bytes);
      } catch (error) {
        expect(error).toBeInstanceOf(ProtocolError);
      }
    }
  });
});
