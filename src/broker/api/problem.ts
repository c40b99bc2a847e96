// The one place where errors become HTTP problem bodies (RFC 9457). A FloError
// keeps its code and status; fastify's own client errors (schema, body size,
// media type, bad JSON) become 4xx problems; anything else is a logged 500
// whose detail never leaks a stack trace. Server-side failures (500) never
// show a file path either: a storage error names the file it failed on, and
// the data dir's location is nobody's business but the operator's (it is in the log).
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
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

export async function sendProblem(request: FastifyRequest, reply: FastifyReply, error: unknown): Promise<void> {
  const floError = toFloError(error);
  if (floError.code === 'FLO_ERR_INTERNAL' || floError.code === 'FLO_ERR_STORAGE') request.log.error({ err: error }, 'request failed');
  else request.log.debug({ code: floError.code }, 'request refused');
  if (floError.code === 'FLO_ERR_UNAUTHENTICATED') void reply.header('www-authenticate', 'Bearer realm="flo"');
  await reply.status(floError.status).type(PROBLEM_MEDIA_TYPE).send(problemOf(floError, request.url.split('?')[0]));
}
