/**
 * The HTTP boundary's guards: one value per query parameter, a bound on JSON nesting, Warning
 * headers a client's field names cannot break, and the errors Fastify's router and Node's HTTP
 * parser raise rendered as Status objects like every other error. Each closes a hole that
 * test/fuzz.test.ts found.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, badRequest, statusFor } from './errors.ts';

/**
 * Deeper than any object our schemas allow, and far below what the recursive code that reads a
 * body before validating it (merge patch, deepEqual, structuredClone) can take without
 * overflowing the stack.
 */
export const MAX_JSON_DEPTH = 100;

/** Whether a JSON text nests arrays and objects deeper than `max` (brackets inside strings do not count). */
export function jsonTooDeep(text: string, max = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

/**
 * The query string with one value per name, the first, as Kubernetes reads it (Go's
 * url.Values.Get): `?labelSelector=a&labelSelector=b` must not hand the routes an array.
 */
export function parseQuery(query: string): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [k, v] of new URLSearchParams(query)) if (!Object.hasOwn(out, k)) out[k] = v;
  return out;
}

/**
 * Warning header values in Kubernetes' form (`299 - "text"`), escaped to ASCII: the text may
 * quote a client's field names, and Node refuses a header with characters above U+00FF.
 */
export function warningHeader(warnings: string[]): string {
  const ascii = (w: string) => JSON.stringify(w).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return warnings.map((w) => `299 - ${ascii(w)}`).join(', ');
}

/** The router's own errors (a path that is not valid percent-encoding, an over-long segment) as 400 Status objects. */
export function frameworkErrors(err: FastifyError, _req: FastifyRequest, reply: FastifyReply): void {
  const error =
    err.code === 'FST_ERR_BAD_URL'
      ? badRequest('the request path is not valid percent-encoded UTF-8')
      : err.code === 'FST_ERR_MAX_PARAM_LENGTH'
        ? badRequest('a path segment is longer than 1024 characters: object names are at most 253')
        : undefined;
  const status = error ? error.toStatus() : statusFor(err);
  reply.code(status.code!).type('application/json').send(status);
}

/**
 * Requests Node's HTTP parser refuses (broken framing, headers over its size limit, a request
 * that took too long) answered with a Status too, then the connection closed, as Fastify's
 * default handler does with a body of its own.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const error =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? new ApiError(431, 'RequestHeaderFieldsTooLarge', 'the request headers are larger than the server accepts')
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new ApiError(408, 'Timeout', 'the request was not received in time')
        : badRequest('the request is not well-formed HTTP/1.1');
  const body = JSON.stringify(error.toStatus());
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${error.code} ${STATUS_CODES[error.code]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(err);
}
