// What a failed produce batch means, decided in one place. A batch may be sent
// again — to another broker — only when it provably stored nothing: it never
// left the client, or a broker refused it with a code that says so. Anything
// else whose outcome is unknown (connection lost after sending, a timeout) is
// reported as such and never resent: resending could store it twice until the
// broker deduplicates by producer id and sequence (the idempotent producer).
import { FloError, type ErrorCode } from '../common/errors.js';
import type { SendFailure } from './produce-connection.js';

/** Codes with which a broker refuses a batch before storing any of it (503s). */
export const NOT_STORED_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['FLO_ERR_NOT_LEADER', 'FLO_ERR_UNAVAILABLE', 'FLO_ERR_SHUTTING_DOWN', 'FLO_ERR_OVERLOADED']);

export type FailureKind =
  /** Nothing was stored: the batch may go again, here or elsewhere. */
  | 'not-stored'
  /** The broker may or may not have stored it. */
  | 'unknown'
  /** The broker refused it for a reason another attempt would not change (bad input, auth…). */
  | 'refused';

export function classifyFailure(failure: SendFailure): FailureKind {
  const { error, sent } = failure;
  if (NOT_STORED_CODES.has(error.code)) return 'not-stored';
  if (!sent) return error.code === 'FLO_ERR_CONNECTION' || error.code === 'FLO_ERR_TIMEOUT' ? 'not-stored' : 'refused';
  return error.code === 'FLO_ERR_CONNECTION' || error.code === 'FLO_ERR_TIMEOUT' || error.code === 'FLO_ERR_OUTCOME_UNKNOWN' ? 'unknown' : 'refused';
}

/**
 * The seam for the idempotent producer. Today no batch carries a producer id and sequence, so a
 * batch whose outcome is unknown is never resent. Once the broker deduplicates by (producer id,
 * sequence), a policy that answers true for batches carrying them lets the producer resend those
 * exactly like a batch that provably stored nothing.
 */
export interface UnknownOutcomePolicy {
  mayResendAfterUnknownOutcome(batch: { readonly producerId?: bigint; readonly firstSequence?: number }): boolean;
}

export const NO_IDEMPOTENCE: UnknownOutcomePolicy = { mayResendAfterUnknownOutcome: () => false };

/**
 * A produce whose outcome is unknown: the broker may have stored the events or not. The code is
 * the underlying one (FLO_ERR_CONNECTION or FLO_ERR_TIMEOUT); `outcomeUnknown` tells it apart
 * from a failure that stored nothing. Read the stream before producing again to avoid a duplicate.
 */
export class ProduceOutcomeUnknownError extends FloError {
  override name = 'ProduceOutcomeUnknownError';
  readonly outcomeUnknown = true;

  constructor(readonly brokerUrl: string, cause: FloError) {
    super(cause.code, `outcome unknown: the broker at ${brokerUrl} may or may not have stored the events, and they were not resent (${cause.message})`, { cause });
  }
}
