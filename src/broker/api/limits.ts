// What keeps one client from stalling the broker at the connection level:
// timeouts for receiving a request, a cap on open connections answered with a
// 503 problem, and problem bodies for the errors Node's HTTP parser raises
// before fastify sees a request (431 for huge URLs/headers, 408, 400).
import { maxHeaderSize, type Server, type ServerOptions } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { IncomingHttpHeaders } from 'node:http';
import {
  DEFAULT_HEADERS_TIMEOUT_MS,
  DEFAULT_MAX_BODY_BYTES_IN_FLIGHT,
  DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  MAX_PATH_PARAM_CHARS,
  MAX_REQUEST_BYTES,
  REFUSED_SOCKET_GRACE_MS,
} from '../../common/bounds.js';
import { FloError } from '../../common/errors.js';
import { rawProblemResponse } from './problem.js';

export interface ServerLimits {
  /** Time to receive one whole request (headers and body). */
  readonly requestTimeoutMs?: number | undefined;
  /** Time to receive a request's headers (capped at requestTimeoutMs). */
  readonly headersTimeoutMs?: number | undefined;
  readonly keepAliveTimeoutMs?: number | undefined;
  readonly maxConnections?: number | undefined;
  /** Bytes of request bodies received at once, by declared size. */
  readonly maxBodyBytesInFlight?: number | undefined;
}

/** Refuses limits that are not positive whole numbers (0 would mean "no limit" to Node). */
export function checkLimits(limits: ServerLimits): void {
  for (const [name, value] of Object.entries({ requestTimeoutMs: limits.requestTimeoutMs, headersTimeoutMs: limits.headersTimeoutMs, keepAliveTimeoutMs: limits.keepAliveTimeoutMs, maxConnections: limits.maxConnections, maxBodyBytesInFlight: limits.maxBodyBytesInFlight })) {
    if (value !== undefined && (!Number.isSafeInteger(value) || value <= 0)) throw new FloError('FLO_ERR_CONFIG_INVALID', `${name} must be a positive whole number, not ${String(value)}`);
  }
}

/**
 * The fastify/Node server options for the limits. The socket idle timeout
 * (`connectionTimeout`) stays off: a tailing SSE subscriber is legitimately idle
 * for hours, while slow or silent request senders are cut by the header and
 * request timeouts and idle keep-alive connections by keepAliveTimeout.
 */
export function serverOptions(limits: ServerLimits): { connectionTimeout: number; requestTimeout: number; keepAliveTimeout: number; routerOptions: { maxParamLength: number }; http: ServerOptions } {
  checkLimits(limits);
  const requestTimeout = limits.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const headersTimeout = Math.min(limits.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS, requestTimeout);
  return {
    connectionTimeout: 0,
    requestTimeout,
    keepAliveTimeout: limits.keepAliveTimeoutMs ?? DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
    routerOptions: { maxParamLength: MAX_PATH_PARAM_CHARS },
    // Node checks the timeouts on this interval (30 s by default), so a timeout is honoured within a quarter of itself.
    // requireHostHeader: Node's own 400 for an HTTP/1.1 request without Host has no body; app.ts answers a problem instead.
    http: { headersTimeout, connectionsCheckingInterval: Math.max(10, Math.min(30_000, Math.floor(headersTimeout / 4))), requireHostHeader: false },
  };
}

/** Node's 'clientError' (a request the parser refused or that timed out) answered with a problem body. */
export function clientErrorHandler(logger: Logger): (error: Error & { code?: string }, socket: Socket) => void {
  return (error, socket) => {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    let problem: FloError;
    if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') problem = new FloError('FLO_ERR_REQUEST_TIMEOUT', 'the request was not received in time; the connection is closed');
    else if (error.code === 'HPE_HEADER_OVERFLOW') problem = new FloError('FLO_ERR_REQUEST_INVALID', `the URL and headers exceed ${maxHeaderSize} bytes (node --max-http-header-size)`, { status: 431 });
    else problem = new FloError('FLO_ERR_REQUEST_INVALID', `malformed HTTP request (${error.code ?? 'parse error'})`);
    logger.debug({ peer: socket.remoteAddress, code: error.code }, 'client error');
    // Like Node's own handler: only answer when nothing of a response was written on this connection yet.
    if (socket.writable && socket.bytesWritten === 0) socket.write(rawProblemResponse(problem));
    socket.destroy();
  };
}

/**
 * Caps open connections: over the cap a new connection gets a 503 problem and is
 * closed before Node's HTTP parser ever sees it, so connections already open keep working.
 */
export function capConnections(server: Server, maxConnections: number | undefined, logger: Logger): void {
  const cap = maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  const httpListeners = server.listeners('connection') as Array<(socket: Socket) => void>;
  server.removeAllListeners('connection');
  let open = 0;
  let refusedSinceLog = 0;
  server.on('connection', (socket: Socket) => {
    if (open >= cap) {
      if (refusedSinceLog++ === 0) logger.warn({ maxConnections: cap, peer: socket.remoteAddress }, 'connection refused: too many open connections');
      refuse(socket, cap);
      return;
    }
    open++;
    refusedSinceLog = 0;
    socket.once('close', () => open--);
    for (const listener of httpListeners) listener.call(server, socket);
  });
}

function refuse(socket: Socket, cap: number): void {
  socket.on('error', () => socket.destroy());
  const error = new FloError('FLO_ERR_OVERLOADED', `the broker serves at most ${cap} connections; retry later`);
  socket.end(rawProblemResponse(error));
  socket.resume(); // read and drop whatever the client sends
  setTimeout(() => socket.destroy(), REFUSED_SOCKET_GRACE_MS).unref();
}

/**
 * Bounds the memory of bodies being received: each request reserves its declared
 * size before fastify reads a byte of it, and gives it back when its response is
 * done or its connection drops. Without it, many slow uploads just under the body
 * limit each hold up to 64 MiB until the request timeout. WebSocket messages being
 * received draw on the same budget (websocket-guard.ts).
 */
export class BodyBudget {
  private reservedBytes = 0;

  constructor(private readonly maxBytes = DEFAULT_MAX_BODY_BYTES_IN_FLIGHT) {}

  /** Reserves the body's size; returns the release, or undefined for a request without a body. Throws 503 when the budget is spent. */
  admit(headers: IncomingHttpHeaders): (() => void) | undefined {
    const declared = headers['content-length'] !== undefined ? Number(headers['content-length']) : headers['transfer-encoding'] !== undefined ? MAX_REQUEST_BYTES : 0;
    const bytes = Number.isFinite(declared) && declared > 0 ? Math.min(declared, MAX_REQUEST_BYTES) : 0;
    if (bytes === 0) return undefined;
    if (!this.reserve(bytes)) {
      throw new FloError('FLO_ERR_OVERLOADED', `the broker is receiving ${this.reservedBytes} bytes of request bodies (at most ${this.maxBytes}); retry later`);
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.release(bytes);
    };
  }

  /** Takes `bytes` from the budget if they fit (a WebSocket message being received, websocket-guard.ts). */
  reserve(bytes: number): boolean {
    if (this.reservedBytes + bytes > this.maxBytes) return false;
    this.reservedBytes += bytes;
    return true;
  }

  release(bytes: number): void {
    this.reservedBytes -= bytes;
  }

  get inFlightBytes(): number {
    return this.reservedBytes;
  }
}
