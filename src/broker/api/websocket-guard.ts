// What a WebSocket must be, before and after the upgrade. Before: only the
// WebSocket routes upgrade (any other route would hand out an open socket, even
// /healthz without a token), and a malformed handshake gets a problem body
// instead of ws's bare text. After: the bytes of a message still being received
// count against the broker-wide body budget, as an HTTP upload does, so slow
// near-maxPayload frames on many sockets cannot hold gigabytes.
import type { Socket } from 'node:net';
import type { FastifyRequest } from 'fastify';
import type {} from '@fastify/websocket';
import type { WebSocket } from 'ws';
import { REFUSED_SOCKET_GRACE_MS } from '../../common/bounds.js';
import { FloError } from '../../common/errors.js';
import type { BodyBudget } from './limits.js';

/** RFC 6455 §4.2.1: a base64 16-byte nonce, and the versions ws speaks. */
const WEBSOCKET_KEY = /^[+/0-9A-Za-z]{22}==$/;
const WEBSOCKET_VERSIONS = new Set(['8', '13']);
/** "Try Again Later" (RFC 6455 §7.4, IANA registry): the message did not fit the body budget. */
export const WS_CLOSE_OVERLOADED = 1013;

/** Throws a problem for an upgrade to a route that is no WebSocket, or a handshake ws would refuse with bare text. */
export function checkUpgrade(request: FastifyRequest, websocketRoutes: ReadonlySet<string>): void {
  if (!request.ws) return;
  const route = request.routeOptions.url;
  if (route === undefined || !websocketRoutes.has(route)) {
    throw new FloError('FLO_ERR_REQUEST_INVALID', `${route ?? 'this route'} is not a WebSocket; send it without "Upgrade: websocket"`);
  }
  const key = request.headers['sec-websocket-key'];
  const version = request.headers['sec-websocket-version'];
  if (typeof key !== 'string' || !WEBSOCKET_KEY.test(key.trim()) || typeof version !== 'string' || !WEBSOCKET_VERSIONS.has(version.trim())) {
    throw new FloError('FLO_ERR_REQUEST_INVALID', 'a WebSocket upgrade needs a Sec-WebSocket-Key (16 bytes in base64) and Sec-WebSocket-Version: 13');
  }
}

/** Bytes a client frame of this payload takes on the wire when unfragmented: never more than it really took. */
function frameBytes(payloadBytes: number): number {
  const length = payloadBytes < 126 ? 0 : payloadBytes < 65536 ? 2 : 8;
  return 2 + length + 4 + payloadBytes; // header, extended length, mask key (client frames are always masked), payload
}

/**
 * Reserves, from the body budget, the bytes read from the socket that are not yet
 * a whole message. ws emits each message synchronously inside its own 'data'
 * listener, which runs before this one, so `pending` may dip below zero within a
 * chunk; fragments and control frames the count does not see only overstate it.
 */
export function budgetWebSocketMessages(socket: WebSocket, raw: Socket, bodies: BodyBudget): void {
  let pending = 0;
  let reserved = 0;
  let refused = false;
  const settle = (): void => {
    const wanted = Math.max(0, pending);
    if (wanted < reserved) bodies.release(reserved - wanted);
    else if (wanted > reserved && !bodies.reserve(wanted - reserved)) {
      if (!refused) overloaded();
      return;
    }
    reserved = wanted;
  };
  const overloaded = (): void => {
    refused = true;
    raw.pause();
    raw.removeListener('data', onData);
    if (socket.readyState === socket.OPEN) socket.close(WS_CLOSE_OVERLOADED, 'the broker is receiving too many bytes at once; retry later');
    setTimeout(() => socket.terminate(), REFUSED_SOCKET_GRACE_MS).unref();
  };
  const onData = (chunk: Buffer): void => {
    pending += chunk.length;
    settle();
  };
  const onFrame = (data: Buffer | ArrayBuffer | Buffer[]): void => {
    const bytes = Array.isArray(data) ? data.reduce((sum, part) => sum + part.length, 0) : data.byteLength;
    pending -= frameBytes(bytes);
    settle();
  };
  raw.on('data', onData);
  socket.on('message', onFrame);
  socket.on('ping', onFrame);
  socket.on('pong', onFrame);
  socket.once('close', () => {
    raw.removeListener('data', onData);
    bodies.release(reserved);
    reserved = 0;
  });
}
