/**
 * The console's sign-in: POST /login (public, throttled per address and per user name) checks a
 * user's password and sets the session cookie; POST /logout ends the session; GET /session says
 * who the caller is, and gives a session its CSRF token. See users/people.ts for the cookie and
 * the CSRF rules, users/sessions.ts for how sessions are kept.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { API_VERSION, LoginRequestSchema, USERNAME_PATTERN, type SessionInfo } from '@haproxyhq/schemas';
import type { UserInfo } from '../auth.ts';
import { badRequest, forbidden, unauthorized } from '../errors.ts';
import { schemaCauses } from '../registry/validation.ts';
import { dummyHash, hashPassword, needsRehash, verifyPassword } from '../users/password.ts';
import { People, SESSION_COOKIE, clearSessionCookie, crossOrigin, readCookie, setSessionCookie, tooManyAttempts } from '../users/people.ts';
import { csrfTokenFor, type ActiveSession } from '../users/sessions.ts';

/** Same for a user that does not exist as for a wrong password: the answer must not tell which. */
const WRONG = 'Unauthorized: the user name or password is not correct';
const USERNAME = new RegExp(USERNAME_PATTERN);

export async function sessionRoutes(app: FastifyInstance, opts: { people: People }): Promise<void> {
  const { people } = opts;

  const info = (user: UserInfo, session?: { id: string; active: Pick<ActiveSession, 'session'> }): SessionInfo => ({
    apiVersion: API_VERSION,
    kind: 'Session',
    user: { name: user.name, groups: user.groups },
    authenticatedBy: session ? 'session' : 'token',
    ...(session
      ? {
          csrfToken: csrfTokenFor(session.id),
          expiresTime: new Date(session.active.session.expiresAt).toISOString(),
          idleTimeoutSeconds: Math.round(people.sessions.idleTimeoutMs / 1000),
        }
      : {}),
  });

  app.post('/login', async (req: FastifyRequest, reply: FastifyReply) => {
    reply.header('cache-control', 'no-store');
    // Login CSRF (signing a victim in as the attacker): a browser that says the form came from
    // another site is refused. Clients that are not browsers send neither header; they may sign in.
    const cross = crossOrigin(req, false);
    if (cross) throw forbidden(`sign-in refused: ${cross}`);
    const causes = schemaCauses(LoginRequestSchema, req.body);
    if (causes.length > 0) {
      throw badRequest(`send {"username": "...", "password": "..."} as JSON: ${causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message)).join(', ')}`);
    }
    const { username, password } = req.body as { username: string; password: string };
    const wait = people.throttle.attempt(req.ip, username);
    if (wait > 0) throw tooManyAttempts(reply, wait, 'too many failed sign-ins for this user name or from this address');

    const found = USERNAME.test(username) ? await people.users.get(username) : undefined;
    // Unknown users are checked against a dummy hash: the same work, so the same time.
    const ok = found ? await verifyPassword(password, found.record.password) : (await verifyPassword(password, await dummyHash()), false);
    if (!found || !ok) throw unauthorized(WRONG);
    people.throttle.succeeded(req.ip, username);
    if (needsRehash(found.record.password)) await people.users.upgradeHash(found, await hashPassword(password));

    // Always a new session (no fixation); the one this browser had, if any, ends.
    const previous = readCookie(req.headers.cookie, SESSION_COOKIE);
    if (previous) await people.sessions.end(previous);
    const created = await people.sessions.create(found, req.ip);
    setSessionCookie(reply, created.id);
    const user: UserInfo = { name: found.record.name, groups: [...found.record.groups] };
    // The audit log records who signed in.
    req.setDecorator<UserInfo>('user', user);
    return info(user, { id: created.id, active: created });
  });

  app.post('/logout', async (req, reply) => {
    reply.header('cache-control', 'no-store');
    const s = people.sessionOf(req);
    if (s) await people.sessions.endHash(s.active.hash);
    clearSessionCookie(reply);
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 200, message: s ? 'signed out' : 'nothing to sign out of: the request was not signed in by a session' };
  });

  app.get('/session', async (req, reply) => {
    reply.header('cache-control', 'no-store');
    const user = req.getDecorator<UserInfo | undefined>('user');
    if (!user) throw unauthorized();
    return info(user, people.sessionOf(req));
  });
}
