// Telling LevelDB's errors apart (damage, a held lock, anything else) for the
// start-up and read paths of the event store.

/**
 * Decided by the error code or LevelDB's own status prefix, never by words anywhere in the message:
 * a message also names the data dir, and a dir called /data/corrupt-tests or /clock is no evidence.
 */
export function isCorruption(error: unknown): boolean {
  return causeChain(error).some((at) => at.code === 'LEVEL_CORRUPTION' || at.message.startsWith('Corruption: '));
}

/**
 * A table file LevelDB cannot read: one cut short makes its reader fail with EINVAL ("IO error: <file>.ldb:
 * Invalid argument") rather than a corruption status. Named by LevelDB's prefix and the table's extension.
 */
export function isTableUnreadable(error: unknown): boolean {
  return causeChain(error).some((at) => /^IO error: \S+\.(ldb|sst): Invalid argument/.test(at.message));
}

export function isLocked(error: unknown): boolean {
  return causeChain(error).some((at) => at.code === 'LEVEL_LOCKED' || /^IO error: lock /.test(at.message));
}

function causeChain(error: unknown): Array<{ code: string | undefined; message: string }> {
  const chain: Array<{ code: string | undefined; message: string }> = [];
  for (let at: unknown = error, depth = 0; at !== undefined && depth < 5; at = (at as { cause?: unknown }).cause, depth++) {
    chain.push({ code: (at as { code?: string } | null)?.code, message: at instanceof Error ? at.message : String(at) });
    if (!(at instanceof Error)) break;
  }
  return chain;
}
