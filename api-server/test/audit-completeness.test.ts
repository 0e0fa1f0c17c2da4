/**
 * Audit completeness, on a real server process (embedded store, then etcd): a few hundred random
 * writes from several clients at once (creates, updates, merge and JSON patches, status writes,
 * deletes, dry runs, and failures: stale versions, missing objects, invalid bodies, bad tokens),
 * while the rollout controller moves instances to the configs' revisions and renews its Lease.
 *
 * Every change the store made is seen on watches of every resource; each one must be in the audit
 * log (same object, same resourceVersion), every request the clients made must be there once
 * with its code (and, on success, the resourceVersion the client got), and the log must hold
 * nothing else: no write nobody asked for except the server's own system actors'.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '@haproxyhq/schemas';
import { startEtcd, type EtcdCluster } from './support/etcd.ts';
import { BASE, configFixture, instanceFixture, ns } from './support/fixtures.ts';
import { request, startServer, type ServerProcess } from './support/server.ts';
import { until } from './support/until.ts';
import { openWatch, type OpenWatch } from './support/watch.ts';

const WATCHED = ['haproxyinstances', 'haproxyconfigs', 'configrevisions', 'events', 'leases'];
const NAMESPACES = ['audit-a', 'audit-b'];
const OPERATIONS = 300;
const CLIENTS = 4;

/** A small deterministic PRNG (mulberry32), so a failing run can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What a client saw of one request. */
interface Sent {
  method: string;
  path: string;
  resource: string;
  namespace: string;
  name: string | undefined;
  status: number;
  /** The object's resourceVersion in a 2xx answer. */
  rv?: string;
  auditId: string;
  dryRun?: boolean;
}

const mergePatch = { 'content-type': 'application/merge-patch+json' };
const jsonPatch = { 'content-type': 'application/json-patch+json' };

async function runWorkload(server: ServerProcess, seed: number): Promise<Sent[]> {
  const random = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const sent: Sent[] = [];
  const send = async (method: string, resource: string, namespace: string, name: string | undefined, body?: unknown, headers: Record<string, string> = {}, query = '') => {
    const path = `${ns(resource, namespace)}${name && method !== 'POST' ? `/${name}` : ''}${query}`;
    const r = await request(server, method, path, body, headers);
    const auditId = String(r.headers['audit-id'] ?? '');
    // A create names its object in the body; the answer names it too when it was generated.
    const objectName = name ?? (r.status < 300 ? r.body?.metadata?.name : (body as { metadata?: { name?: string } } | undefined)?.metadata?.name);
    sent.push({
      method,
      path,
      resource,
      namespace,
      name: objectName,
      status: r.status,
      ...(r.status < 300 && r.body?.metadata?.resourceVersion ? { rv: r.body.metadata.resourceVersion } : {}),
      auditId,
      ...(query.includes('dryRun') ? { dryRun: true } : {}),
    });
    return r;
  };
  const get = async (resource: string, namespace: string, name: string) => {
    const r = await request(server, 'GET', `${ns(resource, namespace)}/${name}`);
    return r.status === 200 ? r.body : undefined;
  };
  const instance = () => `i${Math.floor(random() * 8)}`;
  const config = () => `c${Math.floor(random() * 2)}`;

  const operations: (() => Promise<unknown>)[] = [
    // instances
    () => send('POST', 'haproxyinstances', pick(NAMESPACES), undefined, instanceFixture({ metadata: { name: instance(), labels: { role: pick(['edge', 'db']) } } })),
    async () => {
      const namespace = pick(NAMESPACES);
      const live = await get('haproxyinstances', namespace, instance());
      if (!live) return;
      const stale = random() < 0.25;
      const rv = stale ? String(Number(live.metadata.resourceVersion) - 1) : live.metadata.resourceVersion;
      return send('PUT', 'haproxyinstances', namespace, live.metadata.name, { ...live, metadata: { ...live.metadata, resourceVersion: rv }, spec: { ...live.spec, paused: random() < 0.5 } });
    },
    () => send('PATCH', 'haproxyinstances', pick(NAMESPACES), instance(), { metadata: { labels: { n: String(Math.floor(random() * 1000)) } } }, mergePatch),
    () => send('PATCH', 'haproxyinstances', pick(NAMESPACES), instance(), [{ op: 'add', path: '/metadata/annotations', value: { a: String(random()) } }], jsonPatch),
    async () => {
      const namespace = pick(NAMESPACES);
      const live = await get('haproxyinstances', namespace, instance());
      if (!live) return;
      const status = { appliedRevision: live.spec?.configRevision, conditions: [{ type: 'Ready', status: 'True', reason: 'Ready', message: String(random()), lastTransitionTime: '2026-11-01T00:00:00Z' }] };
      return send('PUT', 'haproxyinstances', namespace, live.metadata.name, { ...live, status }, {}, '/status');
    },
    () => send('PATCH', 'haproxyinstances', pick(NAMESPACES), instance(), { status: { heartbeatTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') } }, mergePatch, '/status'),
    () => send('DELETE', 'haproxyinstances', pick(NAMESPACES), instance()),
    // configs: each new generation records a ConfigRevision and the controller moves instances
    () => send('POST', 'haproxyconfigs', pick(NAMESPACES), undefined, configFixture({ metadata: { name: config() }, spec: { strategy: { type: 'AllAtOnce' } } })),
    () => send('PATCH', 'haproxyconfigs', pick(NAMESPACES), config(), { spec: { config: `${configFixture().spec.config}# ${Math.floor(random() * 1e6)}\n` } }, mergePatch),
    () => send('DELETE', 'haproxyconfigs', pick(NAMESPACES), config()),
    // events
    () => send('POST', 'events', pick(NAMESPACES), undefined, { metadata: { generateName: 'ev-' }, involvedObject: { kind: 'HAProxyInstance', name: instance() }, type: 'Normal', reason: 'Tested', message: 'x' }),
    // dry runs and failures
    () => send('POST', 'haproxyinstances', pick(NAMESPACES), undefined, instanceFixture({ metadata: { name: `dry-${instance()}` } }), {}, '?dryRun=All'),
    () => send('POST', 'haproxyinstances', pick(NAMESPACES), undefined, { metadata: { name: 'invalid' }, spec: { bogus: true } }),
    () => send('POST', 'haproxyinstances', pick(NAMESPACES), undefined, instanceFixture(), { authorization: 'Bearer hq_wrong-token-for-the-audit-test' }),
    () => send('DELETE', 'haproxyinstances', pick(NAMESPACES), 'never-there'),
  ];
  let next = 0;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (next < OPERATIONS) {
        next++;
        await pick(operations)();
      }
    }),
  );
  return sent;
}

/** The whole log, oldest first, through the read API's paging. */
async function readLog(server: ServerProcess): Promise<AuditEvent[]> {
  const items: AuditEvent[] = [];
  let cont: string | undefined;
  do {
    const r = await request(server, 'GET', `${BASE}/auditevents?order=asc&limit=1000${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`);
    expect(r.status, r.text).toBe(200);
    items.push(...r.body.items);
    cont = r.body.metadata.continue;
  } while (cont);
  return items;
}

const objectKey = (resource: string, namespace: string | undefined, name: string | undefined, rv: string | undefined) => `${resource}/${namespace ?? ''}/${name ?? ''}@${rv ?? ''}`;

describe.each(['embedded', 'etcd'] as const)('audit completeness on the %s store', (backend) => {
  let etcd: EtcdCluster | undefined;
  let server: ServerProcess;

  beforeAll(async () => {
    const args = ['--leader-lease-seconds', '2', '--log-level', 'debug'];
    if (backend === 'etcd') {
      etcd = await startEtcd();
      args.push('--storage', 'etcd', '--etcd-endpoints', etcd.endpoints[0]!);
    }
    server = await startServer({ args });
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    server?.cleanup();
    await etcd?.stop();
  });

  it('every change the store made, and every request, is in the log once; nothing else is', async () => {
    // Watches from the revision before the workload see every change any writer makes.
    const start = (await request(server, 'GET', ns('haproxyinstances', 'none'))).body.metadata.resourceVersion;
    const watches: [string, OpenWatch][] = [];
    for (const plural of WATCHED) {
      watches.push([plural, await openWatch(server.url, `${BASE}/${plural}?watch=true&resourceVersion=${start}`, server.token, server.ca)]);
    }
    const sent = await runWorkload(server, backend === 'etcd' ? 2 : 1);
    expect(sent.length).toBeGreaterThanOrEqual(OPERATIONS * 0.8);
    const ok = sent.filter((s) => s.status < 300);
    const failed = sent.filter((s) => s.status >= 400);
    expect(ok.length).toBeGreaterThan(100);
    const codes = new Set(failed.map((s) => s.status));
    for (const code of [401, 404, 409, 422]) expect(codes).toContain(code);
    expect([...codes].filter((c) => c >= 500), JSON.stringify(sent.filter((s) => s.status >= 500))).toEqual([]);

    // Let the controller finish its moves, then read the log once everything it did is in it.
    await new Promise((r) => setTimeout(r, 1500));
    const changes = () => watches.flatMap(([plural, w]) =>
      w.events.filter((e) => e.type === 'ADDED' || e.type === 'MODIFIED' || e.type === 'DELETED')
        .map((e) => objectKey(plural, e.object.metadata.namespace, e.object.metadata.name, e.object.metadata.resourceVersion)));
    const log = await until('every watched change and every request in the audit log', async () => {
      const entries = await readLog(server);
      const recorded = new Set(entries.filter((e) => e.resourceVersionAfter && !e.dryRun && e.code < 300).map((e) => objectKey(e.resource, e.namespace, e.name, e.resourceVersionAfter)));
      const ids = new Set(entries.map((e) => e.requestID));
      return changes().every((c) => recorded.has(c)) && sent.every((s) => ids.has(s.auditId)) && entries;
    }, {
      ms: 20_000,
      context: () => `missing from the log: ${changes().slice(0, 5).join(', ')}`,
    });

    // Every change the store made is recorded exactly once.
    const seen = changes();
    expect(seen.length).toBeGreaterThan(50);
    const written = log.filter((e) => e.code < 300 && !e.dryRun && e.resourceVersionBefore !== e.resourceVersionAfter);
    const writtenKeys = written.map((e) => objectKey(e.resource, e.namespace, e.name, e.resourceVersionAfter));
    expect(new Set(writtenKeys).size).toBe(writtenKeys.length);
    for (const c of seen) expect(writtenKeys).toContain(c);
    // ... and the log holds no write the store did not make, in the watches' window (the watches
    // may deliver the last writes a moment after the log was read).
    const inWindow = written
      .filter((e) => WATCHED.includes(e.resource) && Number(e.resourceVersionAfter) > Number(start))
      .map((e) => objectKey(e.resource, e.namespace, e.name, e.resourceVersionAfter));
    expect(inWindow.length).toBeGreaterThan(50);
    await until('the watches to see every write the log recorded', async () => {
      const now = new Set(changes());
      return inWindow.every((k) => now.has(k));
    }, { ms: 10_000, context: () => `not seen: ${inWindow.filter((k) => !new Set(changes()).has(k)).slice(0, 5).join(', ')}` });

    // Every request is there once (401s with the source and no user), with its code and, on
    // success, the resourceVersion its client got.
    const byRequest = new Map<string, AuditEvent[]>();
    for (const e of log) if (e.requestID) byRequest.set(e.requestID, [...(byRequest.get(e.requestID) ?? []), e]);
    for (const s of sent) {
      expect(s.auditId, `${s.method} ${s.path}`).toMatch(/^[0-9a-f-]{36}$/);
      const records = byRequest.get(s.auditId) ?? [];
      const own = records.filter((e) => e.resource === s.resource && (s.status === 401 && s.method === 'POST' ? true : e.name === s.name));
      expect(own, `${s.method} ${s.path} ${s.status}: ${JSON.stringify(records)}`).toHaveLength(1);
      const e = own[0]!;
      expect(e.code).toBe(s.status);
      expect(e.sourceIP).toBe('127.0.0.1');
      expect(e.user.name).toBe(s.status === 401 ? 'system:unauthenticated' : 'admin');
      if (s.status < 300 && !s.dryRun) expect(e.resourceVersionAfter).toBe(s.rv);
      if (s.dryRun) expect(e.dryRun).toBe(true);
      // Besides its own object, a request wrote only the ConfigRevisions of a config.
      for (const other of records) if (other !== e) expect(other.resource).toBe('configrevisions');
    }
    // Nothing in the log that no client asked for, except the server's own writers'.
    const clientIds = new Set(sent.map((s) => s.auditId));
    const others = log.filter((e) => !clientIds.has(e.requestID ?? ''));
    for (const e of others) expect(e.user.name, JSON.stringify(e)).toMatch(/^system:controller:/);
    const actors = new Set(others.map((e) => e.user.name));
    expect(actors).toContain('system:controller:rollout');
    expect(actors).toContain('system:controller:leader-election');

    for (const [, w] of watches) w.close();
    // The token is nowhere in the server's output (debug level logs every request).
    expect(server.output()).not.toContain(server.token);
    expect(server.output()).not.toContain('hq_wrong-token-for-the-audit-test');
  }, 120_000);
});
