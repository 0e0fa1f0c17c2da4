/**
 * Users with passwords and the console's cookie sessions, through the real routes: passwords are
 * stored as scrypt hashes (never in the store, a response or the log), sign-in sets a
 * __Host- cookie that is HttpOnly, Secure and SameSite=Strict, a wrong password says nothing
 * about whether the user exists, sign-ins are throttled per name and per address, cookie writes
 * without the CSRF header or from another origin are refused and change nothing, sessions end
 * (idle, absolute, sign-out, password change, user deleted), RBAC holds for cookie users, and the
 * first start makes an admin whose password is only in a 0600 file of the data dir.
 */
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureInitialAdmin, INITIAL_ADMIN_PASSWORD_FILE } from '../src/users/bootstrap.ts';
import { DEFAULT_SCRYPT, verifyPassword } from '../src/users/password.ts';
import { SESSION_COOKIE } from '../src/users/people.ts';
import { SessionStore } from '../src/users/sessions.ts';
import { UserStore } from '../src/users/store.ts';
import { openSqliteStorage } from '../src/storage/sqlite-storage.ts';
import { buildTestApp, objectsState, type TestApp } from './support/app.ts';
import { instanceFixture } from './support/fixtures.ts';
import { request, startServer } from './support/server.ts';
import { until } from './support/until.ts';

const B = '/apis/haproxyhq.io/v1alpha1';
const NS = `${B}/namespaces/default`;
const HOST = 'hq.example:8443';
const ORIGIN = `https://${HOST}`;
const IDLE_MS = 30 * 60_000;
const LIFETIME_MS = 12 * 3_600_000;

let t: TestApp;
let clock = Date.parse('2026-01-10T10:00:00Z');
let logs = '';
/** Every password and session secret the tests used: none may appear in the store or the log. */
const secrets = new Set<string>();

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
interface Res {
  status: number;
  body: any;
  headers: Record<string, unknown>;
}

async function call(method: Method, url: string, opts: { token?: string; cookie?: string; headers?: Record<string, string>; body?: unknown; from?: string; contentType?: string } = {}): Promise<Res> {
  const res = await t.app.inject({
    method,
    url,
    remoteAddress: opts.from ?? '192.0.2.1',
    headers: {
      host: HOST,
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...(opts.cookie ? { cookie: `${SESSION_COOKIE}=${opts.cookie}` } : {}),
      ...(opts.body !== undefined ? { 'content-type': opts.contentType ?? 'application/json' } : {}),
      ...opts.headers,
    },
    payload: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  let body: any;
  try {
    body = JSON.parse(res.body);
  } catch {
    body = res.body;
  }
  return { status: res.statusCode, body, headers: res.headers };
}
const admin = (method: Method, url: string, body?: unknown) => call(method, url, { token: t.token, body });

/** The browser's headers on a same-origin fetch from the console, with the session's CSRF token. */
const fromConsole = (csrf: string) => ({ origin: ORIGIN, 'sec-fetch-site': 'same-origin', 'x-hq-csrf': csrf });

interface Session {
  id: string;
  csrf: string;
  setCookie: string;
}

async function login(username: string, password: string, from?: string): Promise<Session> {
  const res = await call('POST', '/login', { body: { username, password }, from });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  const setCookie = String(res.headers['set-cookie']);
  const id = new RegExp(`^${SESSION_COOKIE}=([^;]+);`).exec(setCookie)![1]!;
  secrets.add(id);
  secrets.add(res.body.csrfToken);
  return { id, csrf: res.body.csrfToken, setCookie };
}

async function createUser(name: string, password: string, groups: string[] = []): Promise<void> {
  secrets.add(password);
  const res = await admin('POST', `${B}/users`, { name, groups, password });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
}

beforeAll(async () => {
  t = await buildTestApp({
    rbac: true,
    people: { now: () => clock },
    requestLogging: true,
    logger: { level: 'trace', stream: { write: (line: string) => void (logs += line) } },
  });
  await createUser('alice', 'correct horse battery staple', ['ops']);
  await createUser('vic', 'viewer password 1', ['viewers']);
  await createUser('eve', 'editor password 1', ['editors']);
  const bind = (name: string, role: string, group: string) =>
    admin('POST', `${B}/clusterrolebindings`, { metadata: { name }, roleRef: { kind: 'ClusterRole', name: role }, subjects: [{ kind: 'Group', name: group }] });
  expect((await bind('ops-admin', 'admin', 'ops')).status).toBe(201);
  expect((await bind('viewers', 'viewer', 'viewers')).status).toBe(201);
  expect((await bind('editors', 'editor', 'editors')).status).toBe(201);
  expect((await admin('POST', `${NS}/haproxyinstances`, instanceFixture({ metadata: { name: 'edge-1' } }))).status).toBe(201);
  const v = await login('vic', 'viewer password 1');
  await until('bindings seen by the authorizer', async () => (await call('GET', `${NS}/haproxyinstances`, { cookie: v.id })).status === 200 || undefined);
}, 60_000);

afterAll(async () => {
  await t?.close();
});

describe('users and their passwords', () => {
  it('stores an scrypt hash with its parameters and a salt per user, and never returns it', async () => {
    await createUser('bob', 'correct horse battery staple');
    const users = new UserStore(t.storage);
    const [alice, bob] = [(await users.get('alice'))!.record, (await users.get('bob'))!.record];
    expect(alice.password).toMatchObject({ algorithm: 'scrypt', N: DEFAULT_SCRYPT.N, r: DEFAULT_SCRYPT.r, p: DEFAULT_SCRYPT.p, keyLength: 32 });
    // The same password, another salt, another hash.
    expect(bob.password.salt).not.toBe(alice.password.salt);
    expect(bob.password.hash).not.toBe(alice.password.hash);
    expect(await verifyPassword('correct horse battery staple', alice.password)).toBe(true);
    expect(await verifyPassword('correct horse battery staplE', alice.password)).toBe(false);

    const list = await admin('GET', `${B}/users`);
    expect(list.status).toBe(200);
    expect(list.body.kind).toBe('UserList');
    expect(list.body.items.map((u: { metadata: { name: string } }) => u.metadata.name)).toEqual(['alice', 'bob', 'eve', 'vic']);
    const one = await admin('GET', `${B}/users/alice`);
    expect(one.body).toMatchObject({ kind: 'User', metadata: { name: 'alice' }, groups: ['ops'] });
    for (const body of [list.body, one.body]) expect(JSON.stringify(body)).not.toMatch(/scrypt|salt|hash|password"/i);
    expect((await admin('DELETE', `${B}/users/bob`)).status).toBe(200);
    expect((await admin('GET', `${B}/users/bob`)).status).toBe(404);
    // The audit log names the users written, and who wrote them.
    // (Writes outside the registry are recorded once answered: wait for the delete's.)
    const audit = await until('the delete of bob audited', async () => {
      const res = await admin('GET', `${B}/auditevents?resource=users&name=bob`);
      return res.body.items.length === 2 ? res : undefined;
    });
    expect(audit.body.items.map((e: { verb: string; code: number; user: { name: string } }) => [e.verb, e.code, e.user.name])).toEqual([
      ['delete', 200, 'admin'],
      ['create', 201, 'admin'],
    ]);
  });

  it('refuses bad names, short passwords, the name as password, unknown fields and taken names with 422/409', async () => {
    const bad = [
      { name: 'Bad Name', password: 'long enough pw' },
      { name: 'system:x', password: 'long enough pw' },
      { name: 'ok', password: 'short' },
      { name: 'samename', password: 'samename' },
      { name: 'ok', password: 'long enough pw', extra: 1 },
      { name: 'ok' },
    ];
    for (const body of bad) {
      const res = await admin('POST', `${B}/users`, body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(res.body.reason).toBe('Invalid');
      expect(res.body.message).not.toContain('long enough pw');
    }
    expect((await admin('POST', `${B}/users`, { name: 'alice', password: 'another password' })).status).toBe(409);
  });

  it('lets only system:masters put users in system: groups', async () => {
    const a = await login('alice', 'correct horse battery staple');
    // alice is an admin by ClusterRoleBinding, but not in system:masters.
    const res = await call('POST', `${B}/users`, { cookie: a.id, headers: fromConsole(a.csrf), body: { name: 'root2', groups: ['system:masters'], password: 'a long password' } });
    expect(res.status).toBe(403);
    expect(res.body.message).toMatch(/system:masters/);
    const ok = await call('POST', `${B}/users`, { cookie: a.id, headers: fromConsole(a.csrf), body: { name: 'ops2', groups: ['ops'], password: 'a long password' } });
    expect(ok.status).toBe(201);
    secrets.add('a long password');
  });

  it("changes a user's groups by PUT of the user as read: stale is 409, other fields are refused, system groups need system:masters, sessions follow", async () => {
    const a = await login('alice', 'correct horse battery staple');
    const as = (body: unknown, who = a) => call('PUT', `${B}/users/greta`, { cookie: who.id, headers: fromConsole(who.csrf), body });
    await createUser('greta', 'greta password 12', ['viewers']);
    const g = await login('greta', 'greta password 12');
    expect((await call('GET', `${NS}/haproxyinstances`, { cookie: g.id })).status).toBe(200);
    expect((await call('POST', `${NS}/haproxyinstances`, { cookie: g.id, headers: fromConsole(g.csrf), body: instanceFixture({ metadata: { name: 'by-greta' } }) })).status).toBe(403);
    const read = (await call('GET', `${B}/users/greta`, { cookie: a.id })).body;
    const moved = await as({ ...read, groups: ['editors', 'editors'] });
    expect(moved.status).toBe(200);
    expect(moved.body.groups).toEqual(['editors']);
    expect(Number(moved.body.metadata.resourceVersion)).toBeGreaterThan(Number(read.metadata.resourceVersion));
    expect(moved.body.passwordChangedTime).toBe(read.passwordChangedTime);
    // The stale version, a field that is not the user's, and a system group from a non-superuser.
    expect((await as({ ...read, groups: ['ops'] })).status).toBe(409);
    const extra = await as({ ...moved.body, password: 'x' });
    expect([extra.status, extra.body.message]).toEqual([422, expect.stringMatching(/password/)]);
    const sys = await as({ ...moved.body, groups: ['editors', 'system:masters'] });
    expect([sys.status, sys.body.message]).toEqual([403, expect.stringMatching(/only a member of system:masters may move a user into or out of the system groups system:masters/)]);
    // greta's signed-in session follows once its cached read of the user (at most 5 s) is over.
    const create = () => call('POST', `${NS}/haproxyinstances`, { cookie: g.id, headers: fromConsole(g.csrf), body: instanceFixture({ metadata: { name: 'by-greta' } }) });
    clock += 5_001;
    expect((await create()).status).toBe(201);
    // Viewers and editors may not.
    const e = await login('eve', 'editor password 1');
    expect((await as({ ...moved.body, groups: [] }, e)).status).toBe(403);
  });

  it('changes a password: your own with the current one; an admin resets anyone\'s; others are refused', async () => {
    await createUser('carol', 'carol password 1', ['viewers']);
    const c1 = await login('carol', 'carol password 1');
    const c2 = await login('carol', 'carol password 1');
    const put = (s: Session, name: string, body: unknown) => call('PUT', `${B}/users/${name}/password`, { cookie: s.id, headers: fromConsole(s.csrf), body });

    expect((await put(c1, 'carol', { newPassword: 'carol password 2' })).status).toBe(422);
    const wrong = await put(c1, 'carol', { currentPassword: 'not it at all', newPassword: 'carol password 2' });
    expect(wrong.status).toBe(403);
    expect(wrong.body.message).toMatch(/current password is not correct/);
    // Someone else's: forbidden for a viewer, with or without a current password.
    expect((await put(c1, 'alice', { currentPassword: 'correct horse battery staple', newPassword: 'hijacked pw 1' })).status).toBe(403);

    const ok = await put(c1, 'carol', { currentPassword: 'carol password 1', newPassword: 'carol password 2' });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.kind).toBe('User');
    secrets.add('carol password 2');
    // The session that changed it goes on; the other one has ended.
    expect((await call('GET', '/session', { cookie: c1.id })).status).toBe(200);
    expect((await call('GET', '/session', { cookie: c2.id })).status).toBe(401);
    expect((await call('POST', '/login', { body: { username: 'carol', password: 'carol password 1' } })).status).toBe(401);
    await login('carol', 'carol password 2');

    // An admin (bearer token) resets without the current one; every session of carol ends.
    const reset = await admin('PUT', `${B}/users/carol/password`, { newPassword: 'carol password 3' });
    expect(reset.status).toBe(200);
    secrets.add('carol password 3');
    expect((await call('GET', '/session', { cookie: c1.id })).status).toBe(401);
    await login('carol', 'carol password 3');
  });

  it('authorizes the users API as the resource users: viewers and editors may not list, create or delete', async () => {
    const v = await login('vic', 'viewer password 1');
    const e = await login('eve', 'editor password 1');
    for (const s of [v, e]) {
      expect((await call('GET', `${B}/users`, { cookie: s.id })).status).toBe(403);
      expect((await call('GET', `${B}/users/alice`, { cookie: s.id })).status).toBe(403);
      expect((await call('POST', `${B}/users`, { cookie: s.id, headers: fromConsole(s.csrf), body: { name: 'x1', password: 'x1 password' } })).status).toBe(403);
      expect((await call('DELETE', `${B}/users/alice`, { cookie: s.id, headers: fromConsole(s.csrf) })).status).toBe(403);
    }
    const a = await login('alice', 'correct horse battery staple');
    expect((await call('GET', `${B}/users`, { cookie: a.id })).status).toBe(200);
  });
});

describe('sign-in', () => {
  it('sets an HttpOnly, Secure, SameSite=Strict, Path=/ __Host- cookie, and /session tells who is signed in', async () => {
    const s = await login('alice', 'correct horse battery staple');
    const attrs = s.setCookie.split(';').map((a) => a.trim());
    expect(attrs[0]).toMatch(/^__Host-hq_session=[A-Za-z0-9_-]{43}$/);
    expect(attrs.slice(1).sort()).toEqual(['HttpOnly', 'Path=/', 'SameSite=Strict', 'Secure']);
    const who = await call('GET', '/session', { cookie: s.id });
    expect(who.status).toBe(200);
    expect(who.body).toMatchObject({ kind: 'Session', user: { name: 'alice', groups: ['ops'] }, authenticatedBy: 'session', csrfToken: s.csrf, idleTimeoutSeconds: 1800 });
    expect(Date.parse(who.body.expiresTime)).toBe(clock + LIFETIME_MS);
    expect(who.headers['cache-control']).toBe('no-store');
    // With a bearer token: who, without a CSRF token.
    const bearer = await admin('GET', '/session');
    expect(bearer.body).toMatchObject({ user: { name: 'admin', groups: ['system:masters'] }, authenticatedBy: 'token' });
    expect(bearer.body.csrfToken).toBeUndefined();
    expect((await call('GET', '/session')).status).toBe(401);
  });

  it('answers a wrong password and an unknown user alike: 401 with one message', async () => {
    const wrong = await call('POST', '/login', { body: { username: 'alice', password: 'wrong password' }, from: '198.51.100.7' });
    const nobody = await call('POST', '/login', { body: { username: 'nobody-here', password: 'wrong password' }, from: '198.51.100.7' });
    expect(wrong.status).toBe(401);
    expect(nobody.status).toBe(401);
    expect(nobody.body.message).toBe(wrong.body.message);
    expect(wrong.body.message).toBe('Unauthorized: the user name or password is not correct');
    expect(wrong.headers['set-cookie']).toBeUndefined();
    expect((await call('POST', '/login', { body: { username: 'alice' } })).status).toBe(400);
    expect((await call('POST', '/login', { body: 'username=alice&password=x', contentType: 'application/x-www-form-urlencoded' })).status).toBe(415);
    // A body that is not JSON: the parser's message, which quotes a piece of it, goes back to the
    // sender only (never to the log or the audit log: see the last test).
    secrets.add('half-typed-secret-42');
    secrets.add('half-typed');
    const broken = await t.app.inject({ method: 'POST', url: '/login', headers: { host: HOST, 'content-type': 'application/json' }, payload: '{"username": "alice", "password": half-typed-secret-42' });
    expect(broken.statusCode).toBe(400);
  });

  it('refuses a sign-in the browser says came from another site', async () => {
    const res = await call('POST', '/login', { body: { username: 'alice', password: 'correct horse battery staple' }, headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' } });
    expect(res.status).toBe(403);
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it('locks a user name after 5 failures: the 6th attempt, even with the right password, is 429 until the lock ends, then doubles', async () => {
    await createUser('dan', 'dan password 1');
    const attempt = (password: string, from = '203.0.113.1') => call('POST', '/login', { body: { username: 'dan', password }, from });
    for (let i = 0; i < 5; i++) expect((await attempt('guess ' + i, `203.0.113.${i + 1}`)).status).toBe(401);
    const locked = await attempt('dan password 1', '203.0.113.99');
    expect(locked.status).toBe(429);
    expect(locked.body).toMatchObject({ kind: 'Status', reason: 'TooManyRequests', code: 429, details: { retryAfterSeconds: 30 } });
    expect(locked.body.message).toMatch(/too many failed sign-ins.*try again in 30 seconds/);
    expect(locked.headers['retry-after']).toBe('30');
    clock += 31_000;
    expect((await attempt('guess again')).status).toBe(401);
    const longer = await attempt('dan password 1');
    expect(longer.status).toBe(429);
    expect(longer.headers['retry-after']).toBe('60');
    clock += 61_000;
    await login('dan', 'dan password 1', '203.0.113.1');
    // A success starts the name afresh.
    for (let i = 0; i < 4; i++) expect((await attempt('guess ' + i)).status).toBe(401);
    await login('dan', 'dan password 1', '203.0.113.1');
  });

  it('locks an address after 10 failures, whatever the names; other addresses go on', async () => {
    for (let i = 0; i < 10; i++) expect((await call('POST', '/login', { body: { username: `spray-${i}`, password: 'x' }, from: '198.51.100.50' })).status).toBe(401);
    const res = await call('POST', '/login', { body: { username: 'alice', password: 'correct horse battery staple' }, from: '198.51.100.50' });
    expect(res.status).toBe(429);
    await login('alice', 'correct horse battery staple', '198.51.100.51');
    clock += 31_000;
    await login('alice', 'correct horse battery staple', '198.51.100.50');
  });

  it('lets a burst of concurrent guesses through no further than the threshold', async () => {
    await createUser('fay', 'fay password 1');
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => call('POST', '/login', { body: { username: 'fay', password: `guess ${i}` }, from: `192.0.2.${100 + i}` })));
    const codes = results.map((r) => r.status);
    expect(codes.filter((c) => c === 401)).toHaveLength(5);
    expect(codes.filter((c) => c === 429)).toHaveLength(7);
    clock += 31_000;
  });
});

describe('cookie sessions and CSRF', () => {
  let s: Session;
  beforeAll(async () => {
    s = await login('alice', 'correct horse battery staple');
  });

  it('reads with the cookie alone (GET, list, watch)', async () => {
    expect((await call('GET', `${NS}/haproxyinstances/edge-1`, { cookie: s.id })).status).toBe(200);
    expect((await call('GET', `${NS}/haproxyinstances`, { cookie: s.id })).status).toBe(200);
    expect((await call('GET', `${NS}/haproxyinstances?watch=true&timeoutSeconds=1`, { cookie: s.id })).status).toBe(200);
  });

  const writes: { method: Method; url: string; body?: unknown; contentType?: string; ok: number }[] = [
    { method: 'POST', url: `${NS}/haproxyinstances`, body: instanceFixture({ metadata: { name: 'csrf-1' } }), ok: 201 },
    { method: 'PUT', url: `${NS}/haproxyinstances/edge-1`, body: undefined, ok: 200 },
    { method: 'PATCH', url: `${NS}/haproxyinstances/edge-1`, body: { metadata: { labels: { patched: 'yes' } } }, contentType: 'application/merge-patch+json', ok: 200 },
    { method: 'DELETE', url: `${NS}/haproxyinstances/csrf-1`, ok: 200 },
  ];
  const refusals: [string, (csrf: string) => Record<string, string>][] = [
    ['no CSRF header', () => ({ origin: ORIGIN, 'sec-fetch-site': 'same-origin' })],
    ['a wrong CSRF token', () => ({ origin: ORIGIN, 'sec-fetch-site': 'same-origin', 'x-hq-csrf': 'A'.repeat(43) })],
    ['a foreign Origin', (csrf) => ({ origin: 'https://evil.example', 'x-hq-csrf': csrf })],
    ['a foreign Origin that says same-origin', (csrf) => ({ origin: 'https://evil.example', 'sec-fetch-site': 'same-origin', 'x-hq-csrf': csrf })],
    ['Sec-Fetch-Site: cross-site', (csrf) => ({ 'sec-fetch-site': 'cross-site', 'x-hq-csrf': csrf })],
    ['Sec-Fetch-Site: same-site', (csrf) => ({ origin: ORIGIN, 'sec-fetch-site': 'same-site', 'x-hq-csrf': csrf })],
    ['neither Origin nor Sec-Fetch-Site', (csrf) => ({ 'x-hq-csrf': csrf })],
    ['Origin: null', (csrf) => ({ origin: 'null', 'x-hq-csrf': csrf })],
  ];

  it('refuses cookie-authenticated POST, PUT, PATCH and DELETE without the CSRF header or from another origin, and changes nothing', async () => {
    for (const w of writes) {
      const body = w.method === 'PUT' ? (await admin('GET', `${NS}/haproxyinstances/edge-1`)).body : w.body;
      if (w.method === 'DELETE') expect((await admin('POST', `${NS}/haproxyinstances`, instanceFixture({ metadata: { name: 'csrf-1' } }))).status).toBe(201);
      for (const [why, headers] of refusals) {
        const before = await objectsState(t.storage);
        const res = await call(w.method, w.url, { cookie: s.id, headers: headers(s.csrf), body, contentType: w.contentType });
        expect(res.status, `${w.method} with ${why}`).toBe(403);
        expect(res.body).toMatchObject({ kind: 'Status', reason: 'Forbidden' });
        expect(res.body.message).toMatch(/session cookie must come from the console/);
        expect(await objectsState(t.storage), `${w.method} with ${why} changed nothing`).toBe(before);
      }
      if (w.method === 'DELETE') expect((await admin('DELETE', w.url)).status).toBe(200);
    }
    // The same for the users API and sign-out.
    for (const [why, headers] of refusals) {
      expect((await call('POST', `${B}/users`, { cookie: s.id, headers: headers(s.csrf), body: { name: 'csrf-user', password: 'long enough pw' } })).status, why).toBe(403);
      expect((await call('POST', '/logout', { cookie: s.id, headers: headers(s.csrf) })).status, why).toBe(403);
    }
    expect((await admin('GET', `${B}/users/csrf-user`)).status).toBe(404);
    expect((await call('GET', '/session', { cookie: s.id })).status).toBe(200);
  });

  it('does them with the header and the console\'s origin (Sec-Fetch-Site alone, or Origin alone, is enough)', async () => {
    const variants: Record<string, string>[] = [fromConsole(s.csrf), { 'sec-fetch-site': 'same-origin', 'x-hq-csrf': s.csrf }, { origin: ORIGIN, 'x-hq-csrf': s.csrf }];
    for (const [i, headers] of variants.entries()) {
      for (const w of writes) {
        const url = w.url.replace('csrf-1', `csrf-${i}`);
        const body = w.method === 'PUT' ? (await admin('GET', `${NS}/haproxyinstances/edge-1`)).body : w.method === 'POST' ? instanceFixture({ metadata: { name: `csrf-${i}` } }) : w.body;
        const res = await call(w.method, url, { cookie: s.id, headers, body, contentType: w.contentType });
        expect(res.status, `${w.method} ${JSON.stringify(res.body)}`).toBe(w.ok);
      }
    }
    // The audit log names the user of the cookie.
    const audit = await admin('GET', `${B}/auditevents?resource=haproxyinstances&verb=create&limit=1`);
    expect(audit.status).toBe(200);
    expect(audit.body.items[0].user.name).toBe('alice');
  });

  it('leaves bearer-token requests alone: no CSRF header or Origin needed', async () => {
    expect((await call('POST', `${NS}/haproxyinstances`, { token: t.token, body: instanceFixture({ metadata: { name: 'bearer-1' } }), headers: { origin: 'https://elsewhere.example' } })).status).toBe(201);
    // A bearer token wins over a cookie sent with it.
    expect((await call('DELETE', `${NS}/haproxyinstances/bearer-1`, { token: t.token, cookie: s.id })).status).toBe(200);
  });

  it('applies RBAC to cookie users: a viewer reads but cannot write, an editor writes', async () => {
    const v = await login('vic', 'viewer password 1');
    expect((await call('GET', `${NS}/haproxyinstances`, { cookie: v.id })).status).toBe(200);
    const before = await objectsState(t.storage);
    const denied = await call('PATCH', `${NS}/haproxyinstances/edge-1`, { cookie: v.id, headers: fromConsole(v.csrf), body: { spec: { paused: true } }, contentType: 'application/merge-patch+json' });
    expect(denied.status).toBe(403);
    expect(denied.body.message).toMatch(/User "vic" cannot patch/);
    expect(await objectsState(t.storage)).toBe(before);
    const e = await login('eve', 'editor password 1');
    expect((await call('PATCH', `${NS}/haproxyinstances/edge-1`, { cookie: e.id, headers: fromConsole(e.csrf), body: { spec: { paused: true } }, contentType: 'application/merge-patch+json' })).status).toBe(200);
  });

  it('signs out: the session ends and the cookie is cleared', async () => {
    const mine = await login('alice', 'correct horse battery staple');
    const out = await call('POST', '/logout', { cookie: mine.id, headers: fromConsole(mine.csrf) });
    expect(out.status).toBe(200);
    expect(String(out.headers['set-cookie'])).toMatch(/^__Host-hq_session=; .*Max-Age=0/);
    const after = await call('GET', `${NS}/haproxyinstances`, { cookie: mine.id });
    expect(after.status).toBe(401);
    expect(after.body.message).toMatch(/session has ended/);
    expect(String(after.headers['set-cookie'])).toMatch(/Max-Age=0/);
    // Other sessions of the same user go on.
    expect((await call('GET', '/session', { cookie: s.id })).status).toBe(200);
  });

  it('ends a session after 30 idle minutes, and after 12 hours however it is used', async () => {
    const idle = await login('alice', 'correct horse battery staple');
    clock += IDLE_MS - 60_000;
    expect((await call('GET', '/session', { cookie: idle.id })).status).toBe(200);
    clock += IDLE_MS - 60_000;
    expect((await call('GET', '/session', { cookie: idle.id })).status).toBe(200);
    clock += IDLE_MS;
    expect((await call('GET', '/session', { cookie: idle.id })).status).toBe(401);

    const busy = await login('alice', 'correct horse battery staple');
    const end = clock + LIFETIME_MS;
    while (clock + 20 * 60_000 < end) {
      clock += 20 * 60_000;
      expect((await call('GET', '/session', { cookie: busy.id })).status).toBe(200);
    }
    clock = end;
    expect((await call('GET', '/session', { cookie: busy.id })).status).toBe(401);
    // Sessions nobody came back to are swept from the store.
    const before = (await t.storage.list('/haproxyhq/auth/sessions/')).items.length;
    const swept = await new SessionStore(t.storage, new UserStore(t.storage), { now: () => clock }).sweep();
    expect(swept).toBeGreaterThan(5);
    expect((await t.storage.list('/haproxyhq/auth/sessions/')).items.length).toBe(before - swept);
  });

  it('is known to every replica (sessions live in the store): signed in on one, used and ended on another', async () => {
    const other = await buildTestApp({ storage: t.storage, rbac: true, people: { now: () => clock } });
    try {
      const mine = await login('alice', 'correct horse battery staple');
      // This replica has looked the session up, and caches it briefly.
      expect((await call('GET', '/session', { cookie: mine.id })).status).toBe(200);
      const there = await other.app.inject({ method: 'POST', url: '/logout', headers: { host: HOST, cookie: `${SESSION_COOKIE}=${mine.id}`, ...fromConsole(mine.csrf) } });
      expect(there.statusCode).toBe(200);
      clock += 6_000;
      expect((await call('GET', '/session', { cookie: mine.id })).status).toBe(401);
    } finally {
      await other.app.close();
    }
  });

  it('ends every session of a user that is deleted, and a user made again under the name does not inherit them', async () => {
    await createUser('gus', 'gus password 1', ['viewers']);
    const g = await login('gus', 'gus password 1');
    expect((await call('GET', `${NS}/haproxyinstances`, { cookie: g.id })).status).toBe(200);
    expect((await admin('DELETE', `${B}/users/gus`)).status).toBe(200);
    expect((await call('GET', `${NS}/haproxyinstances`, { cookie: g.id })).status).toBe(401);
    await createUser('gus', 'gus password 1', ['viewers']);
    expect((await call('GET', `${NS}/haproxyinstances`, { cookie: g.id })).status).toBe(401);
  });
});

describe('secrets', () => {
  it('no password, session id or CSRF token is in the store (objects, users, sessions, audit) or in the log', async () => {
    await login('alice', 'correct horse battery staple');
    const { items } = await t.storage.list('/');
    const stored = items.map((kv) => `${kv.key}=${kv.value}`).join('\n');
    expect(stored).toContain('/haproxyhq/auth/users/alice');
    expect(stored).toContain('/haproxyhq/auth/sessions/');
    expect(logs).toMatch(/\/login/); // the log did record the requests
    expect(secrets.size).toBeGreaterThan(10);
    for (const secret of secrets) {
      expect(stored.includes(secret), `the store holds ${secret}`).toBe(false);
      expect(logs.includes(secret), `the log holds ${secret}`).toBe(false);
    }
  });
});

describe('the initial admin', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const tempDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'hq-users-'));
    dirs.push(d);
    return d;
  };

  it('is made once, its random password only in a 0600 file; the file goes once the password has changed', async () => {
    const dir = tempDir();
    const storage = openSqliteStorage({ path: ':memory:' });
    const users = new UserStore(storage);
    const said: string[] = [];
    const log = { info: (m: string) => said.push(m), warn: (m: string) => said.push(m) };
    await ensureInitialAdmin(storage, users, dir, log);
    const file = join(dir, INITIAL_ADMIN_PASSWORD_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const password = readFileSync(file, 'utf8').trim();
    expect(password).toMatch(/^[A-Za-z0-9_-]{27}$/);
    const admin = (await users.get('admin'))!;
    expect(admin.record.groups).toEqual(['system:masters']);
    expect(await verifyPassword(password, admin.record.password)).toBe(true);
    expect(said.join('\n')).toContain(file);
    expect(said.join('\n')).not.toContain(password);

    // Again: nothing new; a reminder while the password still works.
    await ensureInitialAdmin(storage, users, dir, log);
    expect(readFileSync(file, 'utf8').trim()).toBe(password);
    expect(said.at(-1)).toMatch(/still in .* and still works/);
    // Deleting admin does not bring it back.
    await users.delete('admin');
    await ensureInitialAdmin(storage, users, tempDir(), log);
    expect(await users.get('admin')).toBeUndefined();
    // With the password changed (here: the user gone), the file is removed.
    await ensureInitialAdmin(storage, users, dir, log);
    expect(existsSync(file)).toBe(false);
    await storage.close();
  });

  it('is made on a store from before users existed', async () => {
    const dir = tempDir();
    copyFileSync(new URL('./fixtures/store-before-rbac/store.db', import.meta.url), join(dir, 'store.db'));
    const storage = openSqliteStorage({ path: join(dir, 'store.db') });
    const users = new UserStore(storage);
    expect(await users.get('admin')).toBeUndefined();
    await ensureInitialAdmin(storage, users, dir, { info: () => {}, warn: () => {} });
    const password = readFileSync(join(dir, INITIAL_ADMIN_PASSWORD_FILE), 'utf8').trim();
    expect(await verifyPassword(password, (await users.get('admin'))!.record.password)).toBe(true);
    await storage.close();
  });

  it('a real server writes it at first start, never logs it, signs in with it over HTTPS, and says so once', async () => {
    const server = await startServer({ args: ['--controllers', 'false', '--console-dir', 'none'] });
    try {
      const file = join(server.dataDir, INITIAL_ADMIN_PASSWORD_FILE);
      const password = readFileSync(file, 'utf8').trim();
      expect(server.output()).toContain(file);
      expect(server.output()).not.toContain(password);
      const res = await request(server, 'POST', '/login', { username: 'admin', password }, { authorization: '' });
      expect(res.status, res.text).toBe(200);
      expect(String(res.headers['set-cookie'])).toMatch(/^__Host-hq_session=[^;]+; Path=\/; Secure; HttpOnly; SameSite=Strict$/);
      expect(res.body.user).toEqual({ name: 'admin', groups: ['system:masters'] });
      // The old admin token still works beside it.
      expect((await request(server, 'GET', `${B}/users`)).status).toBe(200);
      await server.stop();
      const again = await startServer({ dataDir: server.dataDir, args: ['--controllers', 'false', '--console-dir', 'none'] });
      try {
        expect(readFileSync(file, 'utf8').trim()).toBe(password);
        expect(again.output()).toMatch(/still in .*initial-admin-password and still works/);
        expect(again.output()).not.toContain(password);
      } finally {
        await again.stop();
      }
    } finally {
      await server.stop();
      server.cleanup();
    }
  }, 60_000);
});
