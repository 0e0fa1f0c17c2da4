/**
 * Who may do what: every built-in role x every verb x every resource, through the real routes;
 * RoleBindings confined to their namespace; an agent's credential confined to its own instance;
 * and no endpoint but health, version and the console's files answering without credentials.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESOURCES } from '@haproxyhq/schemas';
import { StoredTokenAuthenticator, generateToken, type RequestAttributes, type UserInfo } from '../src/auth.ts';
import { BUILTIN_CLUSTER_ROLES } from '../src/rbac/rules.ts';
import { buildTestApp, type TestApp } from './support/app.ts';
import { configFixture, instanceFixture } from './support/fixtures.ts';
import { until } from './support/until.ts';

const B = '/apis/haproxyhq.io/v1alpha1';
let t: TestApp;
const tokens: Record<string, string> = {};

async function call(token: string | undefined, method: string, url: string, payload?: unknown, contentType = 'application/json') {
  const res = await t.app.inject({
    method: method as 'GET',
    url,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(payload !== undefined ? { 'content-type': contentType } : {}) },
    payload: payload === undefined ? undefined : JSON.stringify(payload),
  });
  let body: any;
  try {
    body = JSON.parse(res.body);
  } catch {
    body = res.body; // a watch stream (NDJSON) or a health check's "ok"
  }
  return { status: res.statusCode, body };
}
const admin = (method: string, url: string, payload?: unknown) => call(t.token, method, url, payload);

async function user(name: string, u: UserInfo): Promise<void> {
  tokens[name] = generateToken();
  await new StoredTokenAuthenticator(t.storage).register(tokens[name]!, u, `test ${name}`);
}

beforeAll(async () => {
  t = await buildTestApp({ rbac: true });
  await user('admin-user', { name: 'alice', groups: [] });
  await user('editor-user', { name: 'bob', groups: ['ops'] });
  await user('viewer-user', { name: 'carol', groups: [] });
  await user('nobody', { name: 'dave', groups: [] });
  await user('team-editor', { name: 'erin', groups: [] });
  await user('agent-1', { name: 'system:agent:default:edge-1', groups: ['system:agents'], agent: { namespace: 'default', name: 'edge-1' } });
  const bind = (name: string, role: string, subject: { kind: 'User' | 'Group'; name: string }) =>
    admin('POST', `${B}/clusterrolebindings`, { metadata: { name }, roleRef: { kind: 'ClusterRole', name: role }, subjects: [subject] });
  expect((await bind('alice-admin', 'admin', { kind: 'User', name: 'alice' })).status).toBe(201);
  expect((await bind('ops-editor', 'editor', { kind: 'Group', name: 'ops' })).status).toBe(201);
  expect((await bind('carol-viewer', 'viewer', { kind: 'User', name: 'carol' })).status).toBe(201);
  expect((await admin('POST', `${B}/namespaces/team-a/rolebindings`, { metadata: { name: 'erin' }, roleRef: { kind: 'ClusterRole', name: 'editor' }, subjects: [{ kind: 'User', name: 'erin' }] })).status).toBe(201);
  // Objects for the requests to act on.
  expect((await admin('POST', `${B}/namespaces/default/haproxyinstances`, instanceFixture({ metadata: { name: 'edge-1' } }))).status).toBe(201);
  expect((await admin('POST', `${B}/namespaces/default/haproxyinstances`, instanceFixture({ metadata: { name: 'edge-2' } }))).status).toBe(201);
  expect((await admin('POST', `${B}/namespaces/default/haproxyconfigs`, configFixture())).status).toBe(201);
  await admin('PATCH', `${B}/namespaces/default/haproxyinstances/edge-1`, undefined);
  // Bindings reach the authorizer through its watch: wait until the last one is seen.
  await until('bindings seen', async () => (await call(tokens['team-editor'], 'GET', `${B}/namespaces/team-a/haproxyconfigs`)).status === 200 || undefined);
  await until('bindings seen', async () => (await call(tokens['viewer-user'], 'GET', `${B}/namespaces/default/haproxyconfigs`)).status === 200 || undefined);
});
afterAll(async () => {
  await t.close();
});

type Verb = RequestAttributes['verb'];
const READ: Verb[] = ['get', 'list', 'watch'];
const WRITE: Verb[] = ['create', 'update', 'patch', 'delete'];
const rulesOf = (role: string) => BUILTIN_CLUSTER_ROLES.find((r) => r.metadata.name === role)!.rules;

/** The specification, written out (not derived from the roles' rules, which it checks). */
function expected(role: 'admin' | 'editor' | 'viewer' | 'none', verb: Verb, target: string): boolean {
  if (role === 'admin') return true;
  if (role === 'none') return false;
  const readable = ['haproxyinstances', 'haproxyinstances/status', 'haproxyconfigs', 'haproxyconfigs/status', 'configrevisions', 'events', 'leases'].includes(target);
  if (READ.includes(verb)) return readable;
  return role === 'editor' && ['haproxyconfigs', 'haproxyinstances'].includes(target);
}

/** One real request for (verb, resource[/status]) in namespace default, or cluster-wide. */
function requestFor(verb: Verb, plural: string, sub?: string): { method: string; url: string; body?: unknown } {
  const d = RESOURCES.find((r) => r.plural === plural)!;
  const coll = d.namespaced ? `${B}/namespaces/default/${plural}` : `${B}/${plural}`;
  const item = `${coll}/x${sub ? `/${sub}` : ''}`;
  const body = { apiVersion: 'haproxyhq.io/v1alpha1', kind: d.kind, metadata: { name: 'x' } };
  switch (verb) {
    case 'get':
      return { method: 'GET', url: item };
    case 'list':
      return { method: 'GET', url: coll };
    case 'watch':
      return { method: 'GET', url: `${coll}?watch=true&timeoutSeconds=1` };
    case 'create':
      return { method: 'POST', url: coll, body };
    case 'update':
      return { method: 'PUT', url: item, body };
    case 'patch':
      return { method: 'PATCH', url: item, body: { metadata: { labels: { a: 'b' } } } };
    case 'delete':
      return { method: 'DELETE', url: item };
    default:
      throw new Error(verb);
  }
}

describe('the permission matrix of the built-in roles', () => {
  const roles = [
    ['admin', 'admin-user'],
    ['editor', 'editor-user'],
    ['viewer', 'viewer-user'],
    ['none', 'nobody'],
  ] as const;
  const targets = RESOURCES.flatMap((r) => [{ plural: r.plural, sub: undefined as string | undefined }, ...(r.statusSubresource ? [{ plural: r.plural, sub: 'status' }] : [])]);
  for (const [role, who] of roles) {
    it(`${role}: every verb on every resource is allowed or denied as specified`, async () => {
      const rows: string[] = [];
      for (const { plural, sub } of targets) {
        const target = sub ? `${plural}/${sub}` : plural;
        for (const verb of [...READ, ...WRITE]) {
          // Subresources have no collection verbs.
          if (sub && ['list', 'watch', 'create', 'delete'].includes(verb)) continue;
          const r = requestFor(verb, plural, sub);
          const res = await call(tokens[who], r.method, r.url, r.body);
          const allowed = res.status !== 403;
          if (allowed !== expected(role, verb, target)) rows.push(`${verb} ${target}: got ${res.status} ${res.body?.message ?? ''}`);
          if (!allowed) expect(res.body.message).toMatch(/is forbidden: User ".*" cannot/);
        }
      }
      expect(rows).toEqual([]);
    });
  }

  it('the built-in roles hold the rules the matrix expects (and the server restores them)', async () => {
    expect(rulesOf('viewer').every((r) => r.verbs.every((v) => READ.includes(v as Verb)))).toBe(true);
    const res = await admin('GET', `${B}/clusterroles`);
    expect(res.body.items.map((r: any) => r.metadata.name).sort()).toEqual(['admin', 'editor', 'viewer']);
  });
});

describe('bindings', () => {
  it('a RoleBinding grants only in its namespace, and never cluster-wide lists', async () => {
    const erin = tokens['team-editor']!;
    expect((await call(erin, 'POST', `${B}/namespaces/team-a/haproxyconfigs`, configFixture({ metadata: { name: 'a' } }))).status).toBe(201);
    expect((await call(erin, 'POST', `${B}/namespaces/team-b/haproxyconfigs`, configFixture({ metadata: { name: 'b' } }))).status).toBe(403);
    expect((await call(erin, 'GET', `${B}/haproxyconfigs`)).status).toBe(403);
    expect((await call(erin, 'GET', `${B}/clusterroles`)).status).toBe(403);
  });

  it('a binding removed takes its permissions with it', async () => {
    await user('frank', { name: 'frank', groups: [] });
    const frank = tokens['frank']!;
    await admin('POST', `${B}/clusterrolebindings`, { metadata: { name: 'frank' }, roleRef: { kind: 'ClusterRole', name: 'viewer' }, subjects: [{ kind: 'User', name: 'frank' }] });
    await until('frank can read', async () => (await call(frank, 'GET', `${B}/namespaces/default/haproxyconfigs`)).status === 200 || undefined);
    await admin('DELETE', `${B}/clusterrolebindings/frank`);
    await until('frank cannot read', async () => (await call(frank, 'GET', `${B}/namespaces/default/haproxyconfigs`)).status === 403 || undefined);
  });
});

describe("an agent's credential", () => {
  const NS = `${B}/namespaces/default`;
  const agent = () => tokens['agent-1']!;
  const ev = (about: string) => ({ apiVersion: 'haproxyhq.io/v1alpha1', kind: 'Event', metadata: { name: `e-${about}-${Math.random().toString(36).slice(2, 7)}` }, involvedObject: { kind: 'HAProxyInstance', name: about, namespace: 'default' }, type: 'Normal', reason: 'ConfigApplied' });

  it('reads its own instance, by name or by a watch pinned to it, and nothing else', async () => {
    expect((await call(agent(), 'GET', `${NS}/haproxyinstances/edge-1`)).status).toBe(200);
    expect((await call(agent(), 'GET', `${NS}/haproxyinstances?fieldSelector=metadata.name%3Dedge-1`)).status).toBe(200);
    expect((await call(agent(), 'GET', `${NS}/haproxyinstances?watch=true&timeoutSeconds=1&fieldSelector=metadata.name%3Dedge-1`)).status).toBe(200);
    expect((await call(agent(), 'GET', `${NS}/haproxyinstances/edge-2`)).status).toBe(403);
    expect((await call(agent(), 'GET', `${NS}/haproxyinstances`)).status).toBe(403);
    expect((await call(agent(), 'GET', `${NS}/haproxyinstances?fieldSelector=metadata.name%3Dedge-2`)).status).toBe(403);
    expect((await call(agent(), 'GET', `${B}/namespaces/other/haproxyinstances/edge-1`)).status).toBe(403);
    expect((await call(agent(), 'GET', `${NS}/haproxyconfigs/web`)).status).toBe(403);
  });

  it("writes its own status, Lease and Events, never another's", async () => {
    const status = { status: { heartbeatTime: new Date().toISOString() } };
    expect((await call(agent(), 'PATCH', `${NS}/haproxyinstances/edge-1/status`, status, 'application/merge-patch+json')).status).toBe(200);
    expect((await call(agent(), 'PATCH', `${NS}/haproxyinstances/edge-2/status`, status, 'application/merge-patch+json')).status).toBe(403);
    const lease = (name: string) => ({ apiVersion: 'haproxyhq.io/v1alpha1', kind: 'Lease', metadata: { name }, spec: { holderIdentity: 'h', leaseDurationSeconds: 40 } });
    expect((await call(agent(), 'POST', `${NS}/leases`, lease('edge-1'))).status).toBe(201);
    expect((await call(agent(), 'POST', `${NS}/leases`, lease('edge-2'))).status).toBe(403);
    expect((await call(agent(), 'PATCH', `${NS}/leases/edge-2`, { spec: { holderIdentity: 'x' } }, 'application/merge-patch+json')).status).toBe(403);
    expect((await call(agent(), 'POST', `${NS}/events`, ev('edge-1'))).status).toBe(201);
    expect((await call(agent(), 'POST', `${NS}/events`, ev('edge-2'))).status).toBe(403);
    expect((await call(agent(), 'DELETE', `${NS}/haproxyinstances/edge-1`)).status).toBe(403);
    expect((await call(agent(), 'POST', `${B}/clusterrolebindings`, { metadata: { name: 'me' }, roleRef: { kind: 'ClusterRole', name: 'admin' }, subjects: [{ kind: 'User', name: 'system:agent:default:edge-1' }] })).status).toBe(403);
  });

  it('reads only the revisions its instance runs or is told to run', async () => {
    const revs = (await admin('GET', `${NS}/configrevisions`)).body.items.map((r: any) => r.metadata.name);
    expect(revs).toContain('web-1');
    expect((await call(agent(), 'GET', `${NS}/configrevisions/web-1`)).status).toBe(403);
    await admin('PATCH', `${NS}/haproxyinstances/edge-1`, undefined);
    const pinned = await t.app.inject({ method: 'PATCH', url: `${NS}/haproxyinstances/edge-1`, headers: { ...t.headers, 'content-type': 'application/merge-patch+json' }, payload: JSON.stringify({ spec: { configRevision: 'web-1' } }) });
    expect(pinned.statusCode).toBe(200);
    expect((await call(agent(), 'GET', `${NS}/configrevisions/web-1`)).status).toBe(200);
    expect((await call(agent(), 'GET', `${NS}/configrevisions`)).status).toBe(403);
  });

  it('may push a config only where a binding allows the agents', async () => {
    const patch = { spec: { config: 'global\n' } };
    expect((await call(agent(), 'PATCH', `${NS}/haproxyconfigs/web`, patch, 'application/merge-patch+json')).status).toBe(403);
    await admin('POST', `${NS}/roles`, { metadata: { name: 'push-web' }, rules: [{ verbs: ['get', 'patch'], resources: ['haproxyconfigs'], resourceNames: ['web'] }] });
    await admin('POST', `${NS}/rolebindings`, { metadata: { name: 'agents-push-web' }, roleRef: { kind: 'Role', name: 'push-web' }, subjects: [{ kind: 'Group', name: 'system:agents' }] });
    await until('push allowed', async () => (await call(agent(), 'GET', `${NS}/haproxyconfigs/web`)).status === 200 || undefined);
    expect((await call(agent(), 'PATCH', `${NS}/haproxyconfigs/web`, patch, 'application/merge-patch+json')).status).toBe(200);
    expect((await call(agent(), 'PATCH', `${NS}/haproxyconfigs/other`, patch, 'application/merge-patch+json')).status).toBe(403);
  });
});

describe('without credentials', () => {
  /** Every route the server has, from Fastify's own route tree, with its methods. */
  function routes(): { path: string; methods: string[] }[] {
    const out: { path: string; methods: string[] }[] = [];
    const stack: string[] = [];
    for (const line of t.app.printRoutes({ commonPrefix: false }).split('\n')) {
      const m = /^((?:│   |    )*)(?:├── |└── )(.*?) \(([A-Z, ]+)\)$/.exec(line);
      if (!m) continue;
      const depth = m[1]!.length / 4;
      stack.length = depth;
      stack.push(m[2]!);
      out.push({ path: stack.join(''), methods: m[3]!.split(', ') });
    }
    return out;
  }

  it('no endpoint but health, version and discovery of nothing answers: every other is 401', async () => {
    // POST /enroll takes an agent's join token in its body instead (enrollment.test.ts), POST /login a user's
    // password (users-sessions.test.ts): without one they are refused, never 2xx.
    const open = new Set(['/healthz', '/livez', '/readyz', '/version', '/enroll', '/login']);
    const all = routes();
    expect(all.length).toBeGreaterThan(10);
    const answered: string[] = [];
    for (const r of all) {
      for (const method of r.methods) {
        if (method === 'HEAD') continue;
        const url = r.path.replace(':namespace', 'default').replace(':plural', 'haproxyinstances').replace(':name', 'edge-1');
        const res = await call(undefined, method, url, method === 'GET' || method === 'DELETE' ? undefined : {});
        if (url === '/enroll') expect(res.status, 'an enrollment without a join token').toBe(400);
        if (res.status !== 401) answered.push(`${method} ${url}: ${res.status}`);
        else expect(res.body).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401 });
      }
    }
    expect(answered.filter((a) => !open.has(a.split(' ')[1]!.split(':')[0]!))).toEqual([]);
  });
});
