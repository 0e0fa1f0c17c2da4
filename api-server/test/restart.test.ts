/**
 * The embedded store across restarts of the real server process: every acknowledged write
 * survives (even SIGKILL), resourceVersions are unchanged, a watch resumed from an old
 * resourceVersion gets exactly the events it missed, and a second server on the same data dir
 * is refused.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { instanceFixture, configFixture, ns } from './support/fixtures.ts';
import { request, startServer, type ServerProcess } from './support/server.ts';
import { openWatch } from './support/watch.ts';

const servers: ServerProcess[] = [];
afterAll(async () => {
  for (const s of servers) await s.kill();
  servers[0]?.cleanup();
});

const list = async (s: ServerProcess, plural: string) => {
  const res = await request(s, 'GET', ns(plural));
  expect(res.status).toBe(200);
  return res.body;
};

describe('embedded store restart', () => {
  it('keeps every object and resourceVersion, and resumes watches with exactly the missed events', async () => {
    // Without the rollout controller: this test counts every write, and the controller would add its own.
    const first = await startServer({ args: ['--controllers', 'false'] });
    servers.push(first);
    for (let i = 0; i < 5; i++) {
      expect((await request(first, 'POST', ns('haproxyinstances'), instanceFixture({ metadata: { name: `edge-${i}` } }))).status).toBe(201);
    }
    expect((await request(first, 'POST', ns('haproxyconfigs'), configFixture())).status).toBe(201);
    const checkpoint = (await list(first, 'haproxyinstances')).metadata.resourceVersion as string;

    // What a watcher at `checkpoint` will miss while it is away.
    const missed: string[] = [];
    const p = await request(first, 'PATCH', `${ns('haproxyinstances')}/edge-1`, { spec: { paused: true } }, { 'content-type': 'application/merge-patch+json' });
    missed.push(`MODIFIED edge-1 ${p.body.metadata.resourceVersion}`);
    const d = await request(first, 'DELETE', `${ns('haproxyinstances')}/edge-2`);
    expect(d.status).toBe(200);
    const c = await request(first, 'POST', ns('haproxyinstances'), instanceFixture({ metadata: { name: 'edge-9' } }));
    missed.push(`ADDED edge-9 ${c.body.metadata.resourceVersion}`);
    const s = await request(first, 'PATCH', `${ns('haproxyinstances')}/edge-3/status`, { status: { appliedRevision: 'web-1' } }, { 'content-type': 'application/merge-patch+json' });
    missed.push(`MODIFIED edge-3 ${s.body.metadata.resourceVersion}`);

    const beforeInstances = await list(first, 'haproxyinstances');
    const beforeRevisions = await list(first, 'configrevisions');
    // SIGKILL right after the last acknowledged write: durability on commit, not on shutdown.
    await first.kill();

    const second = await startServer({ dataDir: first.dataDir, args: ['--controllers', 'false'] });
    servers.push(second);
    const afterInstances = await list(second, 'haproxyinstances');
    expect(afterInstances.items).toEqual(beforeInstances.items);
    expect(afterInstances.metadata.resourceVersion).toBe(beforeInstances.metadata.resourceVersion);
    expect((await list(second, 'configrevisions')).items).toEqual(beforeRevisions.items);
    // The admin token in the kubeconfig still works (it is the same one).
    expect(second.token).toBe(first.token);

    const w = await openWatch(second.url, `${ns('haproxyinstances')}?watch=true&resourceVersion=${checkpoint}`, second.token, second.ca);
    const events = await w.waitFor(4);
    await new Promise((r) => setTimeout(r, 200));
    expect(w.events).toHaveLength(4);
    const seen = events.map((e) => `${e.type} ${e.object.metadata.name} ${e.object.metadata.resourceVersion}`);
    expect(seen.filter((x) => !x.startsWith('DELETED'))).toEqual(missed);
    expect(events[1]).toMatchObject({ type: 'DELETED', object: { metadata: { name: 'edge-2' } } });
    w.close();

    // Writes continue from the old revision, never reusing one.
    const next = await request(second, 'POST', ns('haproxyinstances'), instanceFixture({ metadata: { name: 'edge-10' } }));
    expect(Number(next.body.metadata.resourceVersion)).toBeGreaterThan(Number(afterInstances.metadata.resourceVersion));
    await second.stop();
    expect(second.child.exitCode).toBe(0);
  });

  it('refuses a second server on the same data dir with a clear message', async () => {
    const first = await startServer();
    servers.push(first);
    await expect(startServer({ dataDir: first.dataDir })).rejects.toThrow(/in use by another process/);
    await first.stop();
    first.cleanup();
  });
});
