/**
 * The HA setup: two api-server processes over one 3-member etcd cluster. A write through one
 * arrives on a watch through the other; both see the same resourceVersions, enforce optimistic
 * concurrency against each other, and accept each other's tokens.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instanceFixture, ns } from './support/fixtures.ts';
import { startEtcd, type EtcdCluster } from './support/etcd.ts';
import { request, startServer, type ServerProcess } from './support/server.ts';
import { openWatch } from './support/watch.ts';
import { agentStatus } from './support/agent-status.ts';
import { until } from './support/until.ts';

let etcd: EtcdCluster;
let a: ServerProcess;
let b: ServerProcess;

beforeAll(async () => {
  etcd = await startEtcd({ members: 3 });
  const args = (endpoints: string[]) => ['--storage', 'etcd', '--etcd-endpoints', endpoints.join(','), '--etcd-prefix', '/replicas'];
  // Each replica talks to a different member first, so the write crosses etcd's raft log.
  [a, b] = await Promise.all([
    startServer({ args: args([etcd.endpoints[0]!, etcd.endpoints[1]!]) }),
    startServer({ args: args([etcd.endpoints[2]!, etcd.endpoints[1]!]) }),
  ]);
});

afterAll(async () => {
  for (const s of [a, b]) {
    await s?.stop();
    s?.cleanup();
  }
  await etcd?.stop();
});

describe('two api-servers on one etcd', () => {
  it('delivers a write through one to a watch through the other', async () => {
    const start = (await request(b, 'GET', ns('haproxyinstances'))).body.metadata.resourceVersion;
    const w = await openWatch(b.url, `${ns('haproxyinstances')}?watch=true&resourceVersion=${start}`, b.token, b.ca);
    const created = await request(a, 'POST', ns('haproxyinstances'), instanceFixture({ metadata: { name: 'ha-1' } }));
    expect(created.status).toBe(201);
    const patched = await request(a, 'PATCH', `${ns('haproxyinstances')}/ha-1`, { spec: { paused: true } }, { 'content-type': 'application/merge-patch+json' });
    const deleted = await request(a, 'DELETE', `${ns('haproxyinstances')}/ha-1`);
    expect(deleted.status).toBe(200);
    const events = await w.waitFor(3);
    expect(events.map((e) => `${e.type} ${e.object.metadata.resourceVersion}`)).toEqual([
      `ADDED ${created.body.metadata.resourceVersion}`,
      `MODIFIED ${patched.body.metadata.resourceVersion}`,
      `DELETED ${events[2]!.object.metadata.resourceVersion}`,
    ]);
    expect(events[1]!.object.spec.paused).toBe(true);
    w.close();
  });

  it('shares resourceVersions and enforces optimistic concurrency across replicas', async () => {
    const created = (await request(a, 'POST', ns('haproxyinstances'), instanceFixture({ metadata: { name: 'ha-2' } }))).body;
    const viaB = (await request(b, 'GET', `${ns('haproxyinstances')}/ha-2`)).body;
    expect(viaB).toEqual(created);
    const first = await request(b, 'PUT', `${ns('haproxyinstances')}/ha-2`, { ...created, spec: { paused: true } });
    expect(first.status).toBe(200);
    const stale = await request(a, 'PUT', `${ns('haproxyinstances')}/ha-2`, { ...created, spec: { paused: false } });
    expect(stale.status).toBe(409);
    expect(stale.body.reason).toBe('Conflict');
  });

  it("accepts either replica's admin token on both (tokens live in etcd)", async () => {
    const crossed = await request({ url: b.url, ca: b.ca, token: a.token }, 'GET', ns('haproxyinstances'));
    expect(crossed.status).toBe(200);
    expect(a.token).not.toBe(b.token);
  });

  it('refuses a token revoked through the other replica within two seconds, though it had cached it', async () => {
    const made = await request(a, 'POST', '/apis/haproxyhq.io/v1alpha1/tokens', { user: { name: 'ci', groups: ['system:masters'] } });
    expect(made.status).toBe(201);
    const holder = { url: b.url, ca: b.ca, token: made.body.token as string };
    // Used on b first, so b has it in its cache.
    expect((await request(holder, 'GET', ns('haproxyinstances'))).status).toBe(200);
    expect((await request(holder, 'GET', ns('haproxyinstances'))).status).toBe(200);
    expect((await request(a, 'DELETE', `/apis/haproxyhq.io/v1alpha1/tokens/${made.body.metadata.name}`)).status).toBe(200);
    const revokedAt = Date.now();
    await until('b refuses the revoked token', async () => (await request(holder, 'GET', ns('haproxyinstances'))).status === 401 || undefined);
    expect(Date.now() - revokedAt).toBeLessThan(2000);
  });

  it("fills every replica's metrics history from etcd's watch, whichever replica the agent writes to", async () => {
    expect((await request(a, 'POST', ns('haproxyinstances'), instanceFixture({ metadata: { name: 'ha-3' } }))).status).toBe(201);
    const at = Math.floor(Date.now() / 10_000) * 10_000 - 60_000;
    const status = agentStatus({ at, currentConnections: 17, backends: [['app', 3, 1]] });
    const patched = await request(a, 'PATCH', `${ns('haproxyinstances')}/ha-3/status`, { status }, { 'content-type': 'application/merge-patch+json' });
    expect(patched.status).toBe(200);
    for (const replica of [a, b]) {
      const m = await until('the sample in the metrics history', async () => {
        const res = await request(replica, 'GET', `${ns('haproxyinstances')}/ha-3/metrics`);
        return res.status === 200 && res.body.instance.t.length === 1 ? res.body : undefined;
      }, { ms: 10_000 });
      expect(m.instance).toMatchObject({ t: [at], currentConnections: [17] });
      expect(m.backends[0]).toMatchObject({ name: 'app', currentSessions: [3] });
    }
  });
});
