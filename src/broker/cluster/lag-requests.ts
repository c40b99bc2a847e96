// Which replicas lag, asked of the brokers that lead their groups (REQUEST kind 6,
// beside forwarded appends (1), fetches (2), group commits (3), controller commands
// (4) and ReadIndex (5)): only a group's leader knows how far each replica's log
// matches, so a broker answering /v1/cluster/health asks every other member for the
// lagging replicas of the groups it leads. Request [u8 6]; reply
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

export function encodeLaggingRequest(): Buffer {
  return Buffer.from([KIND_LAGGING]);
}

export function isLaggingRequest(payload: Buffer): boolean {
  return payload.byteLength === 1 && payload.readUInt8(0) === KIND_LAGGING;
}

export function encodeLaggingReply(rows: readonly LaggingReplica[]): Buffer {
  const out = Buffer.allocUnsafe(4 + rows.length * ROW_BYTES);
  out.writeUInt32BE(rows.length, 0);
  rows.forEach((row, i) => {
    const at = 4 + i * ROW_BYTES;
    out.writeUInt32BE(row.group, at);
    out.writeUInt32BE(row.member, at + 4);
    out.writeDoubleBE(row.behind, at + 8);
  });
  return out;
}

export function decodeLaggingReply(payload: Buffer): LaggingReplica[] {
  const count = payload.byteLength >= 4 ? payload.readUInt32BE(0) : -1;
  if (count < 0 || payload.byteLength !== 4 + count * ROW_BYTES) throw new FloError('FLO_ERR_PROTOCOL', 'malformed lagging-replicas reply');
  const rows: LaggingReplica[] = [];
  for (let i = 0; i < count; i++) {
    const at = 4 + i * ROW_BYTES;
    rows.push({ group: payload.readUInt32BE(at), member: payload.readUInt32BE(at + 4), behind: payload.readDoubleBE(at + 8) });
  }
  return rows;
}
