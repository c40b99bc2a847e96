// Mutual authentication of a peer connection, before any Raft frame is accepted.
// Both sides prove they hold the cluster secret without sending it: each HELLO
// carries a fresh nonce, and each side answers with an HMAC over both nonces, both
// node ids and the cluster id, keyed by the secret and labelled by its role (so a
// proof cannot be reflected back). A different cluster id is refused before any
// proof is checked, so two clusters on one network never join by accident.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { NodeId } from '../raft/messages.js';
export { MAX_CLUSTER_ID_BYTES } from '../../common/bounds.js';

export const NONCE_BYTES = 16;
export const PROOF_BYTES = 32;

export interface PeerAuth {
  /** Names the cluster; brokers with different ids refuse each other. */
  readonly clusterId: string;
  /** Shared secret; without one any process that reaches the peer port and knows the cluster id is trusted. */
  readonly secret: Uint8Array | undefined;
}

export const OPEN_CLUSTER: PeerAuth = { clusterId: 'flo', secret: undefined };

export type HandshakeRole = 'dialer' | 'acceptor';

export interface HandshakeTranscript {
  readonly dialer: NodeId;
  readonly acceptor: NodeId;
  readonly dialerNonce: Uint8Array;
  readonly acceptorNonce: Uint8Array;
}

export function newNonce(): Buffer {
  return randomBytes(NONCE_BYTES);
}

/** The proof the side in `role` sends for this transcript. */
export function handshakeProof(auth: PeerAuth, role: HandshakeRole, transcript: HandshakeTranscript): Buffer {
  const mac = createHmac('sha256', auth.secret ?? Buffer.alloc(0));
  const ids = Buffer.allocUnsafe(8);
  ids.writeUInt32BE(transcript.dialer, 0);
  ids.writeUInt32BE(transcript.acceptor, 4);
  mac.update(`flo-peer-${role}\0${auth.clusterId}\0`);
  mac.update(ids);
  mac.update(transcript.dialerNonce);
  mac.update(transcript.acceptorNonce);
  return mac.digest();
}

/** Constant-time check of a proof received from the side in `role`. */
export function verifyProof(auth: PeerAuth, role: HandshakeRole, transcript: HandshakeTranscript, proof: Uint8Array): boolean {
  const expected = handshakeProof(auth, role, transcript);
  return proof.byteLength === expected.byteLength && timingSafeEqual(expected, proof);
}
