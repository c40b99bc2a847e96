// A produce request whose events went to several partitions, some of which
// failed: the events of the others are stored, and the caller must be told
// which, so a retry resends only what failed (or, with a producer id, resends
// the whole request and is answered with the first ids for what was stored).
import { FloError } from '../common/errors.js';

export interface AppendPositions {
  readonly partitions: Uint16Array;
  readonly offsets: Float64Array;
}

export interface AppendFailure {
  /** The event's place in the request. */
  readonly index: number;
  readonly error: FloError;
}

export class PartialAppendError extends FloError {
  /** `result` holds the positions of every event not named in `failures`. */
  constructor(readonly result: AppendPositions, readonly failures: readonly AppendFailure[]) {
    const first = failures[0]!.error;
    const total = result.offsets.length;
    super(first.code, `${total - failures.length} of ${total} events stored; ${failures.length} failed, first at event ${failures[0]!.index}: ${first.message}`);
  }

  /** Whether event `index` was stored. */
  stored(index: number): boolean {
    return !this.failures.some((failure) => failure.index === index);
  }
}

/** Any rejection as a FloError (partitions reject with FloErrors; anything else is internal). */
export function asFloError(error: unknown): FloError {
  return error instanceof FloError ? error : new FloError('FLO_ERR_INTERNAL', error instanceof Error ? error.message : String(error), { cause: error });
}
