/**
 * Every failure that crosses a module boundary is a SealError carrying a stable
 * `Err…` code from the specs. RPC status messages, CLI lines, halt and startup
 * refusal logs print the code verbatim, so operators and tests can match on it.
 */
export class SealError extends Error {
  readonly code: string;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: string, message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super(`${code}: ${message}`, cause === undefined ? undefined : { cause });
    this.name = 'SealError';
    this.code = code;
    this.details = details;
  }
}

export function sealError(
  code: string,
  message: string,
  details: Record<string, unknown> = {},
  cause?: unknown,
): SealError {
  return new SealError(code, message, details, cause);
}

export function isSealError(e: unknown, code?: string): e is SealError {
  return e instanceof SealError && (code === undefined || e.code === code);
}

/** Returns the `Err…` code of an error, or undefined for foreign errors. */
export function errorCode(e: unknown): string | undefined {
  return e instanceof SealError ? e.code : undefined;
}

/** Invariant check: a failed assertion is a bug, never a user error. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new SealError('ErrAssertion', message);
}
