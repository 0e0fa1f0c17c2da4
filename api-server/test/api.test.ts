/**
 * The API's Kubernetes semantics, in process (app.inject): verbs, generation and status rules,
 * optimistic concurrency, patches, selectors, pagination, tables, revisions and discovery.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildTestApp, objectsState, type TestApp } from './support/app.ts';
import { BASE, configFixture, instanceFixture, ns } from './support/fixtures.ts';

let t: TestApp;
beforeEach(async () => {
  t = await buildTestApp();
});
afterEach(async () => {
  await t.close();
});

async function call(method: string, url: string, payload?: unknown, headers: Record<string, string> = {}) {
  const res = await t.app.inject({
    method: method as 'GET',
    url,
    headers: { ...t.headers, ...(payload !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    payload: payload === undefined ? undefined : typeof payload === 'string' ? payload : JSON.stringify(payload),
  });
  return { status: res.statusCode, body: res.json() as any };
}

const create = (plural: string, obj: unknown, namespace = 'default') => call('POST', ns(plural, namespace), obj);

describe('create and get', () => {
  it('sets uid, generation 1, creationTimestamp and resourceVersion, and drops status on create', async () => {
    const res = await create('haproxyinstances', instanceFixture({ status: { appliedRevision: 'x' } }));
    expect(res.status).toBe(201);
    const m = res.body.metadata;
    expect(m.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(m.generation).toBe(1);
    expect(m.creationTimestamp).toMatch(/Z$/);
    expect(Number(m.resourceVersion)).toBeGreaterThan(0);
    expect(res.body.status).toBeUndefined();
    const got = await call('GET', `${ns('haproxyinstances')}/edge-1`);
    expect(got.body).toEqual(res.body);
  });

  it('creates an existing name as 409 AlreadyExists', async () => {
    await create('haproxyinstances', instanceFixture());
    const res = await create('haproxyinstances', instanceFixture());
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ kind: 'Status', reason: 'AlreadyExists', code: 409 });
    expect(res.body.message).toContain('"edge-1" already exists');
  });

  it('generates a name from generateName', async () => {
    const res = await create('haproxyinstances', instanceFixture({ metadata: { name: undefined, generateName: 'edge-' } }));
    expect(res.status).toBe(201);
    expect(res.body.metadata.name).toMatch(/^edge-[a-z0-9]{5}$/);
  });

  it('answers a missing object with a 404 Status naming it', async () => {
    const res = await call('GET', `${ns('haproxyinstances')}/nope`);
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ reason: 'NotFound', details: { name: 'nope', kind: 'haproxyinstances' } });
  });
});

describe('update', () => {
  it('bumps generation on spec change, ignores status on the main resource', async () => {
    const created = (await create('haproxyinstances', instanceFixture())).body;
    const res = await call('PUT', `${ns('haproxyinstances')}/edge-1`, {
      ...created,
      spec: { paused: true },
      status: { appliedRevision: 'ignored' },
    });
    expect(res.status).toBe(200);
    expect(res.body.metadata.generation).toBe(2);
    expect(res.body.status).toBeUndefined();
    expect(res.body.metadata.uid).toBe(created.metadata.uid);
  });

  it('keeps generation on a metadata-only change', async () => {
    const created = (await create('haproxyinstances', instanceFixture())).body;
    const res = await call('PUT', `${ns('haproxyinstances')}/edge-1`, {
      ...created,
      metadata: { ...created.metadata, labels: { role: 'edge', env: 'prod' } },
    });
    expect(res.body.metadata.generation).toBe(1);
    expect(res.body.metadata.labels.env).toBe('prod');
  });

  it('writes nothing for a no-op update: the resourceVersion stays', async () => {
    const created = (await create('haproxyinstances', instanceFixture())).body;
    const res = await call('PUT', `${ns('haproxyinstances')}/edge-1`, created);
    expect(res.body.metadata.resourceVersion).toBe(created.metadata.resourceVersion);
    // Only the audit log (outside /registry/) records the request.
    expect(await objectsState(t.storage)).toBe(JSON.stringify([[`/registry/haproxyhq.io/haproxyinstances/default/edge-1`, Number(created.metadata.resourceVersion)]]));
  });

  it('requires a resourceVersion (422) and refuses a stale one (409 Conflict)', async () => {
    const created = (await create('haproxyinstances', instanceFixture())).body;
    const { resourceVersion: _rv, ...noRv } = created.metadata;
    const missing = await call('PUT', `${ns('haproxyinstances')}/edge-1`, { ...created, metadata: noRv });
    expect(missing.status).toBe(422);
    expect(missing.body.details.causes[0].field).toBe('metadata.resourceVersion');
    await call('PUT', `${ns('haproxyinstances')}/edge-1`, { ...created, spec: { paused: true } });
    const stale = await call('PUT', `${ns('haproxyinstances')}/edge-1`, { ...created, spec: { paused: false } });
    expect(stale.status).toBe(409);
    expect(stale.body.reason).toBe('Conflict');
    expect(stale.body.message).toContain('the object has been modified');
    expect((await call('GET', `${ns('haproxyinstances')}/edge-1`)).body.spec.paused).toBe(true);
  });

  it('writes status only through /status, without moving generation, ignoring spec there', async () => {
    const created = (await create('haproxyinstances', instanceFixture())).body;
    const res = await call('PUT', `${ns('haproxyinstances')}/edge-1/status`, {
      ...created,
      spec: { paused: true },
      status: { appliedRevision: 'web-1', observedGeneration: 1 },
    });
    expect(res.status).toBe(200);
    expect(res.body.status.appliedRevision).toBe('web-1');
    expect(res.body.spec.paused).toBe(false);
    expect(res.body.metadata.generation).toBe(1);
  });

  it('has no /status on resources without the subresource', async () => {
    const res = await call('GET', `${ns('events')}/x/status`);
    expect(res.status).toBe(404);
  });
});

describe('patch', () => {
  beforeEach(async () => {
    await create('haproxyinstances', instanceFixture({ spec: { servers: [{ backend: 'be', server: 's1', state: 'ready' }] } }));
  });
  const url = () => `${ns('haproxyinstances')}/edge-1`;

  it('applies a merge patch (null deletes)', async () => {
    const res = await call('PATCH', url(), { metadata: { labels: { role: null, env: 'prod' } }, spec: { paused: true } }, {
      'content-type': 'application/merge-patch+json',
    });
    expect(res.status).toBe(200);
    expect(res.body.metadata.labels).toEqual({ env: 'prod' });
    expect(res.body.spec.paused).toBe(true);
    expect(res.body.metadata.generation).toBe(2);
  });

  it('applies a JSON patch, and reports a failing op with its index', async () => {
    const ok = await call('PATCH', url(), [{ op: 'replace', path: '/spec/servers/0/state', value: 'drain' }], {
      'content-type': 'application/json-patch+json',
    });
    expect(ok.body.spec.servers[0].state).toBe('drain');
    const bad = await call('PATCH', url(), [{ op: 'test', path: '/spec/paused', value: true }, { op: 'remove', path: '/spec' }], {
      'content-type': 'application/json-patch+json',
    });
    expect(bad.status).toBe(422);
    expect(bad.body.message).toContain('operation 0');
  });

  it('treats strategic merge as merge patch and refuses server-side apply with 415', async () => {
    const smp = await call('PATCH', url(), { spec: { paused: true } }, { 'content-type': 'application/strategic-merge-patch+json' });
    expect(smp.body.spec.paused).toBe(true);
    const ssa = await t.app.inject({ method: 'PATCH', url: url(), headers: { ...t.headers, 'content-type': 'application/apply-patch+yaml' }, payload: 'spec: {}' });
    expect(ssa.statusCode).toBe(415);
    expect(ssa.json().message).toContain('server-side apply is not supported');
  });

  it('treats a resourceVersion in the patch as a precondition', async () => {
    const res = await call('PATCH', url(), { metadata: { resourceVersion: '1' }, spec: { paused: true } }, {
      'content-type': 'application/merge-patch+json',
    });
    expect(res.status).toBe(409);
  });

  it('patches status through /status only', async () => {
    const res = await call('PATCH', `${url()}/status`, { status: { appliedRevision: 'web-3' }, spec: { paused: true } }, {
      'content-type': 'application/merge-patch+json',
    });
    expect(res.body.status.appliedRevision).toBe('web-3');
    expect(res.body.spec.paused).toBe(false);
    const main = await call('PATCH', url(), { status: { appliedRevision: 'nope' } }, { 'content-type': 'application/merge-patch+json' });
    expect(main.body.status.appliedRevision).toBe('web-3');
  });
});

describe('fieldValidation', () => {
  const body = () => instanceFixture({ spec: { paused: true, bogus: 1 } });

  it('refuses unknown fields by default and with Strict', async () => {
    for (const q of ['', '?fieldValidation=Strict']) {
      const res = await call('POST', ns('haproxyinstances') + q, body());
      expect(res.status).toBe(422);
      expect(res.body.details.causes).toContainEqual({ reason: 'FieldValueInvalid', field: 'spec.bogus', message: 'unknown field' });
    }
  });

  it('drops them when the client asks (kubectl --validate=false sends Ignore), warning with Warn', async () => {
    const ignored = await call('POST', `${ns('haproxyinstances')}?fieldValidation=Ignore`, body());
    expect(ignored.status).toBe(201);
    expect(ignored.body.spec).toEqual({ paused: true });
    const res = await t.app.inject({
      method: 'POST',
      url: `${ns('haproxyinstances')}?fieldValidation=Warn`,
      headers: { ...t.headers, 'content-type': 'application/json' },
      payload: instanceFixture({ metadata: { name: 'edge-2' }, spec: { paused: true, bogus: 1 } }),
    });
    expect(res.statusCode).toBe(201);
    expect(res.headers.warning).toBe('299 - "unknown field \\"spec.bogus\\""');
    expect(res.json().spec).toEqual({ paused: true });
  });

  it('still refuses invalid known fields when ignoring unknown ones, and refuses a bad mode', async () => {
    const res = await call('POST', `${ns('haproxyinstances')}?fieldValidation=Ignore`, instanceFixture({ spec: { paused: 'x', bogus: 1 } }));
    expect(res.status).toBe(422);
    expect(res.body.details.causes.map((c: any) => c.field)).toEqual(['spec.paused']);
    const bad = await call('POST', `${ns('haproxyinstances')}?fieldValidation=Lax`, body());
    expect(bad.status).toBe(400);
  });
});

describe('delete', () => {
  it('honours uid and resourceVersion preconditions', async () => {
    const created = (await create('haproxyinstances', instanceFixture())).body;
    const url = `${ns('haproxyinstances')}/edge-1`;
    const badUid = await call('DELETE', url, { preconditions: { uid: 'other' } });
    expect(badUid.status).toBe(409);
    expect(badUid.body.message).toContain('Precondition failed: UID');
    const badRv = await call('DELETE', url, { preconditions: { resourceVersion: '999' } });
    expect(badRv.status).toBe(409);
    const ok = await call('DELETE', url, { preconditions: { uid: created.metadata.uid, resourceVersion: created.metadata.resourceVersion } });
    expect(ok.status).toBe(200);
    expect((await call('GET', url)).status).toBe(404);
  });
});

describe('list', () => {
  beforeEach(async () => {
    for (let i = 0; i < 7; i++) {
      await create('haproxyinstances', instanceFixture({ metadata: { name: `edge-${i}`, labels: { role: i % 2 ? 'edge' : 'core', idx: String(i) } } }));
    }
    await create('haproxyinstances', instanceFixture({ metadata: { name: 'other', namespace: 'prod' } }), 'prod');
  });

  it('filters by label selector in all its forms', async () => {
    const names = async (sel: string) =>
      (await call('GET', `${ns('haproxyinstances')}?labelSelector=${encodeURIComponent(sel)}`)).body.items.map((i: any) => i.metadata.name);
    expect(await names('role=edge')).toEqual(['edge-1', 'edge-3', 'edge-5']);
    expect(await names('role!=edge')).toEqual(['edge-0', 'edge-2', 'edge-4', 'edge-6']);
    expect(await names('idx in (1,2),role')).toEqual(['edge-1', 'edge-2']);
    expect(await names('!idx')).toEqual([]);
    const bad = await call('GET', `${ns('haproxyinstances')}?labelSelector=${encodeURIComponent('a in (')}`);
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('labelSelector');
  });

  it('filters by field selector on name and namespace, and refuses other fields', async () => {
    const one = await call('GET', `${ns('haproxyinstances')}?fieldSelector=metadata.name%3Dedge-3`);
    expect(one.body.items.map((i: any) => i.metadata.name)).toEqual(['edge-3']);
    const all = await call('GET', `${BASE}/haproxyinstances?fieldSelector=metadata.namespace%3Dprod`);
    expect(all.body.items.map((i: any) => i.metadata.name)).toEqual(['other']);
    const bad = await call('GET', `${ns('haproxyinstances')}?fieldSelector=spec.paused%3Dtrue`);
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('field label not supported: spec.paused');
  });

  it('lists across namespaces', async () => {
    const res = await call('GET', `${BASE}/haproxyinstances`);
    expect(res.body.items).toHaveLength(8);
    expect(res.body.kind).toBe('HAProxyInstanceList');
  });

  it('pages with limit/continue over a consistent snapshot', async () => {
    const first = await call('GET', `${ns('haproxyinstances')}?limit=3`);
    expect(first.body.items.map((i: any) => i.metadata.name)).toEqual(['edge-0', 'edge-1', 'edge-2']);
    expect(first.body.metadata.remainingItemCount).toBe(4);
    // Changes after the first page do not show in later pages: they read the same revision.
    await call('DELETE', `${ns('haproxyinstances')}/edge-4`);
    await create('haproxyinstances', instanceFixture({ metadata: { name: 'edge-35' } }));
    const second = await call('GET', `${ns('haproxyinstances')}?limit=3&continue=${first.body.metadata.continue}`);
    expect(second.body.items.map((i: any) => i.metadata.name)).toEqual(['edge-3', 'edge-4', 'edge-5']);
    expect(second.body.metadata.resourceVersion).toBe(first.body.metadata.resourceVersion);
    const third = await call('GET', `${ns('haproxyinstances')}?limit=3&continue=${second.body.metadata.continue}`);
    expect(third.body.items.map((i: any) => i.metadata.name)).toEqual(['edge-6']);
    expect(third.body.metadata.continue).toBeUndefined();
  });

  it('pages with a label selector: limit counts matching items', async () => {
    const first = await call('GET', `${ns('haproxyinstances')}?limit=2&labelSelector=role%3Dedge`);
    expect(first.body.items.map((i: any) => i.metadata.name)).toEqual(['edge-1', 'edge-3']);
    const second = await call('GET', `${ns('haproxyinstances')}?limit=2&labelSelector=role%3Dedge&continue=${first.body.metadata.continue}`);
    expect(second.body.items.map((i: any) => i.metadata.name)).toEqual(['edge-5']);
  });

  it('refuses a forged continue token', async () => {
    const res = await call('GET', `${ns('haproxyinstances')}?limit=2&continue=garbage`);
    expect(res.status).toBe(400);
    expect(res.body.message).toContain('continue');
  });

  it('renders a Table with the printer columns when asked', async () => {
    await call('PUT', `${ns('haproxyinstances')}/edge-1/status`, {
      ...(await call('GET', `${ns('haproxyinstances')}/edge-1`)).body,
      status: { appliedRevision: 'web-2', haproxy: { version: '2.6.12' }, conditions: [{ type: 'Ready', status: 'True' }] },
    });
    const res = await call('GET', `${ns('haproxyinstances')}?labelSelector=idx%3D1`, undefined, {
      accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json',
    });
    expect(res.body.kind).toBe('Table');
    expect(res.body.columnDefinitions.map((c: any) => c.name)).toEqual(['Name', 'Ready', 'Revision', 'HAProxy', 'Age', 'Desired', 'Drifted', 'Paused', 'Heartbeat']);
    expect(res.body.rows[0].cells.slice(0, 4)).toEqual(['edge-1', 'True', 'web-2', '2.6.12']);
    expect(res.body.rows[0].cells[4]).toMatch(/^\d+s$/);
    expect(res.body.rows[0].object.kind).toBe('PartialObjectMetadata');
  });

  it("a Table's rows carry their whole object, or none, as includeObject asks; anything else is a 400 naming it", async () => {
    const table = { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' };
    const whole = await call('GET', `${ns('haproxyinstances')}?labelSelector=idx%3D1&includeObject=Object`, undefined, table);
    expect(whole.body.rows[0].object).toEqual((await call('GET', `${ns('haproxyinstances')}/edge-1`)).body);
    const one = await call('GET', `${ns('haproxyinstances')}/edge-1?includeObject=None`, undefined, table);
    expect(one.body.rows[0].object).toBeNull();
    for (const url of [`${ns('haproxyinstances')}?includeObject=All`, `${ns('haproxyinstances')}/edge-1?includeObject=object`, `${ns('haproxyinstances')}?watch=1&includeObject=x`]) {
      const bad = await call('GET', url, undefined, table);
      expect([bad.status, bad.body.message]).toEqual([400, expect.stringMatching(/^invalid includeObject "[^"]+": must be None, Metadata or Object$/)]);
    }
  });
});

describe('HAProxyConfig revisions', () => {
  const revisions = async () =>
    (await call('GET', `${ns('configrevisions')}?labelSelector=haproxyhq.io%2Fconfig%3Dweb`)).body.items;

  it('records an immutable ConfigRevision per spec change, atomically with the config', async () => {
    const created = (await create('haproxyconfigs', configFixture())).body;
    let revs = await revisions();
    expect(revs.map((r: any) => r.metadata.name)).toEqual(['web-1']);
    expect(revs[0].spec).toMatchObject({ configName: 'web', revision: 1, config: created.spec });
    expect(revs[0].spec.contentHash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(revs[0].metadata.ownerReferences[0]).toMatchObject({ kind: 'HAProxyConfig', uid: created.metadata.uid });

    // A label change is not a new revision; a config change is.
    await call('PATCH', `${ns('haproxyconfigs')}/web`, { metadata: { labels: { a: 'b' } } }, { 'content-type': 'application/merge-patch+json' });
    await call('PATCH', `${ns('haproxyconfigs')}/web`, { spec: { config: created.spec.config + '\n# v2\n' } }, { 'content-type': 'application/merge-patch+json' });
    revs = await revisions();
    expect(revs.map((r: any) => [r.metadata.name, r.spec.revision])).toEqual([['web-1', 1], ['web-2', 2]]);
    expect(revs[1].spec.config.config).toContain('# v2');
    expect(revs[1].spec.contentHash).not.toBe(revs[0].spec.contentHash);

    const edit = await call('PATCH', `${ns('configrevisions')}/web-1`, { spec: { revision: 9 } }, { 'content-type': 'application/merge-patch+json' });
    expect(edit.status).toBe(422);
    expect(edit.body.details.causes[0]).toMatchObject({ field: 'spec', message: 'field is immutable' });
    const post = await create('configrevisions', { metadata: { name: 'x' } });
    expect(post.status).toBe(405);
  });

  it('refuses an invalid config without writing the config or a revision', async () => {
    const before = await objectsState(t.storage);
    const res = await create('haproxyconfigs', configFixture({ spec: { files: [{ path: '../etc/passwd', content: 'x' }] } }));
    expect(res.status).toBe(422);
    expect(res.body.details.causes[0].field).toBe('spec.files[0].path');
    expect(await objectsState(t.storage)).toBe(before);
  });

  it('collects the revisions of a deleted config, and a re-created config starts over', async () => {
    await create('haproxyconfigs', configFixture());
    await call('PATCH', `${ns('haproxyconfigs')}/web`, { spec: { config: 'global\n' } }, { 'content-type': 'application/merge-patch+json' });
    await call('DELETE', `${ns('haproxyconfigs')}/web`);
    expect(await revisions()).toEqual([]);
    const again = await create('haproxyconfigs', configFixture());
    expect(again.status).toBe(201);
    expect((await revisions()).map((r: any) => r.metadata.name)).toEqual(['web-1']);
  });
});

describe('discovery', () => {
  it('serves the group, its resources with subresources, and OpenAPI', async () => {
    const groups = await call('GET', '/apis');
    expect(groups.body.groups[0]).toMatchObject({ name: 'haproxyhq.io', preferredVersion: { version: 'v1alpha1' } });
    const resources = (await call('GET', BASE)).body.resources.map((r: any) => r.name);
    expect(resources).toEqual(expect.arrayContaining(['haproxyinstances', 'haproxyinstances/status', 'haproxyconfigs', 'configrevisions', 'events']));
    const v3 = await call('GET', '/openapi/v3');
    const url = v3.body.paths['apis/haproxyhq.io/v1alpha1'].serverRelativeURL;
    const doc = await call('GET', url);
    expect(doc.body.components.schemas['io.haproxyhq.v1alpha1.HAProxyInstance']['x-kubernetes-group-version-kind']).toEqual([
      { group: 'haproxyhq.io', version: 'v1alpha1', kind: 'HAProxyInstance' },
    ]);
  });

  it('names the endpoints that are not stored resources too, and every listable resource it names answers a list', async () => {
    const resources = (await call('GET', BASE)).body.resources as { name: string; namespaced: boolean; kind: string; verbs: string[] }[];
    const byName = Object.fromEntries(resources.map((r) => [r.name, r]));
    expect(byName.auditevents).toMatchObject({ namespaced: false, kind: 'AuditEvent', verbs: ['list'] });
    expect(byName.tokens).toMatchObject({ namespaced: false, kind: 'APIToken', verbs: ['create', 'delete', 'list'] });
    expect(byName.jointokens).toMatchObject({ namespaced: true, kind: 'JoinToken', verbs: ['create', 'delete', 'list'] });
    expect(byName.users).toMatchObject({ namespaced: false, kind: 'User', verbs: ['create', 'delete', 'get', 'list', 'update'] });
    for (const r of resources.filter((x) => !x.name.includes('/') && x.verbs.includes('list'))) {
      const res = await call('GET', r.namespaced ? ns(r.name) : `${BASE}/${r.name}`);
      expect([r.name, res.status, res.body.kind]).toEqual([r.name, 200, `${r.kind}List`]);
    }
  });

  it('OpenAPI v3 and v2 describe the endpoints that are not stored resources too, and every $ref in them resolves', async () => {
    const url = (await call('GET', '/openapi/v3')).body.paths['apis/haproxyhq.io/v1alpha1'].serverRelativeURL;
    const v3 = (await call('GET', url)).body;
    const v2 = (await call('GET', '/openapi/v2')).body;
    for (const [doc, prefix, defs] of [[v3, '#/components/schemas/', v3.components.schemas], [v2, '#/definitions/', v2.definitions]] as const) {
      expect(Object.keys(doc.paths[`${BASE}/auditevents`])).toEqual(['get']);
      expect(Object.keys(doc.paths[`${BASE}/tokens`])).toEqual(['get', 'post']);
      expect(Object.keys(doc.paths[`${BASE}/namespaces/{namespace}/jointokens/{name}`])).toEqual(['parameters', 'delete']);
      expect(Object.keys(doc.paths[`${BASE}/users/{name}`])).toEqual(['parameters', 'get', 'put', 'delete']);
      expect(doc.paths[`${BASE}/users/{name}/password`].put.operationId).toBe('replaceUserPassword');
      expect(defs['io.haproxyhq.v1alpha1.AuditEventList']['x-kubernetes-group-version-kind']).toEqual([{ group: 'haproxyhq.io', version: 'v1alpha1', kind: 'AuditEventList' }]);
      const refs = new Set<string>();
      const walk = (v: unknown): void => {
        if (Array.isArray(v)) v.forEach(walk);
        else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) k === '$ref' ? refs.add(x as string) : walk(x);
      };
      walk(doc);
      expect([...refs].filter((r) => !r.startsWith(prefix) || !(r.slice(prefix.length) in defs))).toEqual([]);
      expect(refs.size).toBeGreaterThan(20);
    }
  });

  it('answers unknown paths and resources with a 404 Status', async () => {
    expect((await call('GET', `${BASE}/namespaces/default/widgets`)).body).toMatchObject({ kind: 'Status', code: 404 });
    expect((await call('GET', '/nothing/here')).body).toMatchObject({ kind: 'Status', code: 404 });
  });
});

describe('cluster-wide resources (ClusterRole, ClusterRoleBinding)', () => {
  const B = '/apis/haproxyhq.io/v1alpha1';
  const role = { apiVersion: 'haproxyhq.io/v1alpha1', kind: 'ClusterRole', metadata: { name: 'readers' }, rules: [{ verbs: ['get', 'list'], resources: ['haproxyconfigs'] }] };

  it('are created, read, listed, patched and deleted without a namespace, and have none', async () => {
    const created = await call('POST', `${B}/clusterroles`, { ...role, metadata: { ...role.metadata, namespace: 'ignored' } });
    expect(created.status).toBe(201);
    expect(created.body.metadata.namespace).toBeUndefined();
    expect((await call('GET', `${B}/clusterroles/readers`)).body.rules).toEqual(role.rules);
    expect((await call('GET', `${B}/clusterroles`)).body.items.map((r: any) => r.metadata.name)).toEqual(['readers']);
    const patched = await call('PATCH', `${B}/clusterroles/readers`, { rules: [{ verbs: ['*'], resources: ['*'] }] }, { 'content-type': 'application/merge-patch+json' });
    expect(patched.body.rules).toEqual([{ verbs: ['*'], resources: ['*'] }]);
    expect((await call('DELETE', `${B}/clusterroles/readers`)).status).toBe(200);
    expect((await call('GET', `${B}/clusterroles/readers`)).status).toBe(404);
  });

  it('answer a path with the wrong scope with a 404 that says which one to use', async () => {
    const inNs = await call('POST', `${ns('clusterroles')}`, role);
    expect(inNs.status).toBe(404);
    expect(inNs.body.message).toMatch(/clusterroles are cluster-wide: use \/apis\/haproxyhq\.io\/v1alpha1\/clusterroles, without a namespace/);
    const noNs = await call('POST', `${B}/haproxyconfigs`, configFixture());
    expect(noNs.status).toBe(404);
    expect(noNs.body.message).toMatch(/haproxyconfigs are namespaced/);
  });

  it('are reported as cluster-wide in discovery', async () => {
    const res = await call('GET', B);
    const byName = Object.fromEntries(res.body.resources.map((r: any) => [r.name, r.namespaced]));
    expect(byName).toMatchObject({ clusterroles: false, clusterrolebindings: false, roles: true, rolebindings: true, haproxyinstances: true });
  });
});
