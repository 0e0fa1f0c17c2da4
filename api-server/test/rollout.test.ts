/**
 * The rollout controller in a real server process. The agents' side (status writes) is done by
 * hand here, so each step of a rollout can be held and inspected; e2e/rollout.test.ts runs the
 * same flows with real agents and real HAProxy.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFixture, instanceFixture, ns } from './support/fixtures.ts';
import { request, startServer, type ServerProcess } from './support/server.ts';
import { until as poll } from './support/until.ts';

let server: ServerProcess;
const call = (method: string, path: string, body?: unknown, headers?: Record<string, string>) => request(server, method, path, body, headers);
const mergePatch = { 'content-type': 'application/merge-patch+json' };

beforeAll(async () => {
  server = await startServer({ args: ['--leader-lease-seconds', '2'] });
});
afterAll(async () => {
  await server?.stop();
  server?.cleanup();
});

const until = <T>(what: string, fn: () => Promise<T | undefined | false>, ms = 15_000) => poll(what, fn, { ms });

const condition = (obj: any, type: string) => (obj?.status?.conditions ?? []).find((c: any) => c.type === type);
const getConfig = async (name: string, namespace: string) => (await call('GET', `${ns('haproxyconfigs', namespace)}/${name}`)).body;
const getInstance = async (name: string, namespace: string) => (await call('GET', `${ns('haproxyinstances', namespace)}/${name}`)).body;

/** What an agent reports: applied and Ready, or the apply failed with HAProxy's line. */
async function report(namespace: string, name: string, outcome: 'ready' | 'failed') {
  const inst = await getInstance(name, namespace);
  const revision = inst.spec.configRevision;
  const ok = outcome === 'ready';
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const status = {
    observedGeneration: inst.metadata.generation,
    appliedRevision: ok ? revision : inst.status?.appliedRevision,
    conditions: [
      { type: 'ConfigApplied', status: ok ? 'True' : 'False', reason: ok ? 'Applied' : 'ConfigRejected', message: ok ? `running ${revision}` : `${revision} (haproxy.cfg:3): unknown keyword 'bogus'`, lastTransitionTime: now },
      { type: 'Ready', status: ok ? 'True' : 'False', reason: ok ? 'Ready' : 'ConfigNotApplied', message: ok ? 'serving' : 'not applied', lastTransitionTime: now },
    ],
    ...(ok ? {} : { lastApplyError: { revision, message: "unknown keyword 'bogus'", line: 3 } }),
  };
  const r = await call('PUT', `${ns('haproxyinstances', namespace)}/${name}/status`, { ...inst, status });
  expect(r.status, r.text).toBe(200);
}

async function setup(namespace: string, names: string[], config: Record<string, unknown>, labels: Record<string, string> = { role: 'edge' }) {
  for (const name of names) {
    const r = await call('POST', ns('haproxyinstances', namespace), instanceFixture({ metadata: { name, labels } }));
    expect(r.status, r.text).toBe(201);
  }
  const r = await call('POST', ns('haproxyconfigs', namespace), config);
  expect(r.status, r.text).toBe(201);
}

const targets = async (namespace: string) => {
  const list = (await call('GET', ns('haproxyinstances', namespace))).body.items as any[];
  return Object.fromEntries(list.map((i) => [i.metadata.name, i.spec?.configRevision ?? null]));
};

describe('rollout controller', () => {
  it('runs under a leader Lease on the embedded store', async () => {
    const lease = await until('the controller lease', async () => {
      const r = await call('GET', `${ns('leases', 'haproxyhq-system')}/rollout-controller`);
      return r.status === 200 && r.body;
    });
    expect(lease.spec.holderIdentity).toMatch(/_\d+_[0-9a-f]{8}$/);
  });

  it('AllAtOnce moves every matching instance, and reports Complete once all are Ready', async () => {
    await setup('all', ['a1', 'a2', 'a3'], configFixture({ spec: { strategy: { type: 'AllAtOnce' } } }));
    await call('POST', ns('haproxyinstances', 'all'), instanceFixture({ metadata: { name: 'other', labels: { role: 'db' } } }));
    await until('all moved', async () => JSON.stringify(await targets('all')) === JSON.stringify({ a1: 'web-1', a2: 'web-1', a3: 'web-1', other: null }));
    const inst = await getInstance('a1', 'all');
    expect(Date.parse(inst.metadata.annotations['haproxyhq.io/revision-set-at'])).toBeGreaterThan(Date.now() - 60_000);
    let cfg = await until('progress status', async () => {
      const c = await getConfig('web', 'all');
      return c.status?.updated === 3 && c;
    });
    expect(cfg.status).toMatchObject({ observedGeneration: 1, latestRevision: 'web-1', instances: 3, updated: 3, ready: 0, failed: 0 });
    expect(condition(cfg, 'Complete').status).toBe('False');
    for (const n of ['a1', 'a2', 'a3']) await report('all', n, 'ready');
    cfg = await until('Complete', async () => {
      const c = await getConfig('web', 'all');
      return condition(c, 'Complete')?.status === 'True' && c;
    });
    expect(cfg.status.ready).toBe(3);
    expect(condition(cfg, 'Progressing')).toMatchObject({ status: 'True', reason: 'RolloutComplete' });
    const events = (await call('GET', ns('events', 'all'))).body.items.map((e: any) => e.reason);
    expect(events).toEqual(expect.arrayContaining(['RolloutStarted', 'RolloutComplete']));
  });

  it('Rolling: canary first, then waves of maxUnavailable; a failure halts with the rest on the old revision; undo recovers', async () => {
    const n = 'roll';
    await setup(n, ['r1', 'r2', 'r3', 'r4', 'r5'], configFixture({ spec: { strategy: { type: 'Rolling', canary: 1, maxUnavailable: 2 } } }));
    // Revision 1: canary r1 alone, then r2+r3, then r4+r5.
    await until('canary moved', async () => (await targets(n)).r1 === 'web-1');
    expect(await targets(n)).toEqual({ r1: 'web-1', r2: null, r3: null, r4: null, r5: null });
    await report(n, 'r1', 'ready');
    await until('first wave', async () => (await targets(n)).r3 === 'web-1');
    expect(await targets(n)).toMatchObject({ r2: 'web-1', r3: 'web-1', r4: null, r5: null });
    await report(n, 'r2', 'ready');
    await until('r4 moves when r2 is ready (one slot free)', async () => (await targets(n)).r4 === 'web-1');
    expect((await targets(n)).r5).toBe(null);
    for (const i of ['r3', 'r4']) await report(n, i, 'ready');
    await until('r5', async () => (await targets(n)).r5 === 'web-1');
    await report(n, 'r5', 'ready');
    await until('complete', async () => condition(await getConfig('web', n), 'Complete')?.status === 'True');

    // Revision 2 is bad: the canary fails, the rollout halts, the others stay on web-1.
    const cfg = await getConfig('web', n);
    let r = await call('PATCH', `${ns('haproxyconfigs', n)}/web`, { spec: { config: cfg.spec.config + '\n# v2\n' } }, mergePatch);
    expect(r.status, r.text).toBe(200);
    await until('canary on web-2', async () => (await targets(n)).r1 === 'web-2');
    await report(n, 'r1', 'failed');
    const halted = await until('halted', async () => {
      const c = await getConfig('web', n);
      return condition(c, 'Halted')?.status === 'True' && c;
    });
    expect(condition(halted, 'Halted')).toMatchObject({ reason: 'CanaryFailed' });
    expect(condition(halted, 'Halted').message).toContain("r1: ConfigRejected: web-2 (haproxy.cfg:3): unknown keyword 'bogus'");
    expect(halted.status).toMatchObject({ latestRevision: 'web-2', updated: 1, failed: 1, ready: 0 });
    await new Promise((res) => setTimeout(res, 1500)); // a few more syncs: nothing else moves
    expect(await targets(n)).toEqual({ r1: 'web-2', r2: 'web-1', r3: 'web-1', r4: 'web-1', r5: 'web-1' });
    const events = (await call('GET', ns('events', n))).body.items.filter((e: any) => e.reason === 'RolloutHalted');
    expect(events).toHaveLength(1);

    // Undo (what hqctl rollout undo does): revision 1's content as a new generation, web-3.
    const rev1 = (await call('GET', `${ns('configrevisions', n)}/web-1`)).body;
    r = await call('PATCH', `${ns('haproxyconfigs', n)}/web`, { spec: { config: rev1.spec.config.config } }, mergePatch);
    expect(r.status, r.text).toBe(200);
    await until('canary on web-3', async () => (await targets(n)).r1 === 'web-3');
    await until('the halt cleared by the new generation', async () => condition(await getConfig('web', n), 'Halted')?.status === 'False');
    for (const i of ['r1', 'r2', 'r3', 'r4', 'r5']) {
      await until(`${i} on web-3`, async () => (await targets(n))[i] === 'web-3');
      await report(n, i, 'ready');
    }
    await until('complete on web-3', async () => {
      const c = await getConfig('web', n);
      return condition(c, 'Complete')?.status === 'True' && c.status.latestRevision === 'web-3';
    });
  });

  it('a health deadline fails an instance whose agent never reports', async () => {
    await setup('deadline', ['d1', 'd2'], configFixture({ spec: { strategy: { type: 'Rolling', canary: 1, healthDeadlineSeconds: 1 } } }));
    const c = await until('deadline halt', async () => {
      const cfg = await getConfig('web', 'deadline');
      return condition(cfg, 'Halted')?.status === 'True' && cfg;
    });
    expect(condition(c, 'Halted').message).toMatch(/d1: not ConfigApplied and Ready on web-1 within 1 s/);
    expect(await targets('deadline')).toEqual({ d1: 'web-1', d2: null });
  });

  it('two configs selecting one instance: both report it, neither touches it', async () => {
    await setup('conflict', ['c1', 'c2'], configFixture({ metadata: { name: 'web' }, spec: { instanceSelector: { matchLabels: { role: 'edge' } } } }));
    await call('PATCH', `${ns('haproxyinstances', 'conflict')}/c2`, { metadata: { labels: { role: 'edge', team: 'api' } } }, mergePatch);
    await until('c1 moved', async () => (await targets('conflict')).c1 === 'web-1');
    let r = await call('POST', ns('haproxyconfigs', 'conflict'), configFixture({ metadata: { name: 'api' }, spec: { instanceSelector: { matchLabels: { team: 'api' } } } }));
    expect(r.status).toBe(201);
    const api = await until('conflict on api', async () => {
      const cfg = await getConfig('api', 'conflict');
      return condition(cfg, 'Conflict')?.status === 'True' && cfg;
    });
    expect(api.status.conflicts).toEqual([{ instance: 'c2', configs: ['api', 'web'] }]);
    expect(condition(api, 'Conflict').message).toContain('c2 (api, web)');
    const web = await until('conflict on web', async () => {
      const cfg = await getConfig('web', 'conflict');
      return condition(cfg, 'Conflict')?.status === 'True' && cfg;
    });
    expect(web.status.conflicts).toEqual([{ instance: 'c2', configs: ['api', 'web'] }]);
    // c2 was already on web-1 before the overlap (moved with c1 or not): it is not moved to api.
    expect((await targets('conflict')).c2).not.toBe('api-1');
    r = await call('GET', ns('events', 'conflict'));
    expect(r.body.items.some((e: any) => e.reason === 'SelectorOverlap')).toBe(true);
  });

  it('paused instances are skipped; a paused config moves nothing until resumed', async () => {
    await setup('paused', ['p1', 'p2'], configFixture({ spec: { paused: true } }));
    await call('PATCH', `${ns('haproxyinstances', 'paused')}/p2`, { spec: { paused: true } }, mergePatch);
    const c = await until('paused status', async () => {
      const cfg = await getConfig('web', 'paused');
      return condition(cfg, 'Progressing')?.reason === 'Paused' && cfg.status.pausedInstances === 1 && cfg;
    });
    expect(c.status).toMatchObject({ instances: 2, pausedInstances: 1, updated: 0 });
    expect(await targets('paused')).toEqual({ p1: null, p2: null });
    await call('PATCH', `${ns('haproxyconfigs', 'paused')}/web`, { spec: { paused: false } }, mergePatch);
    await until('p1 moved', async () => (await targets('paused')).p1 === 'web-2');
    await new Promise((res) => setTimeout(res, 500));
    expect((await targets('paused')).p2).toBe(null);
  });

  it('a template an instance cannot fill halts before that instance is touched', async () => {
    const tmpl = configFixture({ spec: { template: true, config: 'global\n    # {{ name }} in {{ labels.region }}\n' } });
    await setup('tmpl', ['t1'], tmpl, { role: 'edge', region: 'eu' });
    await call('POST', ns('haproxyinstances', 'tmpl'), instanceFixture({ metadata: { name: 't2', labels: { role: 'edge' } } }));
    const c = await until('render halt', async () => {
      const cfg = await getConfig('web', 'tmpl');
      return condition(cfg, 'Halted')?.reason === 'RenderFailed' && cfg;
    });
    expect(condition(c, 'Halted').message).toContain('t2: haproxy.cfg:2:21: instance "t2" has no label "region" and the placeholder has no | default');
    expect((await targets('tmpl')).t2).toBe(null);
    // Per-instance result, as hqctl get -o rendered shows it.
    const ok = await call('GET', `${ns('haproxyinstances', 'tmpl')}/t1/rendered?revision=web-1`);
    expect(ok.status, ok.text).toBe(200);
    expect(ok.body).toMatchObject({ kind: 'RenderedConfig', revision: 'web-1', template: true, config: 'global\n    # t1 in eu\n' });
    expect(ok.body.contentHash).toMatch(/^sha256:[0-9a-f]{64}$/);
    const bad = await call('GET', `${ns('haproxyinstances', 'tmpl')}/t2/rendered?revision=web-1`);
    expect(bad.status).toBe(422);
    expect(bad.body.details.causes[0]).toMatchObject({ field: 'spec.config', message: expect.stringContaining('has no label "region"') });
    const none = await call('GET', `${ns('haproxyinstances', 'tmpl')}/t2/rendered`);
    expect(none.status).toBe(400);
    expect(none.body.message).toContain('has no spec.configRevision yet');
  });

  it("moving an instance keeps its agent's whole status (the controller caches it without stats)", async () => {
    const n = 'stats';
    expect((await call('POST', ns('haproxyinstances', n), instanceFixture({ metadata: { name: 's1' } }))).status).toBe(201);
    const inst = await getInstance('s1', n);
    const stats = { servers: [{ name: 'app1', backend: 'app', status: 'UP', currentSessions: 3 }] };
    expect((await call('PUT', `${ns('haproxyinstances', n)}/s1/status`, { ...inst, status: { stats } })).status).toBe(200);
    expect((await call('POST', ns('haproxyconfigs', n), configFixture())).status).toBe(201);
    const moved = await until('s1 moved', async () => {
      const i = await getInstance('s1', n);
      return i.spec.configRevision === 'web-1' && i;
    });
    expect(moved.status.stats).toEqual(stats);
  });

  it('an agent whose Lease stops being renewed is marked AgentConnected=False, with an AgentLost event', async () => {
    const n = 'lost';
    expect((await call('POST', ns('haproxyinstances', n), instanceFixture({ metadata: { name: 'l1' } }))).status).toBe(201);
    const inst = await getInstance('l1', n);
    const t = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const conditions = [
      { type: 'AgentConnected', status: 'True', reason: 'Connected', message: 'agent on host-l1', lastTransitionTime: t },
      { type: 'Ready', status: 'True', reason: 'Ready', message: 'serving', lastTransitionTime: t },
    ];
    expect((await call('PUT', `${ns('haproxyinstances', n)}/l1/status`, { ...inst, status: { conditions } })).status).toBe(200);
    const lease = { apiVersion: 'haproxyhq.io/v1alpha1', kind: 'Lease', metadata: { name: 'l1' }, spec: { holderIdentity: 'host-l1', leaseDurationSeconds: 1, renewTime: t } };
    expect((await call('POST', ns('leases', n), lease)).status).toBe(201);
    const lost = await until('marked lost', async () => {
      const i = await getInstance('l1', n);
      return condition(i, 'AgentConnected')?.status === 'False' && i;
    });
    expect(condition(lost, 'AgentConnected')).toMatchObject({ reason: 'LeaseExpired', message: expect.stringMatching(/^agent host-l1 has not renewed its Lease for \d+ s$/) });
    expect(condition(lost, 'Ready')).toMatchObject({ status: 'Unknown', reason: 'AgentLost' });
    const events = (await call('GET', ns('events', n))).body.items;
    expect(events.map((e: any) => [e.reason, e.involvedObject.kind, e.involvedObject.name])).toContainEqual(['AgentLost', 'HAProxyInstance', 'l1']);
  });

  it('keeps revisionHistoryLimit old revisions, plus the latest and any an instance runs', async () => {
    await setup('gc', ['g1'], configFixture({ spec: { revisionHistoryLimit: 2 } }));
    await until('g1 on web-1', async () => (await targets('gc')).g1 === 'web-1');
    await call('PATCH', `${ns('haproxyinstances', 'gc')}/g1`, { spec: { paused: true } }, mergePatch);
    for (let i = 2; i <= 6; i++) {
      const r = await call('PATCH', `${ns('haproxyconfigs', 'gc')}/web`, { spec: { config: configFixture().spec.config + `# ${i}\n` } }, mergePatch);
      expect(r.status).toBe(200);
    }
    const names = await until('history trimmed', async () => {
      const list = (await call('GET', ns('configrevisions', 'gc'))).body.items.map((r: any) => r.metadata.name).sort();
      return list.length === 4 && list;
    });
    // web-6 (latest), web-5 and web-4 (the limit of 2), web-1 (g1 runs it).
    expect(names).toEqual(['web-1', 'web-4', 'web-5', 'web-6']);
  });
});
