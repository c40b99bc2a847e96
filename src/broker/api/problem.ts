// The one place where errors become HTTP problem bodies (RFC 9457). A FloError
// keeps its code and status; fastify's own client errors (schema, body size,
// media type, bad JSON) become 4xx problems; anything else is a logged 500
// whose detail never leaks a stack trace. Server-side failures (500) never
// show a file path either: a storage error names the file it failed on, and
// the data dir's location is nobody's business but the operator's (it is in the log).
import { STATUS_CODES } from 'node:http';
import type { FastifyBaseLogger, FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { FloError, isFloError, type ErrorCode } from '../../common/errors.js';

export const PROBLEM_MEDIA_TYPE = 'application/problem+json';

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  retryable: boolean;
  instance?: string;
}

/** Absolute file paths of two or more segments (`/var/lib/flo/data/000005.log`). */
const FILE_PATH = /(?<![\w/])\/(?:[^\s'"`:,;()[\]{}<>/]+\/)+[^\s'"`:,;()[\]{}<>/]*/g;

/** A 500 detail with file paths replaced by `<path>`; other details are the client's own input and stay. */
export function publicDetail(error: FloError): string {
  return error.status === 500 ? error.message.replace(FILE_PATH, '<path>') : error.message;
}

export function problemOf(error: FloError, instance?: string): ProblemBody {
  const body: ProblemBody = {
    type: `urn:flo:problem:${error.code}`,
    title: error.title,
    status: error.status,
    detail: publicDetail(error),
    code: error.code,
    retryable: error.retryable,
  };
  if (instance !== undefined) body.instance = instance;
  return body;
}

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'FLO_ERR_BATCH_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'FLO_ERR_MEDIA_TYPE_UNSUPPORTED',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'FLO_ERR_REQUEST_INVALID',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'FLO_ERR_REQUEST_INVALID',
  FST_ERR_CTP_INVALID_JSON_BODY: 'FLO_ERR_REQUEST_INVALID',
};

/** Maps any thrown value to a FloError; unexpected ones are marked internal. */
export function toFloError(error: unknown): FloError {
  if (isFloError(error)) return error;
  const fastifyError = error as Partial<FastifyError>;
  if (fastifyError.validation) return new FloError('FLO_ERR_REQUEST_INVALID', fastifyError.message ?? 'request does not match the schema');
  const mapped = fastifyError.code ? FASTIFY_CODES[fastifyError.code] : undefined;
  if (mapped) return new FloError(mapped, fastifyError.message ?? mapped);
  if (error instanceof SyntaxError) return new FloError('FLO_ERR_REQUEST_INVALID', `body is not valid JSON: ${error.message}`);
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    return new FloError('FLO_ERR_REQUEST_INVALID', fastifyError.message ?? 'bad request', { status: fastifyError.statusCode });
  }
  return new FloError('FLO_ERR_INTERNAL', 'the broker failed to handle this request; see its log', { cause: error });
}

/** Headers a problem of this code carries, on fastify replies and raw socket answers alike. */
function problemHeaders(error: FloError): Record<string, string> {
  if (error.code === 'FLO_ERR_UNAUTHENTICATED') return { 'www-authenticate': 'Bearer realm="flo"' };
  if (error.code === 'FLO_ERR_OVERLOADED') return { 'retry-after': '1' };
  return {};
}

/** The path of a request URL, without its query: a problem's `instance`. */
export function pathOf(url: string): string {
  return url.split('?')[0]!;
}

/**
 * The FloError of any thrown value, logged once: a server-side failure (500) at
 * error with its cause, a refusal at debug. Every path that answers a problem
 * (HTTP replies, produce and subscribe WebSocket frames, SSE) goes through here.
 */
export function reportedError(error: unknown, logger: FastifyBaseLogger): FloError {
  const floError = toFloError(error);
  if (floError.status === 500) logger.error({ err: error, code: floError.code }, 'request failed');
  else logger.debug({ code: floError.code }, 'request refused');
  return floError;
}

export async function sendProblem(request: FastifyRequest, reply: FastifyReply, error: unknown): Promise<void> {
  const floError = reportedError(error, request.log);
  await reply.status(floError.status).headers(problemHeaders(floError)).type(PROBLEM_MEDIA_TYPE).send(problemOf(floError, pathOf(request.url)));
}

/** A whole HTTP/1.1 response carrying the problem, for a socket fastify never saw (limits.ts); the connection is closed after it. */
export function rawProblemResponse(error: FloError): string {
  const body = JSON.stringify(problemOf(error));
  const headers = { 'content-type': PROBLEM_MEDIA_TYPE, 'content-length': String(Buffer.byteLength(body)), ...problemHeaders(error), connection: 'close' };
  const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  return `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? ''}\r\n${head}\r\n${body}`;
}
