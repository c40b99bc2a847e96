// The wire format between brokers: length-prefixed binary frames.
//   [u32 length of the rest][u8 kind][payload]
// HELLO (kind 1): [u32 magic][u32 node id][16-byte nonce][cluster id, UTF-8]
// PROOF (kind 3): [32-byte HMAC] (handshake.ts); RAFT (kind 2): [u32 group id][encoded Message].
// INFO (kind 4): [JSON of MemberInfo] — how to reach the sender, right after the handshake.
// REQUEST (kind 5): [u32 request id][payload]; REPLY (kind 6): [u32 request id][u8 ok][payload]
// — broker-to-broker calls (forwarding a produce to a partition's leader).
// The decoder refuses a frame longer than MAX_PEER_FRAME_BYTES before buffering it, so a
// peer cannot make us allocate without bound; any malformed input is a ProtocolError.

import { MAX_PEER_FRAME_BYTES } from '../../common/bounds.js';
import { CodecError, decodeMessage, encodeMessage } from '../raft/codec.js';
import type { Message, NodeId } from '../raft/messages.js';
import { MAX_CLUSTER_ID_BYTES, NONCE_BYTES, PROOF_BYTES } from './handshake.js';

export { MAX_PEER_FRAME_BYTES };
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });
export const FRAME_HELLO = 1;
export const FRAME_RAFT = 2;
export const FRAME_PROOF = 3;
export const FRAME_INFO = 4;
export const FRAME_REQUEST = 5;
export const FRAME_REPLY = 6;
/** An INFO frame is a few addresses: anything longer is not one. */
/** INFO is JSON; a join answer lists every member (up to 1024), so it may be larger than the other frames of a handshake. */
export const MAX_INFO_BYTES = 128 * 1024;
/** Identifies a Flo peer connection, version 2 ("FLO2": authenticated handshake); anything else is not one of ours. */
export const HELLO_MAGIC = 0x464c4f32;

export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

export type Frame =
  | { readonly kind: typeof FRAME_HELLO; readonly nodeId: NodeId; readonly nonce: Buffer; readonly clusterId: string }
  | { readonly kind: typeof FRAME_PROOF; readonly proof: Buffer }
  | { readonly kind: typeof FRAME_RAFT; readonly groupId: number; readonly message: Message }
  | { readonly kind: typeof FRAME_INFO; readonly info: MemberInfo }
  | { readonly kind: typeof FRAME_REQUEST; readonly requestId: number; readonly payload: Buffer }
  | { readonly kind: typeof FRAME_REPLY; readonly requestId: number; readonly ok: boolean; readonly payload: Buffer };

/** What a broker tells each peer about itself once connected. */
export interface MemberInfo {
  /** Its HTTP base URL as clients should use it (--advertise-url), when known. */
  readonly url: string | null;
  /** Its peer address as other brokers should dial it (--advertise-peer). */
  readonly peer: string | null;
  /** A discovery connection: it only learns who answers at an address, then closes. */
  readonly probe: boolean;
  /** While forming: how many founders its --peers lists (founders must agree). */
  readonly founders?: number | null;
  /** Once formed: the member ids of its cluster. */
  readonly members?: readonly number[] | null;
  /** Its partition count (every member must have the same). */
  readonly partitions?: number | null;
  /** The sender is stopping: hand it no leadership. */
  readonly stopping?: boolean | null;
  /** In answer to a probe: whether this broker has had a Raft connection with the prober's id since it started. */
  readonly seen?: boolean | null;
  /** Once formed: how long ago its cluster formed, by its own clock (null: unknown, formed by an older version). */
  readonly formedAgoMs?: number | null;
  /** On a discovery connection from a broker without an id: it asks to join the cluster. */
  readonly join?: JoinRequest | null;
  /** The answer to a join: the id the controller gave it and what it needs to start. */
  readonly joined?: JoinAnswer | null;
  /** A join refused, with the error code and why. */
  readonly refusal?: { readonly code: string; readonly message: string } | null;
}

export interface JoinRequest {
  /** Random, kept in the joiner's data dir: a retried join gets the same id. */
  readonly incarnation: string;
  readonly peer: string;
  readonly url: string | null;
  /** The id this broker had before its store was found damaged: retired as it joins anew. */
  readonly replaces?: number | null;
}

export interface JoinAnswer {
  readonly id: number;
  readonly founders: ReadonlyArray<{ readonly id: number; readonly peer: string }>;
  /** Every member not removed, with the address to reach it. */
  readonly members: ReadonlyArray<{ readonly id: number; readonly peer: string }>;
  readonly replicationFactor: number;
  readonly partitions: number;
}

export function encodeInfo(info: MemberInfo): Buffer {
  const body = Buffer.from(JSON.stringify(info), 'utf8');
  if (body.byteLength > MAX_INFO_BYTES) throw new ProtocolError('INFO too long');
  return withHeader(FRAME_INFO, body);
}

export function encodeRequest(requestId: number, payload: Uint8Array): Buffer {
  const header = Buffer.allocUnsafe(9);
  header.writeUInt32BE(payload.byteLength + 5, 0);
  header.writeUInt8(FRAME_REQUEST, 4);
  header.writeUInt32BE(requestId, 5);
  if (payload.byteLength + 5 > MAX_PEER_FRAME_BYTES) throw new ProtocolError(`request of ${payload.byteLength} bytes exceeds the frame limit`);
  return Buffer.concat([header, payload]);
}

export function encodeReply(requestId: number, ok: boolean, payload: Uint8Array): Buffer {
  const header = Buffer.allocUnsafe(10);
  header.writeUInt32BE(payload.byteLength + 6, 0);
  header.writeUInt8(FRAME_REPLY, 4);
  header.writeUInt32BE(requestId, 5);
  header.writeUInt8(ok ? 1 : 0, 9);
  if (payload.byteLength + 6 > MAX_PEER_FRAME_BYTES) throw new ProtocolError(`reply of ${payload.byteLength} bytes exceeds the frame limit`);
  return Buffer.concat([header, payload]);
}

function withHeader(kind: number, body: Buffer): Buffer {
  const header = Buffer.allocUnsafe(5);
  header.writeUInt32BE(body.byteLength + 1, 0);
  header.writeUInt8(kind, 4);
  return Buffer.concat([header, body]);
}

function decodeInfo(payload: Buffer): MemberInfo {
  if (payload.byteLength > MAX_INFO_BYTES) throw new ProtocolError('INFO too long');
  let parsed: unknown;
  try {
    parsed = JSON.parse(STRICT_UTF8.decode(payload));
  } catch {
    throw new ProtocolError('INFO is not JSON');
  }
  const info = parsed as Partial<MemberInfo> | null;
  const text = (value: unknown): value is string | null => value === null || (typeof value === 'string' && value.length <= 1024);
  if (typeof info !== 'object' || info === null || !text(info.url) || !text(info.peer) || typeof info.probe !== 'boolean') throw new ProtocolError('bad INFO fields');
  const count = (value: unknown): value is number | null | undefined => value === undefined || value === null || (Number.isSafeInteger(value) && (value as number) >= 0);
  const members = info.members;
  if (!count(info.founders) || !count(info.partitions) || !count(info.formedAgoMs) || !(info.seen == null || typeof info.seen === 'boolean') || !(info.stopping == null || typeof info.stopping === 'boolean') || !(members === undefined || members === null || (Array.isArray(members) && members.length <= 1024 && members.every((id) => Number.isSafeInteger(id) && id > 0)))) {
    throw new ProtocolError('bad INFO fields');
  }
  const short = (value: unknown, max: number): value is string => typeof value === 'string' && value.length > 0 && value.length <= max;
  const join = info.join as Partial<JoinRequest> | null | undefined;
  if (join != null && !(short(join.incarnation, 64) && short(join.peer, 1024) && (join.url === null || short(join.url, 1024))
    && (join.replaces == null || (Number.isSafeInteger(join.replaces) && join.replaces > 0)))) throw new ProtocolError('bad INFO join');
  const joined = info.joined as Partial<JoinAnswer> | null | undefined;
  const memberList = (list: unknown): boolean => Array.isArray(list) && list.length <= 1024
    && list.every((m: { id?: unknown; peer?: unknown }) => Number.isSafeInteger(m?.id) && (m.id as number) > 0 && short(m.peer, 1024));
  if (joined != null && !(Number.isSafeInteger(joined.id) && (joined.id as number) > 0 && memberList(joined.founders) && memberList(joined.members)
    && Number.isSafeInteger(joined.replicationFactor) && Number.isSafeInteger(joined.partitions))) throw new ProtocolError('bad INFO joined');
  const refusal = info.refusal as { code?: unknown; message?: unknown } | null | undefined;
  if (refusal != null && !(short(refusal.code, 64) && short(refusal.message, 2048))) throw new ProtocolError('bad INFO refusal');
  return {
    url: info.url, peer: info.peer, probe: info.probe, founders: info.founders ?? null, members: members ?? null, partitions: info.partitions ?? null, formedAgoMs: info.formedAgoMs ?? null, seen: info.seen ?? null, stopping: info.stopping ?? null,
    join: (join ?? null) as JoinRequest | null, joined: (joined ?? null) as JoinAnswer | null, refusal: (refusal ?? null) as MemberInfo['refusal'],
  };
}

export function encodeHello(nodeId: NodeId, nonce: Uint8Array, clusterId: string): Buffer {
  const id = Buffer.from(clusterId, 'utf8');
  if (nonce.byteLength !== NONCE_BYTES || id.byteLength > MAX_CLUSTER_ID_BYTES) throw new ProtocolError('bad HELLO fields');
  const frame = Buffer.allocUnsafe(13 + NONCE_BYTES + id.byteLength);
  frame.writeUInt32BE(frame.byteLength - 4, 0);
  frame.writeUInt8(FRAME_HELLO, 4);
  frame.writeUInt32BE(HELLO_MAGIC, 5);
  frame.writeUInt32BE(nodeId, 9);
  frame.set(nonce, 13);
  id.copy(frame, 13 + NONCE_BYTES);
  return frame;
}

export function encodeProof(proof: Uint8Array): Buffer {
  if (proof.byteLength !== PROOF_BYTES) throw new ProtocolError('bad PROOF length');
  const frame = Buffer.allocUnsafe(5 + PROOF_BYTES);
  frame.writeUInt32BE(1 + PROOF_BYTES, 0);
  frame.writeUInt8(FRAME_PROOF, 4);
  frame.set(proof, 5);
  return frame;
}

export function encodeRaftFrame(groupId: number, message: Message): Buffer {
  const body = encodeMessage(message);
  if (body.byteLength + 5 > MAX_PEER_FRAME_BYTES) throw new ProtocolError(`message of ${body.byteLength} bytes exceeds the frame limit`);
  const header = Buffer.allocUnsafe(9);
  header.writeUInt32BE(body.byteLength + 5, 0);
  header.writeUInt8(FRAME_RAFT, 4);
  header.writeUInt32BE(groupId, 5);
  return Buffer.concat([header, body]);
}


function decodeFrame(kind: number, payload: Buffer): Frame {
  if (kind === FRAME_HELLO) {
    const fixed = 8 + NONCE_BYTES;
    if (payload.byteLength < fixed || payload.byteLength > fixed + MAX_CLUSTER_ID_BYTES || payload.readUInt32BE(0) !== HELLO_MAGIC) {
      throw new ProtocolError('bad HELLO frame (not a Flo peer, or a different protocol version)');
    }
    let clusterId: string;
    try {
      clusterId = STRICT_UTF8.decode(payload.subarray(fixed));
    } catch {
      throw new ProtocolError('HELLO cluster id is not UTF-8');
    }
    return { kind, nodeId: payload.readUInt32BE(4), nonce: payload.subarray(8, fixed), clusterId };
  }
  if (kind === FRAME_PROOF) {
    if (payload.byteLength !== PROOF_BYTES) throw new ProtocolError('bad PROOF frame');
    return { kind, proof: payload };
  }
  if (kind === FRAME_RAFT) {
    if (payload.byteLength < 4) throw new ProtocolError('RAFT frame without group id');
    try {
      return { kind, groupId: payload.readUInt32BE(0), message: decodeMessage(payload.subarray(4)) };
    } catch (error) {
      if (error instanceof CodecError) throw new ProtocolError(`malformed raft message: ${error.message}`);
      throw error;
    }
  }
  if (kind === FRAME_INFO) return { kind, info: decodeInfo(payload) };
  if (kind === FRAME_REQUEST) {
    if (payload.byteLength < 4) throw new ProtocolError('REQUEST frame without id');
    return { kind, requestId: payload.readUInt32BE(0), payload: payload.subarray(4) };
  }
  if (kind === FRAME_REPLY) {
    if (payload.byteLength < 5 || payload.readUInt8(4) > 1) throw new ProtocolError('bad REPLY frame');
    return { kind, requestId: payload.readUInt32BE(0), ok: payload.readUInt8(4) === 1, payload: payload.subarray(5) };
  }
  throw new ProtocolError(`unknown frame kind ${kind}`);
}

/** Splits a byte stream into frames. Feed it socket chunks; it returns the complete frames. */
/** The longest frame a connection may send before it has authenticated: a HELLO, a PROOF or an INFO. */
export const MAX_HANDSHAKE_FRAME_BYTES = 8 * 1024;

export class FrameDecoder {
  /** Received bytes not yet decoded, kept as chunks: a large frame is joined once, when complete. */
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private maxFrameBytes = MAX_PEER_FRAME_BYTES) {}

  /** Raises (or lowers) the frame limit: a connection gets the full limit only once authenticated. */
  setLimit(maxFrameBytes: number): void {
    this.maxFrameBytes = maxFrameBytes;
  }

  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.byteLength;
    const frames: Frame[] = [];
    for (;;) {
      if (this.buffered < 4) break;
      const head = this.peek(4);
      const length = head.readUInt32BE(0);
      // Checked before the frame is buffered: a peer cannot make us hold more than the limit.
      if (length < 1 || length > this.maxFrameBytes) throw new ProtocolError(`frame length ${length} out of range`);
      if (this.buffered - 4 < length) break;
      const joined = this.take(4 + length);
      // Copy the payload out so a retained message does not pin the whole read buffer.
      frames.push(decodeFrame(joined.readUInt8(4), Buffer.from(joined.subarray(5))));
    }
    return frames;
  }

  get bufferedBytes(): number {
    return this.buffered;
  }

  /** The first `bytes` buffered (joining chunks only as far as needed). */
  private peek(bytes: number): Buffer {
    if (this.chunks[0]!.byteLength < bytes) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!;
  }

  private take(bytes: number): Buffer {
    if (this.chunks[0]!.byteLength < bytes) this.chunks = [Buffer.concat(this.chunks)];
    const first = this.chunks[0]!;
    const taken = first.subarray(0, bytes);
    if (first.byteLength === bytes) this.chunks.shift();
    else this.chunks[0] = first.subarray(bytes);
    this.buffered -= bytes;
    return taken;
  }
}
