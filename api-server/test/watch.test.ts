/**
 * Watch over a real socket: event types, resume from any resourceVersion in history, 410 when
 * it is gone, selector transitions, bookmarks, and no gaps or duplicates under concurrent writes.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { QUIET_BOOKMARK_TICKS, ResourceRegistry } from '../src/registry/registry.ts';

const decodeOriginal = ResourceRegistry.prototype.decode;
import { openSqliteStorage } from '../src/storage/sqlite-storage.ts';
import { buildTestApp, type TestApp } from './support/app.ts';
import { instanceFixture, ns } from './support/fixtures.ts';
import { openWatch } from './support/watch.ts';

let t: TestApp;
let base: string;

async function start(options: Parameters<typeof buildTestApp>[0] = {}) {
  t = await buildTestApp(options);
  base = await t.app.listen({ host: '127.0.0.1', port: 0 });
}
afterEach(async () => {
  await t.close();
});

const json = { 'content-type': 'application/json' };
const merge = { 'content-type': 'application/merge-patch+json' };
async function call(method: string, url: string, payload?: unknown, headers: Record<string, string> = json) {
  const res = await t.app.inject({ method: method as 'GET', url, headers: { ...t.headers, ...(payload === undefined ? {} : headers) }, payload: payload as string });
  return res.json() as any;
}

describe('watch', () => {
  beforeEach(() => start());

  it('streams ADDED, MODIFIED and DELETED with the object as of each event', async () => {
    const list = await call('GET', ns('haproxyinstances'));
    const w = await openWatch(base, `${ns('haproxyinstances')}?watch=true&resourceVersion=${list.metadata.resourceVersion}`, t.token);
    expect(w.status).toBe(200);
    const created = await call('POST', ns('haproxyinstances'), instanceFixture());
    const patched = await call('PATCH', `${ns('haproxyinstances')}/edge-1`, { spec: { paused: true } }, merge);
    const deleted = await call('DELETE', `${ns('haproxyinstances')}/edge-1`);
    const events = await w.waitFor(3);
    expect(events.map((e) => e.type)).toEqual(['ADDED', 'MODIFIED', 'DELETED']);
    expect(events[0]!.object.metadata.resourceVersion).toBe(created.metadata.resourceVersion);
    expect(events[1]!.object.spec.paused).toBe(true);
    expect(events[1]!.object.metadata.resourceVersion).toBe(patched.metadata.resourceVersion);
    expect(events[2]!.object.metadata.name).toBe('edge-1');
    expect(Number(events[2]!.object.metadata.resourceVersion)).toBeGreaterThan(Number(patched.metadata.resourceVersion));
    expect(deleted.metadata.name).toBe('edge-1');
    w.close();
  });

  it('without a resourceVersion, starts with ADDED for what exists', async () => {
    await call('POST', ns('haproxyinstances'), instanceFixture({ metadata: { name: 'a' } }));
    await call('POST', ns('haproxyinstances'), instanceFixture({ metadata: { name: 'b' } }));
    const w = await openWatch(base, `${ns('haproxyinstances')}?watch=1`, t.token);
    await call('POST', ns('haproxyinstances'), instanceFixture({ metadata: { name: 'c' } }));
    const events = await w.waitFor(3);
    expect(events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED a', 'ADDED b', 'ADDED c']);
    w.close();
  });

  it('resumes from an old resourceVersion with exactly the events after it', async () => {
    const rvs: string[] = [];
    for (let i = 0; i < 5; i++) rvs.push((await call('POST', ns('haproxyinstances'), instanceFixture({ metadata: { name: `i${i}` } }))).metadata.resourceVersion);
    const w = await openWatch(base, `${ns('haproxyinstances')}?watch=true&resourceVersion=${rvs[1]}`, t.token);
    const events = await w.waitFor(3);
    expect(events.map((e) => e.object.metadata.name)).toEqual(['i2', 'i3', 'i4']);
    await new Promise((r) => setTimeout(r, 100));
    expect(w.events).toHaveLength(3);
    w.close();
  });

  it('reports a selector transition as ADDED / DELETED to the watcher', async () => {
    await call('POST', ns('haproxyinstances'), instanceFixture({ metadata: { name: 'x', labels: { env: 'dev' } } }));
    const w = await openWatch(base, `${ns('haproxyinstances')}?watch=true&labelSelector=env%3Dprod`, t.token);
    await call('PATCH', `${ns('haproxyinstances')}/x`, { metadata: { labels: { env: 'prod' } } }, merge);
    await call('PATCH', `${ns('haproxyinstances')}/x`, { spec: { paused: true } }, merge);
    await call('PATCH', `${ns('haproxyinstances')}/x`, { metadata: { labels: { env: 'dev' } } }, merge);
    const events = await w.waitFor(3);
    expect(events.map((e) => e.type)).toEqual(['ADDED', 'MODIFIED', 'DELETED']);
    w.close();
  });

  it('watches one object by field selector, across namespaces too', async () => {
    const w = await openWatch(base, `/apis/haproxyhq.io/v1alpha1/haproxyinstances?watch=true&fieldSelector=metadata.name%3Dme`, t.token);
    await call('POST', ns('haproxyinstances'), instanceFixture({ metadata: { name: 'notme' } }));
    await call('POST', ns('haproxyinstances', 'prod'), instanceFixture({ metadata: { name: 'me' } }));
    const events = await w.waitFor(1);
    await new Promise((r) => setTimeout(r, 100));
    expect(w.events.map((e) => `${e.object.metadata.namespace}/${e.object.metadata.name}`)).toEqual(['prod/me']);
    expect(events).toHaveLength(1);
    w.close();
  });

  it('lists and watches the events about one object by involvedObject field labels', async () => {
    const event = (name: string, about: string, reason = 'ConfigApplied') => ({
      apiVersion: 'haproxyhq.io/v1alpha1',
      kind: 'Event',
      metadata: { name },
      involvedObject: { kind: 'HAProxyInstance', name: about, namespace: 'default' },
      type: 'Normal',
      reason,
      message: `about ${about}`,
    });
    const sel = encodeURIComponent('involvedObject.kind=HAProxyInstance,involvedObject.name=edge-1');
    const w = await openWatch(base, `${ns('events')}?watch=true&fieldSelector=${sel}`, t.token);
    await call('POST', ns('events'), event('e1', 'edge-1'));
    await call('POST', ns('events'), event('e2', 'edge-2'));
    await call('POST', ns('events'), event('e3', 'edge-1', 'DriftDetected'));
    await w.waitFor(2);
    await new Promise((r) => setTimeout(r, 100));
    expect(w.events.map((e) => e.object.metadata.name)).toEqual(['e1', 'e3']);
    w.close();
    const list = await call('GET', `${ns('events')}?fieldSelector=${sel},reason%3DDriftDetected`);
    expect(list.items.map((e: any) => e.metadata.name)).toEqual(['e3']);
    const bad = await call('GET', `${ns('events')}?fieldSelector=source.host%3Dx`);
    expect(bad).toMatchObject({ code: 400, message: expect.stringContaining('field label not supported: source.host') });
  });

  it("carries each write's object as the write encoded it (not parsed back), the same as a GET of it", async () => {
    // The watch decodes nothing at the revisions this server writes: the object the write encoded
    // is reused (ResourceRegistry.writing). A revision is decoded only when read: by the next write.
    const decodedRevs: number[] = [];
    const spy = vi.spyOn(ResourceRegistry.prototype, 'decode').mockImplementation(function (this: ResourceRegistry, kv) {
      decodedRevs.push(kv.modRevision);
      return decodeOriginal.call(this, kv);
    });
    try {
      const path = `${ns('haproxyinstances')}/edge-1`;
      const list = await call('GET', ns('haproxyinstances'));
      const w = await openWatch(base, `${ns('haproxyinstances')}?watch=true&resourceVersion=${list.metadata.resourceVersion}`, t.token);
      const written = [
        await call('POST', ns('haproxyinstances'), instanceFixture({ metadata: { name: 'edge-1', labels: { role: 'edge', '10': 'numeric' }, annotations: { a: 'x' } } })),
        await call('PATCH', path, { metadata: { annotations: { a: null, b: 'é ☃ "quoted"' } }, spec: { paused: true } }, merge),
        await call('PATCH', `${path}/status`, { status: { appliedRevision: 'cfg-1', conditions: [{ type: 'Ready', status: 'True', reason: 'Serving', message: 'ok', lastTransitionTime: '2026-11-24T00:00:00Z' }] } }, merge),
        // Unknown fields dropped under fieldValidation=Ignore: the write encodes the cleaned object.
        await call('PUT', `${path}?fieldValidation=Ignore`, { ...(await call('GET', path)), spec: { paused: false, bogus: 1 } }),
      ];
      const events = await w.waitFor(written.length);
      const ownRevs = written.map((o) => Number(o.metadata.resourceVersion));
      expect(events.map((e) => Number(e.object.metadata.resourceVersion))).toEqual(ownRevs);
      const decodes = (rev: number) => decodedRevs.filter((r) => r === rev).length;
      expect([decodes(ownRevs[0]!), decodes(ownRevs[1]!), decodes(ownRevs[3]!)]).toEqual([1, 1, 0]);
      // Each event is exactly what a fresh read of that revision gives.
      for (const [i, e] of events.entries()) expect(e.object).toStrictEqual(written[i]);
      expect(events[3]!.object.spec).toStrictEqual({ paused: false });
      expect(await call('GET', path)).toStrictEqual(written[3]);
      w.close();
    } finally {
      spy.mockRestore();
    }
  });

  it('delivers every write exactly once, in order, while writers race the watch start', async () => {
    const start = (await call('GET', ns('haproxyinstances'))).metadata.resourceVersion;
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 60; i++) writes.push(call('POST', ns('haproxyinstances'), instanceFixture({ metadata: { name: `r${i}` } })));
    // Opened while the writes are in flight: some come from history, the rest live.
    const w = await openWatch(base, `${ns('haproxyinstances')}?watch=true&resourceVersion=${start}`, t.token);
    await Promise.all(writes);
    const events = await w.waitFor(60);
    await new Promise((r) => setTimeout(r, 100));
    expect(w.events).toHaveLength(60);
    expect(new Set(events.map((e) => e.object.metadata.name)).size).toBe(60);
    const revs = events.map((e) => Number(e.object.metadata.resourceVersion));
    expect(revs).toEqual([...revs].sort((a, b) => a - b));
    expect(new Set(revs).size).toBe(60);
    w.close();
  });

  it('sends BOOKMARK events when asked', async () => {
    await t.close();
    await start({ bookmarkIntervalMs: 100 });
    const list = await call('GET', ns('haproxyinstances'));
    const w = await openWatch(base, `${ns('haproxyinstances')}?watch=true&allowWatchBookmarks=true&resourceVersion=${list.metadata.resourceVersion}`, t.token);
    await call('POST', ns('events'), { metadata: { name: 'e1' }, involvedObject: { kind: 'HAProxyInstance', name: 'x' }, type: 'Normal', reason: 'Test' });
    const events = await w.waitFor(1, 5000);
    expect(events[0]!.type).toBe('BOOKMARK');
    expect(events[0]!.object).toEqual({ apiVersion: 'haproxyhq.io/v1alpha1', kind: 'HAProxyInstance', metadata: { resourceVersion: expect.any(String) } });
    // The bookmark may run ahead of this collection's own writes: the event went to another resource.
    expect(Number(events[0]!.object.metadata.resourceVersion)).toBeGreaterThanOrEqual(Number(list.metadata.resourceVersion));
    w.close();
  });

  it('sends a BOOKMARK on a quiet store too, every QUIET_BOOKMARK_TICKS intervals, so a client can tell silence from a dead connection', async () => {
    await t.close();
    await start({ bookmarkIntervalMs: 50 });
    const list = await call('GET', ns('haproxyinstances'));
    const opened = Date.now();
    const w = await openWatch(base, `${ns('haproxyinstances')}?watch=true&allowWatchBookmarks=true&resourceVersion=${list.metadata.resourceVersion}`, t.token);
    // Nothing is written: the revision never moves.
    const events = await w.waitFor(2, 5000);
    const elapsed = Date.now() - opened;
    expect(events.map((e) => e.type)).toEqual(['BOOKMARK', 'BOOKMARK']);
    expect(events.map((e) => e.object.metadata.resourceVersion)).toEqual([list.metadata.resourceVersion, list.metadata.resourceVersion]);
    // Not every interval: two bookmarks take at least QUIET_BOOKMARK_TICKS intervals beyond the first.
    expect(elapsed).toBeGreaterThanOrEqual(QUIET_BOOKMARK_TICKS * 50);
    w.close();
  });

  it('ends the stream at timeoutSeconds', async () => {
    const w = await openWatch(base, `${ns('haproxyinstances')}?watch=true&timeoutSeconds=1`, t.token);
    await w.ended;
    expect(w.events).toEqual([]);
  });
});

describe('watch from a compacted resourceVersion', () => {
  it('gets an ERROR event with a 410 Expired Status, as kube-apiserver sends it', async () => {
    await start({ storage: openSqliteStorage({ path: ':memory:', historyRevisions: 100, historyMs: 0 }) });
    const first = await call('POST', ns('haproxyinstances'), instanceFixture({ metadata: { name: 'old' } }));
    for (let i = 0; i < 150; i++) await call('PATCH', `${ns('haproxyinstances')}/old`, { metadata: { labels: { n: String(i) } } }, merge);
    const w = await openWatch(base, `${ns('haproxyinstances')}?watch=true&resourceVersion=${first.metadata.resourceVersion}`, t.token);
    await w.ended;
    expect(w.status).toBe(200);
    expect(w.events).toHaveLength(1);
    expect(w.events[0]).toMatchObject({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } });
    expect(w.events[0]!.object.message).toMatch(/too old resource version/);
    const list = await call('GET', `${ns('haproxyinstances')}?resourceVersion=${first.metadata.resourceVersion}&resourceVersionMatch=Exact`);
    expect(list).toMatchObject({ kind: 'Status', code: 410 });
  });
});
