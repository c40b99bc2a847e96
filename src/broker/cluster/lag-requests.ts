// Which replicas lag, asked of the brokers that lead their groups (REQUEST kind 6,
// beside forwarded appends (1), fetches (2), group commits (3), controller commands
// (4) and ReadIndex (5)): only a group's leader knows how far each replica's log
// matches, so a broker answering /v1/cluster/health asks every other member for the
// lagging replicas of the groups it leads. The reply names the groups it leads too, so
// "leads it and nothing lags" is told apart from "no longer leads it" (leadership moving).
// Request [u8 6]; reply [u32 led] led × [u32 group]
// [u32 count] count × ([u32 group][u32 member][f64 entries behind the commit]).
import { FloError } from '../../common/errors.js';
import type { NodeId } from '../raft/messages.js';

const KIND_LAGGING = 6;
const ROW_BYTES = 16;

/** A voter the leader of `group` does not count as caught up. */
export interface LaggingReplica {
  readonly group: number;
  readonly member: NodeId;
  /** Entries between its match index and the leader's commit index (0 while the leader still probes it). */
  readonly behind: number;
}

/** A leader's answer: the groups it leads now, and their voters that lag. */
export interface LagAnswer {
  readonly led: readonly number[];
  readonly lagging: readonly LaggingReplica[];
}

export function encodeLaggingRequest(): Buffer {
  return Buffer.from([KIND_LAGGING]);
}

export function isLaggingRequest(payload: Buffer): boolean {
  return payload.byteLength === 1 && payload.readUInt8(0) === KIND_LAGGING;
}

export function encodeLaggingReply(answer: LagAnswer): Buffer {
  const rows = answer.lagging;
  const out = Buffer.allocUnsafe(8 + answer.led.length * 4 + rows.length * ROW_BYTES);
  let at = out.writeUInt32BE(answer.led.length, 0);
  for (const group of answer.led) at = out.writeUInt32BE(group, at);
  at = out.writeUInt32BE(rows.length, at);
  for (const row of rows) {
    at = out.writeUInt32BE(row.group, at);
    at = out.writeUInt32BE(row.member, at);
    at = out.writeDoubleBE(row.behind, at);
  }
  return out;
}

export function decodeLaggingReply(payload: Buffer): LagAnswer {
  const malformed = (): FloError => new FloError('FLO_ERR_PROTOCOL', 'malformed lagging-replicas reply');
  if (payload.byteLength < 8) throw malformed();
  const ledCount = payload.readUInt32BE(0);
  const rowsAt = 4 + ledCount * 4;
  if (payload.byteLength < rowsAt + 4) throw malformed();
  const count = payload.readUInt32BE(rowsAt);
  if (payload.byteLength !== rowsAt + 4 + count * ROW_BYTES) throw malformed();
  const led: number[] = [];
  for (let i = 0; i < ledCount; i++) led.push(payload.readUInt32BE(4 + i * 4));
  const lagging: LaggingReplica[] = [];
  for (let i = 0; i < count; i++) {
    const at = rowsAt + 4 + i * ROW_BYTES;
    lagging.push({ group: payload.readUInt32BE(at), member: payload.readUInt32BE(at + 4), behind: payload.readDoubleBE(at + 8) });
  }
  return { led, lagging };
}
