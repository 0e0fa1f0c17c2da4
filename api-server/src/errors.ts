/**
 * Typed API errors, rendered once (in app.ts's error handler) as Kubernetes `Status` objects.
 * Messages say what is wrong and, where it helps, what to do.
 */
import type { Status } from '@haproxyhq/schemas';

export interface Cause {
  reason: string;
  message: string;
  field?: string;
}

export interface Details {
  name?: string;
  group?: string;
  kind?: string;
  causes?: Cause[];
  retryAfterSeconds?: number;
}

export class ApiError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly details?: Details;
  constructor(code: number, reason: string, message: string, details?: Details) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.reason = reason;
    this.details = details;
  }

  toStatus(): Status {
    const status: Status = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      code: this.code,
    };
    if (this.details) status.details = this.details;
    return status;
  }
}

export const badRequest = (message: string, details?: Details) => new ApiError(400, 'BadRequest', message, details);
export const unauthorized = (message = 'Unauthorized: send a bearer token in the Authorization header') =>
  new ApiError(401, 'Unauthorized', message);
export const forbidden = (message: string) => new ApiError(403, 'Forbidden', message);
export const notFound = (kind: string, group: string, name: string, plural: string) =>
  new ApiError(404, 'NotFound', `${plural}.${group} "${name}" not found`, { name, group, kind: plural });
export const pathNotFound = (path: string, hint?: string) =>
  new ApiError(404, 'NotFound', `the server could not find the requested resource (${path})${hint ? `: ${hint}` : ''}`);
export const alreadyExists = (group: string, plural: string, name: string) =>
  new ApiError(409, 'AlreadyExists', `${plural}.${group} "${name}" already exists`, { name, group, kind: plural });
export const conflict = (group: string, plural: string, name: string, why: string) =>
  new ApiError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${plural}.${group} "${name}": ${why}`,
    { name, group, kind: plural },
  );
/** kube-apiserver's answer to a write whose resourceVersion precondition is stale (its OptimisticLockErrorMsg). */
export const staleObject = (group: string, plural: string, name: string) =>
  conflict(group, plural, name, 'the object has been modified; please apply your changes to the latest version and try again');
export const gone = (message: string) => new ApiError(410, 'Expired', message);
export const methodNotAllowed = (message: string) => new ApiError(405, 'MethodNotAllowed', message);
export const notAcceptable = (message: string) => new ApiError(406, 'NotAcceptable', message);
export const tooLarge = (message: string) => new ApiError(413, 'RequestEntityTooLarge', message);
export const unsupportedMediaType = (message: string) => new ApiError(415, 'UnsupportedMediaType', message);
export const serviceUnavailable = (message: string) =>
  new ApiError(503, 'ServiceUnavailable', message, { retryAfterSeconds: 1 });

/** 422 Invalid, naming every failing field, like Kubernetes' field.ErrorList. */
export function invalid(kind: string, group: string, name: string, causes: Cause[]): ApiError {
  const list = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message)).join(', ');
  return new ApiError(422, 'Invalid', `${kind}.${group} "${name || '<unnamed>'}" is invalid: ${list}`, {
    name,
    group,
    kind,
    causes,
  });
}

/** The Status for any error; internals of unexpected errors never reach the client. */
export function statusFor(err: unknown): Status {
  if (err instanceof ApiError) return err.toStatus();
  return new ApiError(500, 'InternalError', 'an internal error occurred; the server log has the details').toStatus();
}
