/**
 * Agent enrollment, through the real routes with RBAC: a join token enrolls once, before it
 * expires, and only the instance it names; of concurrent enrollments with one token exactly one
 * succeeds and the others leave nothing behind; the credential it gives reads and writes only its
 * own instance; revocation and rotation take effect at once (rotation after a grace period).
 * And API tokens for people: made, listed without secrets, expired and revoked by id.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoredTokenAuthenticator, TOKEN_PREFIX } from '../src/auth.ts';
import { JOIN_PREFIX } from '../src/credentials/store.ts';
import { buildTestApp, type TestApp } from './support/app.ts';
import { instanceFixture } from './support/fixtures.ts';

const B = '/apis/haproxyhq.io/v1alpha1';
const NS = `${B}/namespaces/default`;
let t: TestApp;
/** The test's clock: tokens expire when it moves, not when the wall clock does. */
let clock = Date.parse('2026-11-24T10:00:00Z');
const now = () => clock;
let address = 0;

async function call(token: string | undefined, method: string, url: string, payload?: unknown, opts: { contentType?: string; remoteAddress?: string } = {}) {
  const res = await t.app.inject({
    method: method as 'GET',
    url,
    // Each call from its own address unless a test says otherwise: the enrollment rate limit is per address.
    remoteAddress: opts.remoteAddress ?? `10.0.${Math.floor(++address / 250)}.${address % 250}`,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(payload !== undefined ? { 'content-type': opts.contentType ?? 'application/json' } : {}),
    },
    payload: payload === undefined ? undefined : JSON.stringify(payload),
  });
  let body: any;
  try {
    body = JSON.parse(res.body);
  } catch {
    body = res.body;
  }
  return { status: res.statusCode, body, headers: res.headers };
}
const admin = (method: string, url: string, payload?: unknown, contentType?: string) => call(t.token, method, url, payload, { contentType });

async function joinToken(body: Record<string, unknown> = {}, ns = 'default'): Promise<{ token: string; id: string }> {
  const res = await admin('POST', `${B}/namespaces/${ns}/jointokens`, body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  expect(res.body.token).toMatch(/^hqj_[A-Za-z0-9_-]{43}$/);
  return { token: res.body.token, id: res.body.metadata.name };
}
const enroll = (token: string, instance: string, remoteAddress?: string) => call(undefined, 'POST', '/enroll', { token, instance }, { remoteAddress });
const keysUnder = async (prefix: string) => (await t.storage.list(prefix)).items.map((kv) => kv.key);
const instanceNames = async () => (await admin('GET', `${NS}/haproxyinstances`)).body.items.map((i: any) => i.metadata.name).sort();

beforeAll(async () => {
  t = await buildTestApp({ rbac: true, now, ca: '-----BEGIN CERTIFICATE-----\ntest\n-----END CERTIFICATE-----\n' });
  expect((await admin('POST', `${NS}/haproxyinstances`, instanceFixture({ metadata: { name: 'other' } }))).status).toBe(201);
});
afterAll(async () => {
  await t.close();
});

describe('join tokens', () => {
  it('are shown once and listed without the secret; the store holds only their hash', async () => {
    const { token, id } = await joinToken({ ttlSeconds: 600, instance: 'edge-list', description: 'rack 4' });
    const list = await admin('GET', `${NS}/jointokens`);
    expect(list.status).toBe(200);
    const item = list.body.items.find((j: any) => j.metadata.name === id);
    expect(item).toMatchObject({ kind: 'JoinToken', instance: 'edge-list', description: 'rack 4', expirationTimestamp: '2026-11-24T10:10:00Z' });
    expect(item.token).toBeUndefined();
    expect(JSON.stringify(list.body)).not.toContain(token);
    const stored = (await t.storage.list(JOIN_PREFIX)).items.map((kv) => kv.key + kv.value).join('\n');
    expect(stored).not.toContain(token);
  });

  it('refuse a TTL over a week and unknown fields', async () => {
    const res = await admin('POST', `${NS}/jointokens`, { ttlSeconds: 7 * 24 * 3600 + 1 });
    expect(res.status).toBe(422);
    expect(res.body.message).toMatch(/ttlSeconds/);
    expect((await admin('POST', `${NS}/jointokens`, { ttlSeconds: 60, extra: 1 })).status).toBe(422);
  });

  it('enroll once: the second use fails with a precise message and creates nothing', async () => {
    const { token, id } = await joinToken({ ttlSeconds: 600 });
    const first = await enroll(token, 'edge-once');
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body).toMatchObject({
      kind: 'Enrollment',
      namespace: 'default',
      instance: 'edge-once',
      user: { name: 'system:agent:default:edge-once', groups: ['system:agents'] },
      certificateAuthority: expect.stringContaining('BEGIN CERTIFICATE'),
    });
    expect(first.body.token).toMatch(/^hq_/);
    expect(first.headers['cache-control']).toBe('no-store');
    const inst = await admin('GET', `${NS}/haproxyinstances/edge-once`);
    expect(inst.status).toBe(200);

    const before = { tokens: await keysUnder(TOKEN_PREFIX), instances: await instanceNames() };
    const again = await enroll(token, 'edge-again');
    expect(again.status).toBe(401);
    expect(again.body).toMatchObject({ kind: 'Status', reason: 'Unauthorized' });
    expect(again.body.message).toContain(`join token ${id} was already used (by instance "edge-once"`);
    expect(again.body.message).not.toContain(token);
    expect({ tokens: await keysUnder(TOKEN_PREFIX), instances: await instanceNames() }).toEqual(before);

    const list = await admin('GET', `${NS}/jointokens`);
    expect(list.body.items.find((j: any) => j.metadata.name === id)).toMatchObject({ usedBy: 'edge-once', usedTimestamp: expect.any(String) });
  });

  it('fail once expired (by the clock, not by sweeping)', async () => {
    const { token, id } = await joinToken({ ttlSeconds: 60 });
    clock += 61_000;
    const res = await enroll(token, 'edge-late');
    expect(res.status).toBe(401);
    expect(res.body.message).toMatch(new RegExp(`join token ${id} expired at `));
    expect(await instanceNames()).not.toContain('edge-late');
  });

  it('fail when unknown, without echoing what was sent', async () => {
    const res = await enroll('hqj_not-a-real-token-at-all-000000000000000000', 'edge-x');
    expect(res.status).toBe(401);
    expect(res.body.message).toMatch(/the join token is not valid: it is unknown/);
    expect(res.body.message).not.toContain('not-a-real');
  });

  it('for instance A cannot enroll B', async () => {
    const { token } = await joinToken({ ttlSeconds: 600, instance: 'edge-a' });
    const wrong = await enroll(token, 'edge-b');
    expect(wrong.status).toBe(403);
    expect(wrong.body.message).toMatch(/enrolls only haproxyinstance "edge-a" in namespace "default", not "edge-b"/);
    expect(await instanceNames()).not.toContain('edge-b');
    // Still unused: A enrolls with it.
    expect((await enroll(token, 'edge-a')).status).toBe(200);
  });

  it('of concurrent enrollments with one token, exactly one succeeds and the others leave nothing', async () => {
    const { token } = await joinToken({ ttlSeconds: 600 });
    const tokensBefore = (await keysUnder(TOKEN_PREFIX)).length;
    const names = Array.from({ length: 8 }, (_, i) => `edge-race-${i}`);
    const results = await Promise.all(names.map((n) => enroll(token, n)));
    const ok = results.filter((r) => r.status === 200);
    expect(ok).toHaveLength(1);
    expect(results.filter((r) => r.status === 401)).toHaveLength(7);
    const winner = ok[0]!.body.instance;
    expect((await instanceNames()).filter((n: string) => n.startsWith('edge-race-'))).toEqual([winner]);
    expect((await keysUnder(TOKEN_PREFIX)).length).toBe(tokensBefore + 1);
  });

  it('into an existing instance adopt it (nothing else created)', async () => {
    const { token } = await joinToken({ instance: 'other' });
    const res = await enroll(token, 'other');
    expect(res.status).toBe(200);
    expect((await admin('GET', `${NS}/haproxyinstances/other`)).body.metadata.labels).toEqual({ role: 'edge' });
  });

  it('failed enrollments are rate limited per source address (429 with Retry-After); others are not', async () => {
    const from = '192.0.2.7';
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await enroll(`hqj_guess-${i}-00000000000000000000000000000000`, 'edge-guess', from)).status);
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401));
    expect(statuses.slice(10)).toEqual([429, 429]);
    const limited = await enroll('hqj_guess-x-00000000000000000000000000000000', 'edge-guess', from);
    expect(limited.headers['retry-after']).toMatch(/^\d+$/);
    expect(limited.body).toMatchObject({ reason: 'TooManyRequests', code: 429 });
    // Another address still enrolls; the limited one again after the bucket refills.
    const { token } = await joinToken({ ttlSeconds: 600 });
    expect((await enroll(token, 'edge-guess', from)).status).toBe(429);
    clock += 10_000;
    expect((await enroll(token, 'edge-guess', from)).status).toBe(200);
  });
});

describe("an enrolled agent's credential", () => {
  let cred: string;
  beforeAll(async () => {
    const { token } = await joinToken({ instance: 'edge-1' });
    const res = await enroll(token, 'edge-1');
    expect(res.status).toBe(200);
    cred = res.body.token;
  });

  it('reads its instance and writes its status, but not another\'s', async () => {
    expect((await call(cred, 'GET', `${NS}/haproxyinstances/edge-1`)).status).toBe(200);
    const status = { status: { heartbeatTime: '2026-11-24T10:00:00Z' } };
    const merge = { contentType: 'application/merge-patch+json' };
    expect((await call(cred, 'PATCH', `${NS}/haproxyinstances/edge-1/status`, status, merge)).status).toBe(200);
    expect((await call(cred, 'GET', `${NS}/haproxyinstances/other`)).status).toBe(403);
    expect((await call(cred, 'PATCH', `${NS}/haproxyinstances/other/status`, status, merge)).status).toBe(403);
    expect((await call(cred, 'POST', `${NS}/jointokens`, { ttlSeconds: 60 })).status).toBe(403);
    expect((await call(cred, 'GET', `${B}/tokens`)).status).toBe(403);
    expect((await call(cred, 'DELETE', `${NS}/haproxyinstances/edge-1/credentials`)).status).toBe(403);
    expect((await call(cred, 'POST', `${NS}/haproxyinstances/other/credentials`)).status).toBe(403);
  });

  it('is listed as an agent token bound to its instance', async () => {
    const list = await admin('GET', `${B}/tokens`);
    const mine = list.body.items.filter((i: any) => i.instance?.name === 'edge-1');
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ type: 'agent', user: { name: 'system:agent:default:edge-1' }, instance: { namespace: 'default', name: 'edge-1' } });
    expect(JSON.stringify(list.body)).not.toContain(cred);
  });

  it('rotation gives a new one and keeps the old one for the grace period, then not', async () => {
    const rotated = await call(cred, 'POST', `${NS}/haproxyinstances/edge-1/credentials`);
    expect(rotated.status, JSON.stringify(rotated.body)).toBe(201);
    expect(rotated.body).toMatchObject({ kind: 'Enrollment', instance: 'edge-1', user: { name: 'system:agent:default:edge-1' } });
    const fresh: string = rotated.body.token;
    expect(fresh).not.toBe(cred);
    expect((await call(fresh, 'GET', `${NS}/haproxyinstances/edge-1`)).status).toBe(200);
    clock += 4 * 60_000;
    expect((await call(cred, 'GET', `${NS}/haproxyinstances/edge-1`)).status).toBe(200);
    clock += 61_000;
    expect((await call(cred, 'GET', `${NS}/haproxyinstances/edge-1`)).status).toBe(401);
    expect((await call(fresh, 'GET', `${NS}/haproxyinstances/edge-1`)).status).toBe(200);
    cred = fresh;
  });

  it('revocation makes every credential of the instance 401 at once', async () => {
    const second = (await call(cred, 'POST', `${NS}/haproxyinstances/edge-1/credentials`)).body.token as string;
    // Both in the cache first.
    expect((await call(cred, 'GET', `${NS}/haproxyinstances/edge-1`)).status).toBe(200);
    expect((await call(second, 'GET', `${NS}/haproxyinstances/edge-1`)).status).toBe(200);
    const res = await admin('DELETE', `${NS}/haproxyinstances/edge-1/credentials`);
    expect(res.status).toBe(200);
    expect(res.body.items).toHaveLength(2);
    const deadline = Date.now() + 2000;
    while ((await call(cred, 'GET', `${NS}/haproxyinstances/edge-1`)).status !== 401 || (await call(second, 'GET', `${NS}/haproxyinstances/edge-1`)).status !== 401) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 20));
    }
    // A revoked credential cannot rotate itself back either.
    expect((await call(second, 'POST', `${NS}/haproxyinstances/edge-1/credentials`)).status).toBe(401);
  });
});

describe('deleting an instance', () => {
  it("revokes its agent's credentials: a new instance of the same name needs a new enrollment", async () => {
    const { token } = await joinToken({ instance: 'edge-9' });
    const cred = (await enroll(token, 'edge-9')).body.token as string;
    expect((await call(cred, 'GET', `${NS}/haproxyinstances/edge-9`)).status).toBe(200);
    expect((await admin('DELETE', `${NS}/haproxyinstances/edge-9`)).status).toBe(200);
    expect((await admin('POST', `${NS}/haproxyinstances`, { apiVersion: 'haproxyhq.io/v1alpha1', kind: 'HAProxyInstance', metadata: { name: 'edge-9' }, spec: {} })).status).toBe(201);
    const deadline = Date.now() + 2000;
    while ((await call(cred, 'GET', `${NS}/haproxyinstances/edge-9`)).status !== 401) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 20));
    }
  });
});

describe('API tokens for people and pipelines', () => {
  it('are made with a user and groups, shown once, listed by id, and revoked by id', async () => {
    const made = await admin('POST', `${B}/tokens`, { user: { name: 'ci', groups: ['deployers'] }, description: 'CI deploys' });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ kind: 'APIToken', type: 'user', user: { name: 'ci', groups: ['deployers'] }, description: 'CI deploys' });
    const { token } = made.body;
    const id: string = made.body.metadata.name;
    expect(id).toMatch(/^[0-9a-f]{12}$/);
    // Authenticated as ci (no binding yet: 403, not 401).
    expect((await call(token, 'GET', `${NS}/haproxyconfigs`)).status).toBe(403);
    const list = await admin('GET', `${B}/tokens`);
    expect(list.body.items.find((i: any) => i.metadata.name === id)).toMatchObject({ user: { name: 'ci' }, type: 'user' });
    expect(JSON.stringify(list.body)).not.toContain(token);
    expect((await admin('DELETE', `${B}/tokens/${id}`)).status).toBe(200);
    expect((await call(token, 'GET', `${NS}/haproxyconfigs`)).status).toBe(401);
    expect((await admin('DELETE', `${B}/tokens/${id}`)).status).toBe(404);
    expect((await admin('GET', `${B}/tokens`)).body.items.map((i: any) => i.metadata.name)).not.toContain(id);
  });

  it('expire after their TTL', async () => {
    const made = await admin('POST', `${B}/tokens`, { user: { name: 'temp', groups: [] }, ttlSeconds: 3600 });
    expect(made.body.expirationTimestamp).toBe(new Date(clock + 3600_000).toISOString().replace(/\.\d+Z$/, 'Z'));
    expect((await call(made.body.token, 'GET', `${NS}/haproxyconfigs`)).status).toBe(403);
    clock += 3601_000;
    expect((await call(made.body.token, 'GET', `${NS}/haproxyconfigs`)).status).toBe(401);
  });

  it('cannot be made for agents, and only by a superuser for superusers', async () => {
    expect((await admin('POST', `${B}/tokens`, { user: { name: 'system:agent:default:edge-9', groups: [] } })).status).toBe(403);
    expect((await admin('POST', `${B}/tokens`, { user: { name: 'x', groups: ['system:agents'] } })).status).toBe(403);
    // An admin by binding (not system:masters) may make tokens, but not superuser ones.
    const alice = (await admin('POST', `${B}/tokens`, { user: { name: 'alice', groups: [] } })).body.token as string;
    await admin('POST', `${B}/clusterrolebindings`, { metadata: { name: 'alice-admin' }, roleRef: { kind: 'ClusterRole', name: 'admin' }, subjects: [{ kind: 'User', name: 'alice' }] });
    const deadline = Date.now() + 5000;
    while ((await call(alice, 'GET', `${B}/tokens`)).status !== 200) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect((await call(alice, 'POST', `${B}/tokens`, { user: { name: 'bob', groups: [] } })).status).toBe(201);
    const escalate = await call(alice, 'POST', `${B}/tokens`, { user: { name: 'bob', groups: ['system:masters'] } });
    expect(escalate.status).toBe(403);
    expect(escalate.body.message).toMatch(/only a member of system:masters/);
  });

  it('from before ids existed keep working, get an id from their hash, and can be revoked', async () => {
    // The record format of the first release: user, description, createdAt, nothing else.
    const legacy = 'hq_legacy-token-from-an-old-store-0000000000000';
    const { createHash } = await import('node:crypto');
    const hash = createHash('sha256').update(legacy).digest('hex');
    await t.storage.txn([{ type: 'create', key: TOKEN_PREFIX + hash, value: JSON.stringify({ user: { name: 'admin', groups: ['system:masters'] }, description: 'old', createdAt: '2025-01-01T00:00:00.000Z' }) }]);
    expect((await call(legacy, 'GET', `${NS}/haproxyinstances`)).status).toBe(200);
    const list = await admin('GET', `${B}/tokens`);
    expect(list.body.items.find((i: any) => i.metadata.name === hash.slice(0, 12))).toMatchObject({ type: 'user', description: 'old' });
    expect((await admin('DELETE', `${B}/tokens/${hash.slice(0, 12)}`)).status).toBe(200);
    expect((await call(legacy, 'GET', `${NS}/haproxyinstances`)).status).toBe(401);
    // And registering it again (a restart with the same kubeconfig) does not bring it back.
    expect(await new StoredTokenAuthenticator(t.storage).register(legacy, { name: 'admin', groups: ['system:masters'] }, 'again')).toBe('revoked');
    expect((await call(legacy, 'GET', `${NS}/haproxyinstances`)).status).toBe(401);
  });
});
