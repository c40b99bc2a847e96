// Plain HTTP calls of the client: JSON in, JSON out, problem bodies turned into
// FloErrors with the broker's code, unreachable brokers into FLO_ERR_CONNECTION.
import { FloError, isErrorCode } from '../common/errors.js';

export interface RequestOptions {
  method?: string;
  body?: unknown;
  timeoutMs: number;
}

export async function requestJson<T>(baseUrl: string, path: string, options: RequestOptions): Promise<T> {
  let response: Response;
  try {
    response = await fetch(new URL(path, baseUrl), {
      method: options.method ?? 'GET',
      headers: options.body === undefined ? {} : { 'content-type': 'application/json' },
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: AbortSignal.timeout(options.timeoutMs),
    });
  } catch (error) {
    throw connectionError(baseUrl, error);
  }
  const text = await response.text();
  if (!response.ok) throw problemToError(text, response.status);
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new FloError('FLO_ERR_PROTOCOL', `${baseUrl}${path} answered ${response.status} with a body that is not JSON`);
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

export function connectionError(baseUrl: string, error: unknown): FloError {
  if (error instanceof FloError) return error;
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const name = (error as Error).name;
  if (name === 'TimeoutError') return new FloError('FLO_ERR_TIMEOUT', `no answer from ${baseUrl} in time`, { cause: error });
  const reason = cause?.code ?? cause?.message ?? (error as Error).message;
  return new FloError('FLO_ERR_CONNECTION', `cannot reach the broker at ${baseUrl} (${reason}); is it running? (set --url or FLO_URL)`, { cause: error });
}

export function toWebSocketUrl(baseUrl: string, path: string, query: Record<string, string | undefined>): string {
  const url = new URL(path, baseUrl);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  for (const [key, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(key, value);
  return url.toString();
}
