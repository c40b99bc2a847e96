// Bounded waits for the end of a chaos run: stopping the writers and closing the
// live subscribers. One append or subscription that never ends must not keep a
// run from its verdict (chaos seed 401 waited more than 7 minutes after its end,
// idle, and was never judged): a wait that runs out is a liveness failure naming
// what was left open, and the run goes on to read back and check.
import type { AppendOp } from './history.js';

/** Whether `promise` settles (either way) within `ms`. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Appends invoked and not (yet) completed, oldest first: what a writer still waits on. */
export function openInvokes(history: readonly AppendOp[]): AppendOp[] {
  const open = new Map<string, AppendOp>();
  for (const op of history) {
    if (op.type === 'invoke') open.set(op.value, op);
    else open.delete(op.value);
  }
  return [...open.values()];
}
