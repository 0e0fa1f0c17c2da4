/**
 * The metrics history through the API: agents' status writes (PATCH .../status, as the agent
 * sends them) become points of GET .../haproxyinstances/NAME/metrics, delivered by the store's
 * watch, with the route's errors and authentication.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { InstanceMetrics } from '@haproxyhq/schemas';
import type { Authorizer, RequestAttributes } from '../src/auth.ts';
import type { MetricsHistory } from '../src/metrics/history.ts';
import { agentStatus, type AgentStatusOptions } from './support/agent-status.ts';
import { buildTestApp, type TestApp } from './support/app.ts';
import { instanceFixture, ns } from './support/fixtures.ts';
import { until } from './support/until.ts';

const apps: TestApp[] = [];
afterEach(async () => {
  // Apps sharing a store all close before it does.
  const all = apps.splice(0);
  for (const a of all) await a.app.close();
  for (const storage of new Set(all.map((a) => a.storage))) await storage.close();
});

async function start(options: Parameters<typeof buildTestApp>[0] = { metricsHistoryMinutes: 60 }): Promise<TestApp> {
  const t = await buildTestApp(options);
  apps.push(t);
  return t;
}

const metricsUrl = (name: string, query = '', namespace = 'default') => `${ns('haproxyinstances', namespace)}/${name}/metrics${query}`;

async function get(t: TestApp, url: string, headers: Record<string, string> = t.headers) {
  const res = await t.app.inject({ method: 'GET', url, headers });
  return { status: res.statusCode, body: res.json() as any };
}

async function createInstance(t: TestApp, name: string, namespace = 'default') {
  const res = await t.app.inject({ method: 'POST', url: ns('haproxyinstances', namespace), headers: t.headers, payload: instanceFixture({ metadata: { name } }) });
  expect(res.statusCode).toBe(201);
}

/** Write status as the agent does: a merge patch of /status. */
async function report(t: TestApp, name: string, o: AgentStatusOptions) {
  const res = await t.app.inject({
    method: 'PATCH',
    url: `${ns('haproxyinstances')}/${name}/status`,
    headers: { ...t.headers, 'content-type': 'application/merge-patch+json' },
    payload: { status: agentStatus(o) },
  });
  expect(res.statusCode, res.body).toBe(200);
}

/** Poll the route until the instance has `points` samples (the history is fed by a watch, asynchronously). */
async function points(t: TestApp, name: string, count: number): Promise<InstanceMetrics> {
  return until(`${count} samples of ${name}`, async () => {
    const res = await get(t, metricsUrl(name));
    return res.status === 200 && res.body.instance.t.length === count ? (res.body as InstanceMetrics) : undefined;
  }, { ms: 5000, intervalMs: 20 });
}

/** A 10 s slot boundary a few minutes ago, so that +3 s stays in one slot and every time is past. */
const base = () => Math.floor(Date.now() / 10_000) * 10_000 - 5 * 60_000;

describe('GET .../haproxyinstances/NAME/metrics', () => {
  it('turns status writes with stats into points of the instance and its backends', async () => {
    const t = await start();
    await createInstance(t, 'edge-1');
    const t0 = base();
    await report(t, 'edge-1', { at: t0, currentConnections: 10, sessionRate: 2, frontendRequestRates: [3, 4], backends: [['app', 5, 1, 10], ['api', 2, 0, 5]] });
    await report(t, 'edge-1', { at: t0 + 60_000, currentConnections: 12, sessionRate: 3, frontendRequestRates: [6, 1], backends: [['app', 6, 2, 70], ['api', 1, 1, 9]] });
    const m = await points(t, 'edge-1', 2);
    expect(m).toMatchObject({
      apiVersion: 'haproxyhq.io/v1alpha1',
      kind: 'InstanceMetrics',
      metadata: { name: 'edge-1', namespace: 'default' },
      windowSeconds: 3600,
      intervalSeconds: 10,
      instance: { t: [t0, t0 + 60_000], currentConnections: [10, 12], sessionRate: [2, 3], requestRate: [7, 7] },
    });
    expect(m.backends).toEqual([
      { name: 'app', t: [t0, t0 + 60_000], currentSessions: [5, 6], sessionRate: [1, 2], requestRate: [null, null] },
      { name: 'api', t: [t0, t0 + 60_000], currentSessions: [2, 1], sessionRate: [0, 1], requestRate: [null, null] },
    ]);
    expect(m.truncatedBackends).toBeUndefined();
  });

  it('collapses reports within one 10 s slot into the latest, and ignores writes without newer stats', async () => {
    const t = await start();
    await createInstance(t, 'edge-1');
    const t0 = base();
    await report(t, 'edge-1', { at: t0, currentConnections: 1, backends: [['app', 1, 1, 1]] });
    await report(t, 'edge-1', { at: t0 + 3000, currentConnections: 2, backends: [['app', 2, 1, 2]] });
    await report(t, 'edge-1', { at: t0 + 7000, currentConnections: 3, backends: [['app', 3, 1, 3]] });
    // A condition-only change with the same stats (as the agent writes one between stats reports).
    await report(t, 'edge-1', { at: t0 + 40_000, currentConnections: 3, backends: [['app', 3, 1, 3]], readyReason: 'Applying' });
    // A server-side rewrite keeps the agent's heartbeatTime.
    await report(t, 'edge-1', { at: t0 + 40_000, currentConnections: 3, backends: [['app', 3, 1, 3]], readyReason: 'AgentLost' });
    await report(t, 'edge-1', { at: t0 + 60_000, currentConnections: 4, backends: [['app', 4, 1, 4]] });
    const m = await points(t, 'edge-1', 2);
    expect(m.instance.t).toEqual([t0 + 7000, t0 + 60_000]);
    expect(m.instance.currentConnections).toEqual([3, 4]);
    expect(m.backends[0]!.currentSessions).toEqual([3, 4]);
  });

  it('keeps no sample older than the window, and sinceSeconds narrows what is returned', async () => {
    const t = await start({ metricsHistoryMinutes: 5 });
    await createInstance(t, 'edge-1');
    const now = Date.now();
    await report(t, 'edge-1', { at: now - 7 * 60_000, currentConnections: 1 });
    await report(t, 'edge-1', { at: now - 4 * 60_000, currentConnections: 2 });
    await report(t, 'edge-1', { at: now - 30_000, currentConnections: 3 });
    const m = await points(t, 'edge-1', 2);
    expect(m.windowSeconds).toBe(300);
    expect(m.instance.currentConnections).toEqual([2, 3]);
    const recent = await get(t, metricsUrl('edge-1', '?sinceSeconds=60'));
    expect(recent.body).toMatchObject({ windowSeconds: 60, instance: { currentConnections: [3] } });
    // More than the window is clamped to it, not refused.
    const all = await get(t, metricsUrl('edge-1', '?sinceSeconds=86400'));
    expect(all.body).toMatchObject({ windowSeconds: 300, instance: { currentConnections: [2, 3] } });
  });

  it('keeps 64 backend series per instance and says how many it left out', async () => {
    const t = await start();
    await createInstance(t, 'big');
    const backends = Array.from({ length: 70 }, (_, i): [string, number, number] => [`be${i}`, i, 1]);
    await report(t, 'big', { at: base(), currentConnections: 1, backends });
    const m = await points(t, 'big', 1);
    expect(m.backends).toHaveLength(64);
    expect(m.backends.map((b) => b.name)).toEqual(backends.slice(0, 64).map((b) => b[0]));
    expect(m.truncatedBackends).toBe(6);
  });

  it('drops the series of a deleted instance: a new instance of the same name starts empty', async () => {
    const t = await start();
    const history = t.app.getDecorator<MetricsHistory>('metricsHistory');
    await createInstance(t, 'edge-1');
    await report(t, 'edge-1', { at: base(), currentConnections: 1 });
    await points(t, 'edge-1', 1);
    expect(history.size).toBe(1);
    const del = await t.app.inject({ method: 'DELETE', url: `${ns('haproxyinstances')}/edge-1`, headers: t.headers });
    expect(del.statusCode).toBe(200);
    await until('the history to forget edge-1', async () => history.size === 0, { ms: 5000, intervalMs: 20 });
    expect((await get(t, metricsUrl('edge-1'))).status).toBe(404);
    await createInstance(t, 'edge-1');
    const fresh = await get(t, metricsUrl('edge-1'));
    expect(fresh.status).toBe(200);
    expect(fresh.body.instance.t).toEqual([]);
  });

  it('answers a missing instance with 404 NotFound naming it', async () => {
    const t = await start();
    const res = await get(t, metricsUrl('nope'));
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ kind: 'Status', reason: 'NotFound', details: { name: 'nope', kind: 'haproxyinstances' } });
    expect(res.body.message).toContain('"nope" not found');
  });

  it('refuses a bad sinceSeconds and a bad namespace with 400', async () => {
    const t = await start();
    await createInstance(t, 'edge-1');
    for (const q of ['abc', '0', '-5', '1.5', '']) {
      const res = await get(t, metricsUrl('edge-1', `?sinceSeconds=${q}`));
      expect(res.status, q).toBe(400);
      expect(res.body).toMatchObject({ kind: 'Status', reason: 'BadRequest' });
      expect(res.body.message).toContain('sinceSeconds');
    }
    expect((await get(t, metricsUrl('edge-1', '', 'Bad_NS'))).status).toBe(400);
  });

  it('says the history is off when --metrics-history-minutes is 0', async () => {
    const t = await start({ metricsHistoryMinutes: 0 });
    await createInstance(t, 'edge-1');
    const res = await get(t, metricsUrl('edge-1'));
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ kind: 'Status', reason: 'NotFound' });
    expect(res.body.message).toContain('--metrics-history-minutes');
  });

  it('needs a valid bearer token like every API path, and asks the authorizer for haproxyinstances/metrics', async () => {
    const asked: RequestAttributes[] = [];
    const authorizer: Authorizer = {
      async authorize(_user, attrs) {
        asked.push(attrs);
        return attrs.subresource === 'metrics' ? { allowed: false, reason: 'no metrics for you' } : { allowed: true };
      },
    };
    const t = await start({ metricsHistoryMinutes: 60, authorizer });
    await createInstance(t, 'edge-1');
    for (const headers of [{}, { authorization: 'Bearer not-a-token' }] as Record<string, string>[]) {
      const res = await get(t, metricsUrl('edge-1'), headers);
      expect(res.status).toBe(401);
      expect(res.body).toMatchObject({ kind: 'Status', reason: 'Unauthorized' });
    }
    const denied = await get(t, metricsUrl('edge-1'));
    expect(denied.status).toBe(403);
    expect(denied.body.message).toContain('haproxyinstances/metrics');
    expect(asked.at(-1)).toEqual({ verb: 'get', resource: 'haproxyinstances', subresource: 'metrics', namespace: 'default', name: 'edge-1' });
  });

  it('is fed by the watch: a write through one app shows in the history of another on the same store', async () => {
    // The writer keeps no history at all: nothing of the sample passes through the reader's write path.
    const writer = await start({ metricsHistoryMinutes: 0 });
    const reader = await start({ metricsHistoryMinutes: 60, storage: writer.storage });
    await createInstance(writer, 'edge-1');
    const t0 = base();
    await report(writer, 'edge-1', { at: t0, currentConnections: 42, backends: [['app', 7, 1]] });
    const m = await points(reader, 'edge-1', 1);
    expect(m.instance.currentConnections).toEqual([42]);
    expect(m.backends[0]).toMatchObject({ name: 'app', currentSessions: [7] });
  });

  it('starts from the store on a new server: instances reported before it started are listed in', async () => {
    const first = await start({ metricsHistoryMinutes: 0 });
    await createInstance(first, 'edge-1');
    const t0 = base();
    await report(first, 'edge-1', { at: t0, currentConnections: 5 });
    const later = await start({ metricsHistoryMinutes: 60, storage: first.storage });
    const m = await points(later, 'edge-1', 1);
    expect(m.instance).toMatchObject({ t: [t0], currentConnections: [5] });
  });
});
