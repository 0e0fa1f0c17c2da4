/**
 * People, as the server sees them: users (users/store.ts), their sign-in sessions
 * (users/sessions.ts), sign-in throttling (users/throttle.ts), and what app.ts's authentication
 * hook asks of them: the user of a request that came with the session cookie instead of a bearer
 * token, held to the CSRF rules for anything that changes something.
 *
 * CSRF: the cookie is SameSite=Strict, and on top of that a cookie-authenticated POST, PUT, PATCH
 * or DELETE must (1) come from the console's own origin, by the browser's word (Sec-Fetch-Site:
 * same-origin, and Origin, when sent, naming this host), and (2) carry X-HQ-CSRF with the
 * session's token, which only a page that could read GET /session (our own origin) knows.
 * Requests with a bearer token never reach this: browsers do not add that header by themselves.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CSRF_HEADER } from '@haproxyhq/schemas';
import type { UserInfo } from '../auth.ts';
import { ApiError, forbidden, unauthorized } from '../errors.ts';
import type { Storage } from '../storage/types.ts';
import { SessionStore, csrfTokenFor, safeEqual, type ActiveSession, type SessionOptions } from './sessions.ts';
import { LoginThrottle, type ThrottleOptions } from './throttle.ts';
import { UserStore } from './store.ts';

/** `__Host-`: browsers take it only with Secure and Path=/ and no Domain, so no sibling host can set or shadow it. */
export const SESSION_COOKIE = '__Host-hq_session';
const COOKIE_ATTRIBUTES = 'Path=/; Secure; HttpOnly; SameSite=Strict';

export interface PeopleOptions extends SessionOptions {
  throttle?: ThrottleOptions;
}

/** What the session of a request was (for /logout, /session and password changes). */
const sessionOfRequest = new WeakMap<FastifyRequest, { id: string; active: ActiveSession }>();

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export class People {
  readonly users: UserStore;
  readonly sessions: SessionStore;
  readonly throttle: LoginThrottle;

  constructor(storage: Storage, options: PeopleOptions = {}) {
    this.users = new UserStore(storage, options.now);
    this.sessions = new SessionStore(storage, this.users, options);
    this.throttle = new LoginThrottle({ ...options.throttle, now: options.throttle?.now ?? options.now });
  }

  /**
   * The user of a request that carries the session cookie (and no bearer token); undefined when
   * it carries none. Throws 401 (and clears the cookie) for a session that has ended, and 403 for
   * a write that fails the CSRF checks, after naming the user on the request (the audit log says who).
   */
  async authenticate(req: FastifyRequest, reply: FastifyReply): Promise<UserInfo | undefined> {
    const id = readCookie(req.headers.cookie, SESSION_COOKIE);
    if (id === undefined) return undefined;
    const active = await this.sessions.authenticate(id);
    if (!active) {
      clearSessionCookie(reply);
      throw unauthorized('Unauthorized: the session has ended (signed out, timed out, or the user was changed or deleted): sign in again');
    }
    const user: UserInfo = { name: active.user.record.name, groups: [...active.user.record.groups] };
    req.setDecorator<UserInfo>('user', user);
    sessionOfRequest.set(req, { id, active });
    if (!SAFE_METHODS.has(req.method)) {
      const problem = csrfProblem(req, id);
      if (problem) {
        throw forbidden(
          `a request that changes something and is signed in by the session cookie must come from the console itself: ${problem}. Scripts should send a bearer token instead.`,
        );
      }
    }
    return user;
  }

  /** The session the request was authenticated by, if it was by one. */
  sessionOf(req: FastifyRequest): { id: string; active: ActiveSession } | undefined {
    return sessionOfRequest.get(req);
  }

  startSweeping(onError: (err: unknown) => void): void {
    this.sessions.startSweeping(onError);
  }

  stop(): void {
    this.sessions.stop();
  }
}

/** Why a cookie-authenticated write may not have come from our own page; undefined when it did. */
function csrfProblem(req: FastifyRequest, id: string): string | undefined {
  const cross = crossOrigin(req);
  if (cross) return cross;
  const token = req.headers[CSRF_HEADER];
  if (typeof token !== 'string' || token === '') return `the ${CSRF_HEADER} header is missing (send the csrfToken of GET /session)`;
  if (!safeEqual(token, csrfTokenFor(id))) return `the ${CSRF_HEADER} header is not this session's token (send the csrfToken of GET /session)`;
  return undefined;
}

/**
 * Whether the browser says the request came from another origin: Sec-Fetch-Site other than
 * same-origin, an Origin that is not this host, or, from a client that sends neither, no proof
 * at all (every browser in use sends one of them with a POST, PUT, PATCH or DELETE).
 */
export function crossOrigin(req: FastifyRequest, requireOne = true): string | undefined {
  const site = req.headers['sec-fetch-site'];
  const origin = req.headers.origin;
  if (typeof site === 'string' && site !== 'same-origin') return `it came from another site (Sec-Fetch-Site: ${site.slice(0, 32)})`;
  if (typeof origin === 'string') {
    let host: string | undefined;
    try {
      host = new URL(origin).host;
    } catch {
      host = undefined;
    }
    if (!host || host !== (req.headers.host ?? '').toLowerCase()) return `it came from another origin (Origin: ${origin.slice(0, 100)})`;
  }
  if (requireOne && site === undefined && origin === undefined) return 'it says neither where it came from (no Origin or Sec-Fetch-Site header)';
  return undefined;
}

/** One cookie's value from a Cookie header; undefined when absent (or sent twice, which we do not guess between). */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  let found: string | undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1 || part.slice(0, eq).trim() !== name) continue;
    if (found !== undefined) return undefined;
    found = part.slice(eq + 1).trim();
  }
  return found;
}

export function setSessionCookie(reply: FastifyReply, id: string): void {
  reply.header('set-cookie', `${SESSION_COOKIE}=${id}; ${COOKIE_ATTRIBUTES}`);
}

export function clearSessionCookie(reply: FastifyReply): void {
  reply.header('set-cookie', `${SESSION_COOKIE}=; ${COOKIE_ATTRIBUTES}; Max-Age=0`);
}

/** 429 with the time to wait, in the Status and in Retry-After. */
export function tooManyAttempts(reply: FastifyReply, waitMs: number, what: string): ApiError {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  reply.header('retry-after', String(seconds));
  return new ApiError(429, 'TooManyRequests', `${what}: try again in ${seconds} second${seconds === 1 ? '' : 's'}`, { retryAfterSeconds: seconds });
}
