// Plain HTTP calls of the client: JSON in, JSON out, problem bodies turned into
// FloErrors with the broker's code, unreachable brokers into FLO_ERR_CONNECTION.
// Every request carries the bearer token when one is set, and its deadline is a
// referenced timer: a request in flight keeps the process alive until it is
// answered or times out, so a program never exits silently in the middle of one.
import type WebSocket from 'ws';
import { FloError, isErrorCode } from '../common/errors.js';

export interface RequestOptions {
  method?: string;
  body?: unknown;
  timeoutMs: number;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
}

/**
 * The broker URL as the client uses it: `localhost:3000` and `//host:port`
 * mean http://; only http and https are accepted; trailing slashes are dropped.
 */
export function normalizeBrokerUrl(input: string): string {
  const trimmed = input.trim();
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `http://${trimmed.replace(/^\/\//, '')}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new FloError('FLO_ERR_REQUEST_INVALID', `"${input}" is not a broker URL; expected e.g. http://127.0.0.1:3000`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new FloError('FLO_ERR_REQUEST_INVALID', `broker URL "${input}" must start with http:// or https://, e.g. http://127.0.0.1:3000`);
  }
  // A path prefix is kept (a broker behind a proxy at /flo); one that names the API itself doubles it (/v1/v1/...).
  if (/(^|\/)v1(\/|$)/.test(url.pathname.slice(1))) {
    throw new FloError('FLO_ERR_REQUEST_INVALID', `broker URL "${input}" includes the API path (${url.pathname}): give the broker's base URL, e.g. ${url.origin}`);
  }
  return url.toString().replace(/\/+$/, '');
}

/**
 * Several broker URLs: an array, or one string with URLs separated by commas
 * (as --url and FLO_URL take them); each normalised, duplicates dropped, order kept.
 */
export function normalizeBrokerUrls(input: string | readonly string[]): string[] {
  const parts = (typeof input === 'string' ? input.split(',') : input.flatMap((url) => url.split(','))).filter((part) => part.trim() !== '');
  if (parts.length === 0) throw new FloError('FLO_ERR_REQUEST_INVALID', 'no broker URL given; expected e.g. http://127.0.0.1:3000 or a comma-separated list');
  return [...new Set(parts.map(normalizeBrokerUrl))];
}

/** Headers every request and WebSocket upgrade carries. */
export function authHeaders(token: string | undefined): Record<string, string> {
  return token === undefined || token === '' ? {} : { authorization: `Bearer ${token}` };
}

export async function requestJson<T>(baseUrl: string, path: string, options: RequestOptions): Promise<T> {
  const aborter = new AbortController();
  const deadline = setTimeout(() => aborter.abort(new FloError('FLO_ERR_TIMEOUT', `no answer from ${baseUrl} in ${options.timeoutMs} ms`)), options.timeoutMs);
  try {
    let response: Response;
    let text: string;
    try {
      response = await fetch(new URL(path, baseUrl), {
        method: options.method ?? 'GET',
        headers: { ...authHeaders(options.token), ...(options.body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: aborter.signal,
      });
      text = await response.text();
    } catch (error) {
      throw connectionError(baseUrl, aborter.signal.aborted ? aborter.signal.reason : error);
    }
    if (!response.ok) throw problemToError(text, response.status);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new FloError('FLO_ERR_PROTOCOL', `${baseUrl}${path} answered ${response.status} with a body that is not JSON`);
    }
  } finally {
    clearTimeout(deadline);
  }
}

export function problemToError(body: string, status: number): FloError {
  try {
    const problem = JSON.parse(body) as { code?: unknown; detail?: unknown };
    if (isErrorCode(problem.code)) return new FloError(problem.code, String(problem.detail ?? problem.code), { status });
  } catch {
    // not a problem body: fall through to a generic error
  }
  return new FloError(status >= 500 ? 'FLO_ERR_INTERNAL' : 'FLO_ERR_REQUEST_INVALID', `broker answered HTTP ${status}: ${body.slice(0, 200)}`, { status });
}

/** The system code (ECONNREFUSED, ENOTFOUND…) of a failed fetch or socket: fetch puts it on the cause, ws on the error. */
export function socketErrorCode(error: unknown): string | undefined {
  if (error === undefined || error === null) return undefined;
  return (error as { cause?: { code?: string } }).cause?.code ?? (error as { code?: string }).code;
}

export function connectionError(baseUrl: string, error: unknown): FloError {
  if (error instanceof FloError) return error;
  const reason = socketErrorCode(error) ?? (error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message;
  return new FloError('FLO_ERR_CONNECTION', `cannot reach the broker at ${baseUrl} (${reason}); is it running? (set --url or FLO_URL)`, { cause: error });
}

/**
 * When the broker refuses a WebSocket upgrade (e.g. 401 without a valid token),
 * hands over its problem as a FloError rather than ws's "Unexpected server response".
 */
export function onUpgradeRefused(socket: WebSocket, handle: (error: FloError) => void): void {
  socket.on('unexpected-response', (request, response) => {
    let body = '';
    response.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    response.on('end', () => {
      handle(problemToError(body, response.statusCode ?? 500));
      request.destroy();
    });
  });
}

export function toWebSocketUrl(baseUrl: string, path: string, query: Record<string, string | undefined>): string {
  const url = new URL(path, baseUrl);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  for (const [key, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(key, value);
  return url.toString();
}
