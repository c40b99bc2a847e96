// Plain HTTP against a broker, as any client would speak it: every answer is
// kept with its status and body, and a request that gets no answer in time is
// reported as a hang rather than thrown, so a test can count what failed how.
import type { EventJson } from '../../src/client/index.js';

export interface Answer {
  /** HTTP status, or 'hang' (no answer in time) / 'refused' (no connection). */
  status: number | 'hang' | 'refused';
  contentType: string;
  body: unknown;
  elapsedMs: number;
}

/** No answer in this time is a hang: the cluster promises 503 within ~5 s. */
export const ANSWER_TIMEOUT_MS = 15_000;

export async function request(url: string, init: RequestInit = {}): Promise<Answer> {
  const started = Date.now();
  try {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS) });
    const text = await response.text();
    const contentType = response.headers.get('content-type') ?? '';
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // Not JSON: kept as text, which the test will name.
    }
    return { status: response.status, contentType, body, elapsedMs: Date.now() - started };
  } catch (error) {
    const name = (error as Error).name;
    return { status: name === 'TimeoutError' ? 'hang' : 'refused', contentType: '', body: String(error), elapsedMs: Date.now() - started };
  }
}

export function postEvents(brokerUrl: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  return request(`${brokerUrl}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

export interface Page {
  events: EventJson[];
  cursor: string;
  endOfStream: boolean;
}

/** GET /v1/events page by page until the end of the log; throws on any non-200. */
export async function readAll(brokerUrl: string, options: { namespace?: string; from?: string; limit?: number } = {}): Promise<Page> {
  const events: EventJson[] = [];
  let from = options.from ?? 'earliest';
  for (let pages = 0; pages < 10_000; pages++) {
    const query = new URLSearchParams({ from, limit: String(options.limit ?? 1000) });
    if (options.namespace !== undefined) query.set('namespace', options.namespace);
    const answer = await request(`${brokerUrl}/v1/events?${query}`);
    if (answer.status !== 200) throw new Error(`GET /v1/events on ${brokerUrl}: ${answer.status} ${JSON.stringify(answer.body)}`);
    const page = answer.body as Page;
    events.push(...page.events);
    from = page.cursor;
    if (page.endOfStream) return { events, cursor: page.cursor, endOfStream: true };
  }
  throw new Error(`GET /v1/events on ${brokerUrl} did not reach the end in 10,000 pages`);
}

/** A problem the cluster may answer while a leader is missing: 503, JSON, retryable. */
export function isRetryableUnavailable(answer: Answer): boolean {
  const body = answer.body as { status?: number; code?: string; retryable?: boolean } | undefined;
  return answer.status === 503 && answer.contentType.startsWith('application/problem+json')
    && typeof body === 'object' && body !== null && body.retryable === true && typeof body.code === 'string';
}

/** "503 FLO_ERR_UNAVAILABLE", "hang", "500 FLO_ERR_INTERNAL": one label per kind of failure, for counting. */
export function failureLabel(answer: Answer): string {
  const code = (answer.body as { code?: string } | undefined)?.code;
  return typeof code === 'string' ? `${answer.status} ${code}` : String(answer.status);
}

/** Partition by partition, in offset order (an id sorts as partition, then offset): a page starts at a rotating partition, so two reads may interleave partitions differently. */
export function byPartition<T extends { id: string }>(events: readonly T[]): T[] {
  return [...events].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
