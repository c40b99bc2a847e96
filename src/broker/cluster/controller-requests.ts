// Membership commands sent to the controller's leader over the peer connection
// (REQUEST kind 4, beside forwarded appends (1), fetches (2) and group commits
// (3)): [u8 kind][JSON command]; the reply is the JSON outcome.
import { FloError } from '../../common/errors.js';
import { decodeControllerCommand, encodeControllerCommand, type ControllerCommand, type ControllerOutcome } from './controller-machine.js';

const KIND_CONTROLLER = 4;

export function encodeControllerRequest(command: ControllerCommand): Buffer {
  return Buffer.concat([Buffer.of(KIND_CONTROLLER), encodeControllerCommand(command)]);
}

export function isControllerRequest(payload: Buffer): boolean {
  return payload.byteLength > 1 && payload.readUInt8(0) === KIND_CONTROLLER;
}

export function decodeControllerRequest(payload: Buffer): ControllerCommand {
  try {
    return decodeControllerCommand(payload.subarray(1));
  } catch {
    throw new FloError('FLO_ERR_PROTOCOL', 'malformed controller request');
  }
}

export function encodeControllerReply(outcome: ControllerOutcome): Buffer {
  return Buffer.from(JSON.stringify(outcome), 'utf8');
}

export function decodeControllerReply(payload: Buffer): ControllerOutcome {
  let parsed: Partial<{ ok: boolean; id: number; reason: string; code: string; index: number }>;
  try {
    parsed = JSON.parse(payload.toString('utf8')) as typeof parsed;
  } catch {
    throw new FloError('FLO_ERR_PROTOCOL', 'malformed controller reply');
  }
  const index = Number.isSafeInteger(parsed.index) && parsed.index! > 0 ? { index: parsed.index! } : {};
  if (parsed.ok === true && Number.isSafeInteger(parsed.id)) return { ok: true, id: parsed.id!, ...index };
  if (parsed.ok === false && typeof parsed.reason === 'string' && (parsed.code === 'FLO_ERR_MEMBER_NOT_FOUND' || parsed.code === 'FLO_ERR_MEMBERSHIP_REFUSED')) {
    return { ok: false, code: parsed.code, reason: parsed.reason, ...index };
  }
  throw new FloError('FLO_ERR_PROTOCOL', 'malformed controller reply');
}
