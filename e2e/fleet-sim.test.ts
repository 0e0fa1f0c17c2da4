/**
 * The fleet simulator (scripts/lib/fleet-sim.ts) against a real API server: 50 simulated agents
 * register, apply a pinned revision and report it as the real agent does (conditions, applied
 * revision and hash), renew their Leases, report a failed apply with HAProxy's kind of message
 * and line, ride out a server restart by resuming their watches without registering again, and
 * render a templated revision each for itself; and end a watch that went silent (behind a proxy
 * that freezes its flows) and resume it, as hq-agent does.
 */
import { createHash } from 'node:crypto';
import { connect, createServer as createNetServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentHashInput, renderConfig } from '@haproxyhq/schemas';
import { buildTestApp } from '../api-server/test/support/app.ts';
import { freePort } from '../api-server/test/support/ports.ts';
import { request, startServer, type ServerProcess } from '../api-server/test/support/server.ts';
import { readKubeconfig, startFleet, type Fleet } from '../scripts/lib/fleet-sim.ts';

const NS = '/apis/haproxyhq.io/v1alpha1/namespaces/default';
const merge = { 'content-type': 'application/merge-patch+json' };
const COUNT = 50;
/** These agents fail to apply web-2 (a deterministic failure, as a bad line on some hosts would). */
const FAILING = new Set(['sim-00003', 'sim-00017', 'sim-00042']);

let server: ServerProcess;
let port: number;
let fleet: Fleet;

const config = (text: string) => ({
  apiVersion: 'haproxyhq.io/v1alpha1',
  kind: 'HAProxyConfig',
  metadata: { name: 'web' },
  // A selector no instance matches: the test pins revisions itself, whatever a controller does.
  spec: { config: text, instanceSelector: { matchLabels: { 'fleet-sim-test': 'none' } } },
});

const cfg = (marker: string) => `global\n    maxconn 1000\n\ndefaults\n    mode http\n    timeout client 10s\n\nfrontend fe\n    bind :8080\n    http-request return status 200 string "${marker}"\n`;

async function ok(method: string, path: string, body?: unknown, headers?: Record<string, string>) {
  const res = await request(server, method, path, body, headers);
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${res.text}`);
  return res.body;
}

/** Pin `revision` on every simulated instance, 10 requests at a time. */
async function pinAll(revision: string): Promise<void> {
  const names = [...fleet.names];
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      for (let name = names.pop(); name; name = names.pop()) {
        await ok('PATCH', `${NS}/haproxyinstances/${name}`, { spec: { configRevision: revision } }, merge);
      }
    }),
  );
}

async function instances(): Promise<any[]> {
  return (await ok('GET', `${NS}/haproxyinstances?labelSelector=env%3Dsim`)).items;
}

const condition = (obj: any, type: string) => obj.status?.conditions?.find((c: any) => c.type === type);

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(fleet.counts())}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  port = await freePort();
  server = await startServer({ args: ['--listen', `127.0.0.1:${port}`] });
  const kc = readKubeconfig(server.kubeconfig);
  fleet = startFleet({
    ...kc,
    count: COUNT,
    labels: { env: 'sim', role: 'edge' },
    applyMs: 20,
    coalesceMs: 50,
    heartbeatSeconds: 1,
    fails: (name, revision) => revision === 'web-2' && FAILING.has(name),
  });
  await fleet.ready(20_000);
});

afterAll(async () => {
  await fleet?.stop();
  await server?.stop();
  server?.cleanup();
});

describe('fleet simulator against a real server', () => {
  it('registers every agent once, with its labels, and reports an unassigned status', async () => {
    const items = await instances();
    expect(items.map((i) => i.metadata.name).sort()).toEqual([...fleet.names].sort());
    for (const i of items) {
      expect(i.metadata.labels).toEqual({ env: 'sim', role: 'edge' });
      expect(condition(i, 'AgentConnected')).toMatchObject({ status: 'True', reason: 'Connected' });
      expect(condition(i, 'ConfigApplied')).toMatchObject({ status: 'Unknown', reason: 'NoRevisionAssigned' });
      expect(i.status.heartbeatTime).toMatch(/Z$/);
    }
    expect(fleet.counts()).toMatchObject({ registered: COUNT, watching: COUNT, creates: COUNT });
  });

  it('applies a pinned revision everywhere and reports ConfigApplied=True with its revision and hash', async () => {
    await ok('POST', `${NS}/haproxyconfigs`, config(cfg('one')));
    const rev = await ok('GET', `${NS}/configrevisions/web-1`);
    await pinAll('web-1');
    await fleet.done('web-1', COUNT, 15_000);
    expect(fleet.counts().applied).toEqual({ 'web-1': COUNT });
    for (const i of await instances()) {
      expect(i.status).toMatchObject({ appliedRevision: 'web-1', appliedHash: rev.spec.contentHash, observedGeneration: i.metadata.generation });
      expect(condition(i, 'ConfigApplied')).toMatchObject({ status: 'True', reason: 'Applied', message: 'running web-1' });
      expect(condition(i, 'Ready')).toMatchObject({ status: 'True', reason: 'Ready' });
      expect(i.status.haproxy.reloads).toBe(1);
    }
    // Each agent fetched the revision itself and recorded an Event of its apply.
    const t = fleet.timings('web-1');
    for (let k = 0; k < COUNT; k++) expect(t.doneAt[k]).toBeGreaterThan(t.seenAt[k]!);
    expect(fleet.counts().requests['revision-get']).toBe(COUNT);
    const events = (await ok('GET', `${NS}/events`)).items.filter((e: any) => e.reason === 'ConfigApplied');
    expect(events).toHaveLength(COUNT);
  });

  it('keeps a Lease per agent and renews it every heartbeat', async () => {
    const lease = async () => (await ok('GET', `${NS}/leases/sim-00000`)).spec;
    const first = await lease();
    expect(first).toMatchObject({ holderIdentity: 'sim-00000', leaseDurationSeconds: 4 });
    await until('a renewal', async () => ((await lease()).renewTime !== first.renewTime ? true : undefined), 5_000);
    const leases = (await ok('GET', `${NS}/leases`)).items.filter((l: any) => l.metadata.labels?.['haproxyhq.io/instance']?.startsWith('sim-'));
    expect(leases).toHaveLength(COUNT);
  });

  it('reports a failed apply as ConfigApplied=False with lastApplyError, keeping the last good revision', async () => {
    await ok('PATCH', `${NS}/haproxyconfigs/web`, { spec: { config: cfg('two') } }, merge);
    await pinAll('web-2');
    await fleet.done('web-2', COUNT, 15_000);
    expect(fleet.counts()).toMatchObject({ applied: { 'web-2': COUNT - FAILING.size }, failed: { 'web-2': FAILING.size } });
    for (const i of await instances()) {
      if (!FAILING.has(i.metadata.name)) {
        expect(i.status.appliedRevision).toBe('web-2');
        expect(i.status.lastApplyError).toBeUndefined();
        continue;
      }
      expect(i.status.appliedRevision).toBe('web-1');
      expect(condition(i, 'ConfigApplied')).toMatchObject({ status: 'False', reason: 'ConfigRejected' });
      expect(condition(i, 'Ready')).toMatchObject({ status: 'False', reason: 'ConfigRejected' });
      expect(i.status.lastApplyError).toMatchObject({ revision: 'web-2', file: 'haproxy.cfg' });
      expect(i.status.lastApplyError.message).toMatch(/parsing \[haproxy\.cfg:\d+\] : unknown keyword/);
      expect(i.status.lastApplyError.line).toBeGreaterThan(0);
    }
  });

  it('resumes after a server restart without registering again', async () => {
    await server.stop();
    server = await startServer({ dataDir: server.dataDir, args: ['--listen', `127.0.0.1:${port}`] });
    // Every watch ended with the old process: all of them come back, from their resourceVersion.
    await until('every watch to reconnect', () => (fleet.counts().watchReconnects >= COUNT && fleet.counts().watching === COUNT ? true : undefined));
    await ok('PATCH', `${NS}/haproxyconfigs/web`, { spec: { config: cfg('three') } }, merge);
    await pinAll('web-3');
    await fleet.done('web-3', COUNT, 15_000);
    expect(fleet.counts()).toMatchObject({ applied: { 'web-3': COUNT }, creates: COUNT });
    expect(fleet.counts().requests['instance-create']).toBe(COUNT);
    expect(await instances()).toHaveLength(COUNT);
    // The failed agents recovered: the new revision cleared their error.
    for (const i of await instances()) expect(i.status.lastApplyError).toBeUndefined();
  });

  it('renders a templated revision per instance and reports the hash of what it rendered', async () => {
    const text = `${cfg('four')}# host {{ name }}, role {{ labels.role }}, site {{ values.site | default "none" }}\n`;
    await ok('PATCH', `${NS}/haproxyconfigs/web`, { spec: { config: text, template: true } }, merge);
    await pinAll('web-4');
    await fleet.done('web-4', COUNT, 15_000);
    expect(fleet.counts().applied).toEqual({ 'web-4': COUNT });
    const hashes = new Set<string>();
    for (const i of await instances()) {
      const rendered = renderConfig({ config: text, files: [], template: true }, i);
      expect(rendered.config).toContain(`# host ${i.metadata.name}, role edge, site none`);
      const expected = `sha256:${createHash('sha256').update(contentHashInput(rendered)).digest('hex')}`;
      expect(i.status.appliedHash).toBe(expected);
      hashes.add(i.status.appliedHash);
    }
    expect(hashes.size).toBe(COUNT);
  });
});

describe('a watch that goes silent', () => {
  /**
   * A TCP proxy whose existing flows can be frozen: nothing more passes either way, and nothing
   * closes (a NAT or firewall timeout, a host gone). New connections pass. The one fault a real
   * server does not produce on cue.
   */
  function freezingProxy(target: number) {
    const flows = new Set<{ frozen: boolean; end(): void }>();
    const server = createNetServer((client) => {
      const upstream = connect(target, '127.0.0.1');
      const flow = {
        frozen: false,
        end() {
          client.destroy();
          upstream.destroy();
          flows.delete(flow);
        },
      };
      flows.add(flow);
      upstream.on('data', (d) => void (flow.frozen || client.write(d)));
      client.on('data', (d) => void (flow.frozen || upstream.write(d)));
      for (const s of [client, upstream]) {
        s.on('close', flow.end);
        s.on('error', flow.end);
      }
    });
    return {
      listen: () => new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port))),
      freeze: () => flows.forEach((f) => (f.frozen = true)),
      close: () => new Promise<void>((resolve) => {
        flows.forEach((f) => f.end());
        server.close(() => resolve());
      }),
    };
  }

  it('ends a watch that heard nothing for watchSilenceMs and resumes it, as hq-agent does; a live one stays', async () => {
    // In process, for BOOKMARKs every 200 ms (the server's flag has none): a live watch is never quiet for long.
    const t = await buildTestApp({ bookmarkIntervalMs: 200 });
    const target = Number(new URL(await t.app.listen({ host: '127.0.0.1', port: 0 })).port);
    const proxy = freezingProxy(target);
    const quiet = startFleet({
      server: `http://127.0.0.1:${await proxy.listen()}`,
      token: t.token,
      namespace: 'default',
      count: 2,
      namePrefix: 'quiet',
      labels: { env: 'quiet' },
      applyMs: 10,
      coalesceMs: 20,
      heartbeatSeconds: 1,
      watchSilenceMs: 2_500,
    });
    try {
      await quiet.ready(10_000);
      await new Promise((r) => setTimeout(r, 3_500));
      expect(quiet.counts()).toMatchObject({ silent: 0, watching: 2, watchReconnects: 0 });
      proxy.freeze();
      const deadline = Date.now() + 15_000;
      while (!(quiet.counts().silent >= 2 && quiet.counts().watching === 2) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(quiet.counts()).toMatchObject({ silent: 2, watching: 2 });
      // Not deaf: a revision pinned now is applied through the new watches.
      const inject = (method: string, url: string, payload: unknown, type = 'application/json') =>
        t.app.inject({ method: method as 'POST', url, headers: { ...t.headers, 'content-type': type }, payload: payload as object });
      expect((await inject('POST', `${NS}/haproxyconfigs`, config(cfg('quiet')))).statusCode).toBe(201);
      for (const name of quiet.names) {
        expect((await inject('PATCH', `${NS}/haproxyinstances/${name}`, { spec: { configRevision: 'web-1' } }, 'application/merge-patch+json')).statusCode).toBe(200);
      }
      await quiet.done('web-1', 2, 10_000);
    } finally {
      await quiet.stop();
      await proxy.close();
      await t.close();
    }
  });
});
