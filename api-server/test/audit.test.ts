/**
 * The audit log, in process: every kind of write appears exactly once with its verb, object,
 * resourceVersions before and after, user and source; requests that failed appear with their code
 * and reason; a transaction that fails leaves no record of its own; the read API's filters and
 * paging; and the bearer token is in no record and no log line.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditEvent } from '@haproxyhq/schemas';
import type { Authorizer } from '../src/auth.ts';
import { AUDIT_PREFIX, SYSTEM_ACTORS, nextAuditKey, sweepAudit } from '../src/audit/log.ts';
import { startRolloutController } from '../src/controllers/rollout.ts';
import { EventSweeper } from '../src/registry/event-ttl.ts';
import type { ResourceRegistry } from '../src/registry/registry.ts';
import { buildTestApp, type TestApp } from './support/app.ts';
import { BASE, configFixture, instanceFixture, ns } from './support/fixtures.ts';
import { until } from './support/until.ts';

let t: TestApp;
let logLines: string[];

/** Denies deleting configs (a 403 to record); everything else is allowed. */
const noConfigDeletes: Authorizer = {
  async authorize(_user, attrs) {
    return attrs.resource === 'haproxyconfigs' && attrs.verb === 'delete' ? { allowed: false, reason: 'configs are kept' } : { allowed: true };
  },
};

beforeEach(async () => {
  logLines = [];
  t = await buildTestApp({
    authorizer: noConfigDeletes,
    requestLogging: true,
    logger: { level: 'trace', stream: { write: (line: string) => void logLines.push(line) } },
  });
});
afterEach(() => t.close());

type Reply = { status: number; body: any; auditId: string };

async function call(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await t.app.inject({
    method: method as 'GET',
    url,
    headers: { ...t.headers, 'user-agent': 'audit-test/1.0', ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    payload: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : undefined, auditId: String(res.headers['audit-id'] ?? '') };
}

/** The whole log, oldest first. */
async function log(query = ''): Promise<AuditEvent[]> {
  const r = await call('GET', `${BASE}/auditevents?order=asc&limit=5000${query}`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  expect(r.body.kind).toBe('AuditEventList');
  return r.body.items;
}

/** The records of one request (failures are written just after their response: wait for them). */
async function recordsOf(reply: Reply, count = 1): Promise<AuditEvent[]> {
  expect(reply.auditId).toMatch(/^[0-9a-f-]{36}$/);
  return until(`${count} audit record(s) of request ${reply.auditId}`, async () => {
    const mine = (await log()).filter((e) => e.requestID === reply.auditId);
    return mine.length >= count && mine;
  }, { ms: 5000, intervalMs: 20 });
}

const registry = (plural: string) => t.app.getDecorator<Map<string, ResourceRegistry>>('registries').get(plural)!;
const ADMIN_USER = { name: 'admin', groups: ['system:masters'] };
const mergePatch = { 'content-type': 'application/merge-patch+json' };

describe('audit log: what is recorded', () => {
  it('records create, update, merge and JSON patches, status writes and delete once each, with versions before and after', async () => {
    const created = await call('POST', ns('haproxyinstances'), instanceFixture());
    expect(created.status).toBe(201);
    const rv1 = created.body.metadata.resourceVersion;
    const [c] = await recordsOf(created);
    expect(c).toMatchObject({
      apiVersion: 'haproxyhq.io/v1alpha1',
      kind: 'AuditEvent',
      verb: 'create',
      resource: 'haproxyinstances',
      namespace: 'default',
      name: 'edge-1',
      resourceVersionAfter: rv1,
      code: 201,
      user: ADMIN_USER,
      sourceIP: '127.0.0.1',
      userAgent: 'audit-test/1.0',
      requestID: created.auditId,
    });
    expect(c!.resourceVersionBefore).toBeUndefined();
    expect(Date.now() - Date.parse(c!.time)).toBeLessThan(10_000);

    const put = await call('PUT', `${ns('haproxyinstances')}/edge-1`, { ...created.body, spec: { paused: true } });
    expect(put.status).toBe(200);
    const rv2 = put.body.metadata.resourceVersion;
    expect((await recordsOf(put))[0]).toMatchObject({ verb: 'update', name: 'edge-1', resourceVersionBefore: rv1, resourceVersionAfter: rv2, code: 200 });

    const merge = await call('PATCH', `${ns('haproxyinstances')}/edge-1`, { metadata: { labels: { env: 'prod' } } }, mergePatch);
    const rv3 = merge.body.metadata.resourceVersion;
    expect((await recordsOf(merge))[0]).toMatchObject({ verb: 'patch', patchType: 'merge', resourceVersionBefore: rv2, resourceVersionAfter: rv3 });

    const json = await call('PATCH', `${ns('haproxyinstances')}/edge-1`, [{ op: 'replace', path: '/spec/paused', value: false }], {
      'content-type': 'application/json-patch+json',
    });
    const rv4 = json.body.metadata.resourceVersion;
    expect((await recordsOf(json))[0]).toMatchObject({ verb: 'patch', patchType: 'json', resourceVersionBefore: rv3, resourceVersionAfter: rv4 });

    const status = await call('PUT', `${ns('haproxyinstances')}/edge-1/status`, { ...json.body, status: { appliedRevision: 'web-1' } });
    const rv5 = status.body.metadata.resourceVersion;
    expect((await recordsOf(status))[0]).toMatchObject({ verb: 'update', subresource: 'status', resourceVersionBefore: rv4, resourceVersionAfter: rv5 });

    const statusPatch = await call('PATCH', `${ns('haproxyinstances')}/edge-1/status`, { status: { appliedRevision: 'web-2' } }, mergePatch);
    const rv6 = statusPatch.body.metadata.resourceVersion;
    expect((await recordsOf(statusPatch))[0]).toMatchObject({ verb: 'patch', subresource: 'status', patchType: 'merge', resourceVersionAfter: rv6 });

    const deleted = await call('DELETE', `${ns('haproxyinstances')}/edge-1`);
    expect(deleted.status).toBe(200);
    expect((await recordsOf(deleted))[0]).toMatchObject({
      verb: 'delete',
      resourceVersionBefore: rv6,
      resourceVersionAfter: deleted.body.metadata.resourceVersion,
      code: 200,
    });

    // Exactly once each, and nothing else.
    const all = await log();
    expect(all.map((e) => [e.verb, e.subresource ?? '', e.resourceVersionAfter])).toEqual([
      ['create', '', rv1],
      ['update', '', rv2],
      ['patch', '', rv3],
      ['patch', '', rv4],
      ['update', 'status', rv5],
      ['patch', 'status', rv6],
      ['delete', '', deleted.body.metadata.resourceVersion],
    ]);
    // Ids are unique and sort in the order the records were written.
    const ids = all.map((e) => e.metadata.name);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });

  it('records the ConfigRevision the server writes with a config, under the same request, and their garbage collection', async () => {
    const created = await call('POST', ns('haproxyconfigs'), configFixture());
    expect(created.status).toBe(201);
    const records = await recordsOf(created, 2);
    const revision = (await call('GET', `${ns('configrevisions')}/web-1`)).body;
    expect(records).toMatchObject([
      { verb: 'create', resource: 'haproxyconfigs', name: 'web', resourceVersionAfter: created.body.metadata.resourceVersion, code: 201 },
      { verb: 'create', resource: 'configrevisions', name: 'web-1', resourceVersionAfter: revision.metadata.resourceVersion, code: 201, user: ADMIN_USER },
    ]);
    // One transaction, one record: the two entries share an id up to the entry index.
    expect(records[0]!.metadata.name.replace(/\.0$/, '')).toBe(records[1]!.metadata.name.replace(/\.1$/, ''));

    const changed = await call('PATCH', `${ns('haproxyconfigs')}/web`, { spec: { config: configFixture().spec.config + '\n# v2\n' } }, mergePatch);
    const v2 = (await call('GET', `${ns('configrevisions')}/web-2`)).body;
    expect(await recordsOf(changed, 2)).toMatchObject([
      { verb: 'patch', resource: 'haproxyconfigs', resourceVersionBefore: created.body.metadata.resourceVersion, resourceVersionAfter: changed.body.metadata.resourceVersion },
      { verb: 'create', resource: 'configrevisions', name: 'web-2', resourceVersionAfter: v2.metadata.resourceVersion },
    ]);

    // The GC of a deleted config's revisions is the server's own: done through the registry here
    // (this app's authorizer refuses config deletes over HTTP).
    await registry('haproxyconfigs').delete('default', 'web', { actor: { user: { name: 'ops', groups: [] } } });
    const gc = await until('two GC deletes', async () => {
      const e = (await log()).filter((x) => x.user.name === SYSTEM_ACTORS.garbageCollector.user.name);
      return e.length === 2 && e;
    });
    expect(gc.map((e) => [e.verb, e.resource, e.name, e.resourceVersionBefore]).sort()).toEqual([
      ['delete', 'configrevisions', 'web-1', revision.metadata.resourceVersion],
      ['delete', 'configrevisions', 'web-2', v2.metadata.resourceVersion],
    ]);
    expect((await log('&user=ops')).map((e) => [e.verb, e.resource, e.name])).toEqual([['delete', 'haproxyconfigs', 'web']]);
  });

  it("records the rollout controller's moves (bulk updateMany) and status writes as system:controller:rollout", async () => {
    for (const name of ['edge-1', 'edge-2', 'edge-3']) {
      expect((await call('POST', ns('haproxyinstances'), instanceFixture({ metadata: { name } }))).status).toBe(201);
    }
    expect((await call('POST', ns('haproxyconfigs'), configFixture({ spec: { strategy: { type: 'AllAtOnce' } } }))).status).toBe(201);
    const controller = startRolloutController({ registries: t.app.getDecorator('registries'), log: () => {}, resyncMs: 200 });
    try {
      const moved = await until('three instances moved', async () => {
        const items = (await call('GET', ns('haproxyinstances'))).body.items as any[];
        return items.every((i) => i.spec.configRevision === 'web-1') && items;
      });
      const byController = await until('the moves in the log', async () => {
        const e = await log('&user=system:controller:rollout&resource=haproxyinstances');
        return e.length === 3 && e;
      });
      for (const i of moved) {
        const rec = byController.find((e) => e.name === i.metadata.name)!;
        expect(rec).toMatchObject({ verb: 'update', namespace: 'default', resourceVersionAfter: i.metadata.resourceVersion, code: 200, user: { groups: ['system:controllers'] } });
        expect(rec.sourceIP).toBeUndefined();
      }
      // One txn moved all three: one record with three entries.
      expect(new Set(byController.map((e) => e.metadata.name.split('.')[0])).size).toBe(1);
      await until('the config status write in the log', async () => (await log('&user=system:controller:rollout&resource=haproxyconfigs')).some((e) => e.subresource === 'status'));
    } finally {
      controller.stop();
    }
  });

  it('records Event TTL deletes as system:controller:event-ttl', async () => {
    const ev = await call('POST', ns('events'), {
      metadata: { name: 'old' },
      involvedObject: { kind: 'HAProxyInstance', name: 'edge-1' },
      type: 'Normal',
      reason: 'ConfigApplied',
      lastTimestamp: '2026-01-01T00:00:00Z',
    });
    expect(ev.status).toBe(201);
    expect(await new EventSweeper(registry('events'), t.storage, 3600_000).sweep(Date.parse('2026-01-02T00:00:00Z'))).toBe(1);
    expect(await log('&user=system:controller:event-ttl')).toMatchObject([
      { verb: 'delete', resource: 'events', name: 'old', resourceVersionBefore: ev.body.metadata.resourceVersion, code: 200 },
    ]);
  });

  it('records dry runs and writes that change nothing, without a new resourceVersion', async () => {
    const created = await call('POST', ns('haproxyinstances'), instanceFixture());
    const rv = created.body.metadata.resourceVersion;
    const noop = await call('PUT', `${ns('haproxyinstances')}/edge-1`, created.body);
    expect(noop.body.metadata.resourceVersion).toBe(rv);
    expect((await recordsOf(noop))[0]).toMatchObject({ verb: 'update', resourceVersionBefore: rv, resourceVersionAfter: rv, code: 200 });
    const dry = await call('DELETE', `${ns('haproxyinstances')}/edge-1?dryRun=All`);
    expect(dry.status).toBe(200);
    const [d] = await recordsOf(dry);
    expect(d).toMatchObject({ verb: 'delete', dryRun: true, resourceVersionBefore: rv, code: 200 });
    expect(d!.resourceVersionAfter).toBeUndefined();
  });
});

describe('audit log: failed requests', () => {
  it('records 401 (no user: the source), 403, 404, 405, 409, 413, 415 and 422 with their code and reason', async () => {
    const existing = await call('POST', ns('haproxyinstances'), instanceFixture());
    const cases: [Reply, Partial<AuditEvent>][] = [];
    const expectRecord = async (reply: Reply, status: number, want: Partial<AuditEvent>) => {
      expect(reply.status).toBe(status);
      cases.push([reply, { code: status, ...want }]);
    };
    await expectRecord(await call('POST', ns('haproxyinstances'), instanceFixture({ metadata: { name: 'x' } }), { authorization: 'Bearer hq_not-a-valid-token-at-all' }), 401, {
      verb: 'create', reason: 'Unauthorized', user: { name: 'system:unauthenticated', groups: ['system:unauthenticated'] }, sourceIP: '127.0.0.1',
    });
    await expectRecord(await call('DELETE', `${ns('haproxyinstances')}/edge-1`, undefined, { authorization: '' }), 401, { verb: 'delete', name: 'edge-1', reason: 'Unauthorized' });
    await call('POST', ns('haproxyconfigs'), configFixture());
    await expectRecord(await call('DELETE', `${ns('haproxyconfigs')}/web`), 403, { verb: 'delete', resource: 'haproxyconfigs', name: 'web', reason: 'Forbidden', user: ADMIN_USER });
    await expectRecord(await call('DELETE', `${ns('haproxyinstances')}/missing`), 404, { verb: 'delete', name: 'missing', reason: 'NotFound' });
    await expectRecord(await call('DELETE', ns('haproxyinstances')), 405, { verb: 'deletecollection', resource: 'haproxyinstances', reason: 'MethodNotAllowed' });
    await expectRecord(await call('POST', ns('haproxyinstances'), instanceFixture()), 409, { verb: 'create', name: 'edge-1', reason: 'AlreadyExists' });
    const stale = { ...existing.body, metadata: { ...existing.body.metadata, resourceVersion: '1' }, spec: { paused: true } };
    await call('PATCH', `${ns('haproxyinstances')}/edge-1`, { metadata: { labels: { moved: 'on' } } }, mergePatch);
    const current = (await call('GET', `${ns('haproxyinstances')}/edge-1`)).body.metadata.resourceVersion;
    await expectRecord(await call('PUT', `${ns('haproxyinstances')}/edge-1`, stale), 409, { verb: 'update', reason: 'Conflict', resourceVersionBefore: current });
    await expectRecord(await call('POST', ns('haproxyinstances'), { metadata: { name: 'bad' }, spec: { nope: 1 } }), 422, { verb: 'create', name: 'bad', reason: 'Invalid' });
    await expectRecord(await call('POST', ns('haproxyinstances'), '{"metadata": {'), 400, { verb: 'create', reason: 'BadRequest' });
    await expectRecord(await call('PATCH', `${ns('haproxyinstances')}/edge-1`, '{}', { 'content-type': 'text/plain' }), 415, { verb: 'patch', reason: 'UnsupportedMediaType' });
    await expectRecord(await call('POST', ns('haproxyinstances'), 'x'.repeat(4 * 1024 * 1024)), 413, { verb: 'create', reason: 'RequestEntityTooLarge' });
    await expectRecord(await call('POST', `${BASE}/nowhere/x/y/z/w`, {}), 404, { verb: 'create', resource: '', path: `${BASE}/nowhere/x/y/z/w`, reason: 'NotFound' });
    for (const [reply, want] of cases) {
      const records = await recordsOf(reply);
      expect(records).toHaveLength(1);
      expect(records[0], JSON.stringify(want)).toMatchObject(want);
      expect(records[0]!.resourceVersionAfter).toBeUndefined();
    }
  });

  it('a transaction that fails leaves no record of its own', async () => {
    const ops = registry('haproxyinstances');
    const actor = { user: { name: 'direct', groups: [] } };
    await ops.create('default', instanceFixture(), { actor });
    await expect(ops.create('default', instanceFixture(), { actor })).rejects.toMatchObject({ reason: 'AlreadyExists' });
    const stored = await ops.get('default', 'edge-1');
    // A bulk write whose object moved on: its chunk fails, and only the retry that commits is recorded.
    const { written, conflicts } = await ops.updateMany('default', [
      { name: 'edge-1', resourceVersion: String(Number(stored.metadata.resourceVersion) - 1), mutate: (o) => ({ ...o, spec: { paused: true } }) },
    ], actor);
    expect(written).toEqual([]);
    expect(conflicts).toEqual(['edge-1']);
    expect((await log('&user=direct')).map((e) => [e.verb, e.name, e.code])).toEqual([['create', 'edge-1', 201]]);
  });

  it('never stores or logs the bearer token, nor bodies', async () => {
    await call('POST', ns('haproxyinstances'), instanceFixture({ metadata: { annotations: { secret: 's3cr3t-annotation' } } }));
    const bad = await call('POST', ns('haproxyinstances'), '{"metadata": {"name": "x", "annotations": {"k": "s3cr3t-in-bad-json"}', {});
    expect(bad.status).toBe(400);
    await recordsOf(bad);
    const stored = (await t.storage.list(AUDIT_PREFIX)).items.map((kv) => kv.value).join('\n');
    expect(stored).toContain('edge-1');
    for (const secret of [t.token, t.token.slice(3), 's3cr3t-annotation', 's3cr3t-in-bad-json']) {
      expect(stored).not.toContain(secret);
      expect(logLines.join('')).not.toContain(secret);
    }
    expect(logLines.length).toBeGreaterThan(0);
  });
});

describe('audit log: the read API', () => {
  it('filters by user, namespace, resource, name, verb and sinceTime, newest or oldest first', async () => {
    const actor = (name: string) => ({ actor: { user: { name, groups: [] } } });
    const inst = registry('haproxyinstances');
    await inst.create('a', instanceFixture({ metadata: { name: 'i1' } }), actor('alice'));
    await inst.create('b', instanceFixture({ metadata: { name: 'i2' } }), actor('bob'));
    const events = registry('events');
    await events.create('a', { metadata: { name: 'e1' }, involvedObject: { kind: 'HAProxyInstance', name: 'i1' }, type: 'Normal', reason: 'X' }, actor('bob'));
    await inst.delete('a', 'i1', actor('alice'));
    const names = (items: AuditEvent[]) => items.map((e) => `${e.user.name}:${e.verb}:${e.namespace}/${e.name}`);
    expect(names(await log())).toEqual(['alice:create:a/i1', 'bob:create:b/i2', 'bob:create:a/e1', 'alice:delete:a/i1']);
    expect(names(await log('&user=alice'))).toEqual(['alice:create:a/i1', 'alice:delete:a/i1']);
    expect(names(await log('&namespace=a'))).toEqual(['alice:create:a/i1', 'bob:create:a/e1', 'alice:delete:a/i1']);
    expect(names(await log('&resource=events'))).toEqual(['bob:create:a/e1']);
    expect(names(await log('&name=i1&verb=delete'))).toEqual(['alice:delete:a/i1']);
    const newest = await call('GET', `${BASE}/auditevents`);
    expect(names(newest.body.items)).toEqual(['alice:delete:a/i1', 'bob:create:a/e1', 'bob:create:b/i2', 'alice:create:a/i1']);
    expect(await log(`&sinceTime=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).toEqual([]);
    expect(await log(`&sinceTime=${encodeURIComponent(new Date(Date.now() - 60_000).toISOString())}`)).toHaveLength(4);
  });

  it('pages with limit and continue in both orders, also inside a record of many objects', async () => {
    for (let i = 0; i < 7; i++) await call('POST', ns('haproxyinstances'), instanceFixture({ metadata: { name: `p${i}` } }));
    await call('POST', ns('haproxyconfigs'), configFixture({ metadata: { name: 'c' } })); // one record, two entries
    const all = await log();
    expect(all).toHaveLength(9);
    for (const order of ['asc', 'desc']) {
      const seen: string[] = [];
      let cont: string | undefined;
      let pages = 0;
      do {
        const r = await call('GET', `${BASE}/auditevents?order=${order}&limit=2${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`);
        expect(r.status).toBe(200);
        expect(r.body.items.length).toBeLessThanOrEqual(2);
        seen.push(...r.body.items.map((e: AuditEvent) => e.metadata.name));
        cont = r.body.metadata.continue;
        pages++;
      } while (cont && pages < 20);
      const want = all.map((e) => e.metadata.name);
      expect(seen).toEqual(order === 'asc' ? want : [...want].reverse());
    }
  });

  it('refuses bad parameters, needs a token and the list permission, and has no way to write', async () => {
    for (const q of ['limit=0', 'limit=x', 'order=up', 'verb=get', 'sinceTime=yesterday', 'continue=abc', 'watch=true']) {
      const r = await call('GET', `${BASE}/auditevents?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body.reason).toBe('BadRequest');
    }
    const asc = await call('GET', `${BASE}/auditevents?order=asc&limit=1`);
    await call('POST', ns('haproxyinstances'), instanceFixture());
    await call('POST', ns('haproxyinstances'), instanceFixture({ metadata: { name: 'edge-2' } }));
    const page = await call('GET', `${BASE}/auditevents?order=asc&limit=1`);
    const wrongOrder = await call('GET', `${BASE}/auditevents?order=desc&continue=${encodeURIComponent(page.body.metadata.continue)}`);
    expect(wrongOrder.status).toBe(400);
    expect(asc.status).toBe(200);

    expect((await call('GET', `${BASE}/auditevents`, undefined, { authorization: '' })).status).toBe(401);
    const before = (await t.storage.list(AUDIT_PREFIX)).items;
    for (const [method, url] of [
      ['POST', `${BASE}/auditevents`],
      ['POST', `${ns('auditevents')}`],
      ['PUT', `${BASE}/auditevents/${before[0]!.key.slice(AUDIT_PREFIX.length)}.0`],
      ['DELETE', `${BASE}/auditevents/${before[0]!.key.slice(AUDIT_PREFIX.length)}.0`],
      ['DELETE', `${BASE}/auditevents`],
    ] as const) {
      const r = await call(method, url, method === 'DELETE' ? undefined : { metadata: { name: 'forged' } });
      expect(r.status, `${method} ${url}`).toBeGreaterThanOrEqual(400);
    }
    const after = (await t.storage.list(AUDIT_PREFIX)).items;
    for (const kv of before) expect(after).toContainEqual(kv);

    const denied = await buildTestApp({ authorizer: { authorize: async (_u, a) => ({ allowed: a.resource !== 'auditevents' }) } });
    try {
      const r = await denied.app.inject({ method: 'GET', url: `${BASE}/auditevents`, headers: denied.headers });
      expect(r.statusCode).toBe(403);
      expect(r.json().message).toContain('cannot list resource "auditevents"');
    } finally {
      await denied.close();
    }
  });
});

describe('audit log: --audit-omit', () => {
  it('leaves out the writes, and the refused requests, of the resources it names', async () => {
    const lean = await buildTestApp({ auditOmit: ['leases'] });
    try {
      const post = (url: string, body: unknown) => lean.app.inject({ method: 'POST', url, headers: { ...lean.headers, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
      expect((await post(ns('leases'), { metadata: { name: 'l' }, spec: {} })).statusCode).toBe(201);
      expect((await post(ns('leases'), { metadata: { name: 'l' }, spec: {} })).statusCode).toBe(409);
      expect((await post(ns('haproxyinstances'), instanceFixture())).statusCode).toBe(201);
      await new Promise((r) => setTimeout(r, 50));
      const r = await lean.app.inject({ method: 'GET', url: `${BASE}/auditevents?order=asc`, headers: lean.headers });
      expect(r.json().items.map((e: AuditEvent) => `${e.verb} ${e.resource} ${e.code}`)).toEqual(['create haproxyinstances 201']);
    } finally {
      await lean.close();
    }
  });
});

describe('audit log: retention and keys', () => {
  it('sweeps records older than the retention and keeps the rest', async () => {
    await call('POST', ns('haproxyinstances'), instanceFixture());
    const old = nextAuditKey(Date.now()).key.replace(/\/\d{13}-/, `/${String(Date.now() - 40 * 86_400_000).padStart(13, '0')}-`);
    await t.storage.txn([{ type: 'create', key: old, value: JSON.stringify({ time: 'x', user: { name: 'old', groups: [] }, entries: [] }) }]);
    expect(await sweepAudit(t.storage, Date.now() - 30 * 86_400_000)).toBe(1);
    expect((await t.storage.list(AUDIT_PREFIX)).items.map((kv) => kv.key)).not.toContain(old);
    expect(await log()).toHaveLength(1);
  });

  it('makes keys that sort in the order they are made, even when the clock steps back', () => {
    const a = nextAuditKey(2_000_000_000_000).key;
    const b = nextAuditKey(2_000_000_000_000).key;
    const c = nextAuditKey(1_999_999_999_000).key;
    const d = nextAuditKey(2_000_000_000_001).key;
    expect([a, b, c, d]).toEqual([...new Set([a, b, c, d])].sort());
  });
});
