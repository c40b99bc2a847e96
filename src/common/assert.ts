// Programmer-error checks that stay on in production: a broken invariant stops
// the process loudly instead of corrupting a log quietly.

export class AssertionError extends Error {
  override name = 'AssertionError';
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}
