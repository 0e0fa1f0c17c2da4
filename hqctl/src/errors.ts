/**
 * The two kinds of failure hqctl reports, printed as kubectl prints them:
 * `error: ...` for what went wrong on this side, `Error from server (Reason): ...` for a Status.
 */

/** A client-side error: bad flags, unreadable manifests, an unknown resource type. */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** A failed API call, with the reason and message of the server's Status. */
export class ApiError extends Error {
  readonly code: number;
  readonly reason: string;
  constructor(code: number, reason: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.reason = reason;
  }
}

/** Several errors collected before giving up (every bad manifest, every failed name). */
export class MultiError extends Error {
  readonly errors: Error[];
  constructor(errors: Error[]) {
    super(errors.map((e) => e.message).join('\n'));
    this.name = 'MultiError';
    this.errors = errors;
  }
}

/** The line kubectl would print for an error. */
export function formatError(err: unknown): string {
  if (err instanceof MultiError) return err.errors.map(formatError).join('\n');
  if (err instanceof ApiError) return `Error from server (${err.reason}): ${err.message}`;
  if (err instanceof Error) return `error: ${err.message}`;
  return `error: ${String(err)}`;
}

export const isNotFound = (err: unknown): boolean => err instanceof ApiError && err.code === 404;
export const isConflict = (err: unknown): boolean => err instanceof ApiError && err.code === 409 && err.reason === 'Conflict';
