// Produce to any broker: a partition's appends that reach a broker which does not
// lead it are sent, over the authenticated peer connection, to the broker that
// does, which proposes them as its own and answers with their offsets. The wire
// form is one REQUEST per command-sized chunk:
//   FORWARD: [u8 1][u16 partition][AppendCommand as commands.ts encodes it]
//   reply:   [u32 count][count × f64 offset]
//   COMMAND: [u8 3][u16 partition][a command to propose as it is: a consumer group's commit]; reply empty
// Whether a failed call may be retried elsewhere is decided here, once: only when
// the request provably never led to a proposal (not sent, or refused before it was
// proposed, or lost in a leader change, which Raft guarantees is never committed).
import { FloError, type ErrorCode } from '../../common/errors.js';
import { COMMAND_APPEND, decodeCommand, type AppendCommand } from '../partitions/commands.js';
import type { NodeId } from '../raft/messages.js';
import { PeerRequestError, type TcpTransport } from '../transport/tcp-transport.js';

const KIND_FORWARD = 1;
const KIND_COMMAND = 3;
/** How long a forwarded append may take at the leader before its outcome is reported unknown. */
export const FORWARD_TIMEOUT_MS = 10_000;

export function encodeForward(partition: number, command: Uint8Array): Buffer {
  const header = Buffer.allocUnsafe(3);
  header.writeUInt8(KIND_FORWARD, 0);
  header.writeUInt16BE(partition, 1);
  return Buffer.concat([header, command]);
}

export function decodeForward(payload: Buffer): { partition: number; command: AppendCommand } {
  if (payload.byteLength < 3 || payload.readUInt8(0) !== KIND_FORWARD) throw new FloError('FLO_ERR_PROTOCOL', 'not a forwarded append');
  const command = decodeCommand(payload.subarray(3));
  if (command.kind !== COMMAND_APPEND) throw new FloError('FLO_ERR_PROTOCOL', 'a forwarded command must be an append');
  return { partition: payload.readUInt16BE(1), command };
}

export function encodeForwardedCommand(partition: number, command: Uint8Array): Buffer {
  const header = Buffer.allocUnsafe(3);
  header.writeUInt8(KIND_COMMAND, 0);
  header.writeUInt16BE(partition, 1);
  return Buffer.concat([header, command]);
}

export function isForwardedCommand(payload: Buffer): boolean {
  return payload.byteLength >= 3 && payload.readUInt8(0) === KIND_COMMAND;
}

export function decodeForwardedCommand(payload: Buffer): { partition: number; command: Buffer } {
  if (!isForwardedCommand(payload)) throw new FloError('FLO_ERR_PROTOCOL', 'not a forwarded command');
  return { partition: payload.readUInt16BE(1), command: payload.subarray(3) };
}

export function encodeOffsets(offsets: Float64Array): Buffer {
  const out = Buffer.allocUnsafe(4 + offsets.length * 8);
  out.writeUInt32BE(offsets.length, 0);
  for (let i = 0; i < offsets.length; i++) out.writeDoubleBE(offsets[i]!, 4 + i * 8);
  return out;
}

export function decodeOffsets(payload: Buffer, expected: number): Float64Array {
  if (payload.byteLength < 4 || payload.readUInt32BE(0) !== expected || payload.byteLength !== 4 + expected * 8) {
    throw new FloError('FLO_ERR_PROTOCOL', `the leader answered a forward of ${expected} events with something else`);
  }
  const offsets = new Float64Array(expected);
  for (let i = 0; i < expected; i++) offsets[i] = payload.readDoubleBE(4 + i * 8);
  return offsets;
}

/** Codes with which a leader refuses a forward before proposing it: nothing of it can be stored. */
const REFUSED_UNPROPOSED: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['FLO_ERR_NOT_LEADER', 'FLO_ERR_SHUTTING_DOWN']);

/** Whether retrying a failed forward (at the same or another broker) cannot store its events twice. */
export function safeToRetry(error: unknown): boolean {
  if (!(error instanceof PeerRequestError)) return false;
  return !error.delivered || REFUSED_UNPROPOSED.has(error.code);
}

/** Sends one chunk of appends to the partition's leader; resolves with the offsets the leader gave them. */
export async function forwardAppend(transport: TcpTransport, leader: NodeId, partition: number, command: Uint8Array, events: number): Promise<Float64Array> {
  let reply: Buffer;
  try {
    reply = await transport.request(leader, encodeForward(partition, command), FORWARD_TIMEOUT_MS);
  } catch (error) {
    // Sent, then the connection went or no answer came: say so in the one code that means it.
    // And a leader whose store failed under it cannot say what its members did with what it had sent them.
    if (error instanceof PeerRequestError && error.delivered && (error.code === 'FLO_ERR_CONNECTION' || error.code === 'FLO_ERR_TIMEOUT' || error.code === 'FLO_ERR_STORAGE_FAILED')) {
      throw new PeerRequestError('FLO_ERR_OUTCOME_UNKNOWN', `partition ${partition}: ${error.message}`, true);
    }
    throw error;
  }
  return decodeOffsets(reply, events);
}
