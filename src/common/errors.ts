// The one catalogue of operational errors. Every FloError carries a stable code,
// the HTTP status it maps to and whether retrying can help; the API turns it into
// an RFC 9457 problem body in one place, the CLI into one line and an exit code.

export interface ErrorSpec {
  readonly status: number;
  readonly title: string;
  readonly retryable: boolean;
}

export const ERROR_CATALOGUE = {
  FLO_ERR_REQUEST_INVALID: { status: 400, title: 'Invalid request', retryable: false },
  FLO_ERR_NAMESPACE_INVALID: { status: 400, title: 'Invalid namespace', retryable: false },
  FLO_ERR_GLOB_INVALID: { status: 400, title: 'Invalid namespace glob', retryable: false },
  FLO_ERR_POSITION_INVALID: { status: 400, title: 'Invalid start position', retryable: false },
  FLO_ERR_EVENT_ID_INVALID: { status: 400, title: 'Invalid event id', retryable: false },
  FLO_ERR_RETENTION_INVALID: { status: 400, title: 'Invalid retention policy', retryable: false },
  FLO_ERR_UNAUTHENTICATED: { status: 401, title: 'Authentication required', retryable: false },
  FLO_ERR_FORBIDDEN: { status: 403, title: 'Forbidden', retryable: false },
  FLO_ERR_REQUEST_TIMEOUT: { status: 408, title: 'Request not received in time', retryable: true },
  FLO_ERR_EVENT_TOO_LARGE: { status: 413, title: 'Event too large', retryable: false },
  FLO_ERR_BATCH_TOO_LARGE: { status: 413, title: 'Batch too large', retryable: false },
  FLO_ERR_EVENT_NOT_FOUND: { status: 404, title: 'Event not found', retryable: false },
  FLO_ERR_GROUP_NOT_FOUND: { status: 404, title: 'Consumer group not found', retryable: false },
  FLO_ERR_ROUTE_NOT_FOUND: { status: 404, title: 'No such route', retryable: false },
  FLO_ERR_SEQUENCE_STALE: { status: 409, title: 'Producer sequence already used', retryable: false },
  FLO_ERR_MEMBER_NOT_FOUND: { status: 404, title: 'No such cluster member', retryable: false },
  FLO_ERR_MEMBERSHIP_REFUSED: { status: 409, title: 'Membership change refused', retryable: false },
  FLO_ERR_MEDIA_TYPE_UNSUPPORTED: { status: 415, title: 'Unsupported media type', retryable: false },
  FLO_ERR_OVERLOADED: { status: 503, title: 'Broker overloaded', retryable: true },
  FLO_ERR_SUBSCRIBER_TOO_SLOW: { status: 503, title: 'Subscriber too slow', retryable: true },
  FLO_ERR_SHUTTING_DOWN: { status: 503, title: 'Broker shutting down', retryable: true },
  FLO_ERR_NOT_LEADER: { status: 503, title: 'Not the leader', retryable: true },
  FLO_ERR_OUTCOME_UNKNOWN: { status: 503, title: 'Outcome unknown: the append may or may not be stored', retryable: true },
  FLO_ERR_UNAVAILABLE: { status: 503, title: 'Partition unavailable (no leader with a quorum)', retryable: true },
  FLO_ERR_STORAGE: { status: 500, title: 'Storage failure', retryable: true },
  FLO_ERR_STORAGE_FAILED: { status: 503, title: 'Storage failed: writes stopped until a restart', retryable: false },
  FLO_ERR_STORAGE_CORRUPT: { status: 500, title: 'Stored data is damaged', retryable: false },
  FLO_ERR_INTERNAL: { status: 500, title: 'Internal error', retryable: true },
  FLO_ERR_CONFIG_INVALID: { status: 500, title: 'Invalid configuration', retryable: false },
  FLO_ERR_DATA_DIR_MISMATCH: { status: 500, title: 'Data directory does not match configuration', retryable: false },
  FLO_ERR_ADDRESS_IN_USE: { status: 500, title: 'Address already in use', retryable: false },
  FLO_ERR_CONNECTION: { status: 503, title: 'Cannot reach the broker', retryable: true },
  FLO_ERR_PROTOCOL: { status: 502, title: 'Malformed message from peer', retryable: false },
  FLO_ERR_TIMEOUT: { status: 504, title: 'Timed out', retryable: true },
  FLO_ERR_CLOSED: { status: 499, title: 'Closed by the caller', retryable: false },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export class FloError extends Error {
  override name = 'FloError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;

  constructor(code: ErrorCode, detail: string, options?: { cause?: unknown; status?: number }) {
    super(detail, options?.cause === undefined ? undefined : { cause: options.cause });
    const spec: ErrorSpec = ERROR_CATALOGUE[code];
    this.code = code;
    this.status = options?.status ?? spec.status;
    this.retryable = spec.retryable;
  }

  get title(): string {
    return ERROR_CATALOGUE[this.code].title;
  }
}

export function isFloError(error: unknown): error is FloError {
  return error instanceof FloError;
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CATALOGUE, value);
}
