/**
 * The agent end to end: a real API server, real HAProxy (master-worker), and the real hq-agent
 * process. A config change made through the API reaches HAProxy (requests show it) and the
 * status says so; a broken revision is refused with HAProxy's own line while the last good one
 * keeps serving; HAProxy killed shows HAProxyRunning=False; the API server gone for a while
 * causes no reload, and the agent reconverges when it is back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHAProxy, type HAProxyProcess } from '../agent/test/support/haproxy.ts';
import { bundleAgent } from '../scripts/bundle-agent.ts';
import { freePort } from '../api-server/test/support/ports.ts';
import { request, startServer, type ServerProcess } from '../api-server/test/support/server.ts';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const NS = '/apis/haproxyhq.io/v1alpha1/namespaces/default';
const merge = { 'content-type': 'application/merge-patch+json' };
const OUTAGE_MS = Number(process.env.HQ_TEST_OUTAGE_MS ?? 125_000);

let server: ServerProcess;
let serverPort: number;
let haproxy: HAProxyProcess;
let agent: ChildProcess;
let agentLog = '';
let frontPort: number;
const stateDir = mkdtempSync(join(tmpdir(), 'hq-agent-state-'));

const cfg = (body: string, extra = '') => `global
    default-path config
${extra}
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s

frontend fe
    bind 127.0.0.1:${frontPort}
    http-request return status 200 content-type text/plain string "${body}"
`;

function httpGet(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}\nagent log:\n${agentLog.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const instance = async () => (await request(server, 'GET', `${NS}/haproxyinstances/edge-1`)).body;
const condition = (obj: any, type: string) => obj?.status?.conditions?.find((c: any) => c.type === type);

function agentArgs(command: string): string[] {
  return [
      join(repo, 'agent/src/main.ts'), command,
      '--kubeconfig', server.kubeconfig,
      '--name', 'edge-1',
      '--labels', 'role=edge',
      '--haproxy-config', haproxy.configPath,
      '--master-socket', haproxy.masterSocket,
      '--state-dir', stateDir,
      '--coalesce-ms', '100',
      '--heartbeat-seconds', '1',
      '--stats-seconds', '2',
      '--resync-seconds', '2',
  ];
}

function startAgent(extra: string[] = []): ChildProcess {
  const child = spawn(process.execPath, [...agentArgs('run'), ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (agentLog += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (agentLog += d.toString()));
  return child;
}

beforeAll(async () => {
  serverPort = await freePort();
  frontPort = await freePort();
  // Without the rollout controller: these tests pin revisions by hand (e2e/rollout.test.ts has the controller).
  server = await startServer({ args: ['--listen', `127.0.0.1:${serverPort}`, '--controllers', 'false'] });
  haproxy = await startHAProxy({ config: cfg('v0') });
  agent = startAgent();
});

afterAll(async () => {
  agent?.kill('SIGKILL');
  await haproxy?.stop();
  await server?.stop();
  server?.cleanup();
  rmSync(stateDir, { recursive: true, force: true });
});

async function pin(revision: string) {
  const res = await request(server, 'PATCH', `${NS}/haproxyinstances/edge-1`, { spec: { configRevision: revision } }, merge);
  expect(res.status, res.text).toBe(200);
}

describe('hq-agent with real HAProxy', () => {
  it('registers its instance and reports HAProxy running', async () => {
    const inst = await until('registration', async () => {
      const i = await instance();
      return condition(i, 'HAProxyRunning')?.status === 'True' ? i : undefined;
    });
    expect(inst.metadata.labels).toEqual({ role: 'edge' });
    expect(inst.status.haproxy.version).toMatch(/^2\./);
    expect(inst.status.agent.version).toBe('0.1.0');
  });

  it('renews a small Lease for liveness instead of rewriting its status', async () => {
    const lease = async () => (await request(server, 'GET', `${NS}/leases/edge-1`)).body;
    const first = await until('a lease', async () => ((await lease()).spec?.renewTime ? lease() : undefined));
    expect(first.spec).toMatchObject({ holderIdentity: expect.any(String), leaseDurationSeconds: 4 });
    const renewed = await until('a renewal', async () => {
      const l = await lease();
      return l.metadata.resourceVersion !== first.metadata.resourceVersion ? l : undefined;
    });
    expect(Date.parse(renewed.spec.renewTime)).toBeGreaterThanOrEqual(Date.parse(first.spec.renewTime));
    expect(JSON.stringify(renewed).length).toBeLessThan(1024);
  });

  it('applies a config change made through the API: requests reflect it, status shows the revision', async () => {
    expect(await httpGet(frontPort)).toBe('v0');
    const created = await request(server, 'POST', `${NS}/haproxyconfigs`, {
      metadata: { name: 'web' },
      spec: { config: cfg('v1'), instanceSelector: { matchLabels: { role: 'edge' } } },
    });
    expect(created.status).toBe(201);
    await pin('web-1');
    const inst = await until('web-1 applied', async () => {
      const i = await instance();
      return i.status?.appliedRevision === 'web-1' && condition(i, 'Ready')?.status === 'True' ? i : undefined;
    });
    expect(await httpGet(frontPort)).toBe('v1');
    const rev = (await request(server, 'GET', `${NS}/configrevisions/web-1`)).body;
    expect(inst.status.appliedHash).toBe(rev.spec.contentHash);
    expect(condition(inst, 'ConfigApplied')).toMatchObject({ status: 'True', reason: 'Applied' });
    const events = (await request(server, 'GET', `${NS}/events`)).body.items;
    expect(events.map((e: any) => e.reason)).toContain('ConfigApplied');
  });

  it("refuses a broken revision with HAProxy's own line, and keeps serving the last good one", async () => {
    const broken = cfg('v2').replace('    bind', '    bnd');
    await request(server, 'PATCH', `${NS}/haproxyconfigs/web`, { spec: { config: broken } }, merge);
    await pin('web-2');
    const inst = await until('web-2 rejected', async () => {
      const i = await instance();
      return condition(i, 'ConfigApplied')?.reason === 'ConfigRejected' ? i : undefined;
    });
    const line = broken.split('\n').findIndex((l) => l.includes('bnd')) + 1;
    expect(inst.status.lastApplyError).toMatchObject({ revision: 'web-2', line });
    expect(inst.status.lastApplyError.message).toMatch(/bnd/);
    expect(inst.status.appliedRevision).toBe('web-1');
    expect(condition(inst, 'Ready').status).toBe('False');
    expect(await httpGet(frontPort)).toBe('v1');
  });

  it('survives the API server being away for minutes: no reload while it is gone, reconverges after', { timeout: 240_000 }, async () => {
    await pin('web-1');
    await until('back on web-1', async () => condition(await instance(), 'Ready')?.status === 'True' || undefined);
    // The fixed error is cleared, not left behind by the merge patch.
    expect((await instance()).status.lastApplyError).toBeUndefined();
    const reloadsBefore = (await instance()).status.haproxy.reloads;
    const procReloadsBefore = (await haproxy.cli.showProc()).master.reloads;
    await server.stop();
    // Minutes, not seconds: long enough for ~60 resync passes and for the agent's reconnect
    // backoff to reach its 30 s cap. HAProxy must keep serving and must not be reloaded.
    for (let waited = 0; waited < OUTAGE_MS; waited += 25_000) {
      await new Promise((r) => setTimeout(r, Math.min(25_000, OUTAGE_MS - waited)));
      expect(await httpGet(frontPort)).toBe('v1');
    }
    expect((await haproxy.cli.showProc()).master.reloads).toBe(procReloadsBefore);
    server = await startServer({ dataDir: server.dataDir, args: ['--listen', `127.0.0.1:${serverPort}`, '--controllers', 'false'] });
    await request(server, 'PATCH', `${NS}/haproxyconfigs/web`, { spec: { config: cfg('v3') } }, merge);
    await pin('web-3');
    // Up to the backoff cap (30 s, jittered to 45 s) before the agent's next reconnect attempt.
    const inst = await until('web-3 applied after the outage', async () => {
      const i = await instance();
      return i.status?.appliedRevision === 'web-3' ? i : undefined;
    }, 60_000);
    expect(await httpGet(frontPort)).toBe('v3');
    // Exactly one reload: the one for web-3. None during the outage.
    expect(inst.status.haproxy.reloads).toBe(reloadsBefore + 1);
  });

  it('reports a hand edit of haproxy.cfg as Drifted=True with a unified diff, within seconds', async () => {
    const before = readFileSync(haproxy.configPath, 'utf8');
    const started = Date.now();
    writeFileSync(haproxy.configPath, before.replace('string "v3"', 'string "hand-edit"'));
    const inst = await until('Drifted=True', async () => {
      const i = await instance();
      return condition(i, 'Drifted')?.status === 'True' ? i : undefined;
    });
    expect(Date.now() - started).toBeLessThan(5_000);
    const message: string = condition(inst, 'Drifted').message;
    expect(message).toContain('the edited files pass haproxy -c');
    expect(message).toContain('-    http-request return status 200 content-type text/plain string "v3"');
    expect(message).toContain('+    http-request return status 200 content-type text/plain string "hand-edit"');
    // Report only: the edit is not loaded, and not reverted.
    expect(await httpGet(frontPort)).toBe('v3');
    expect(readFileSync(haproxy.configPath, 'utf8')).toContain('hand-edit');
    const events = (await request(server, 'GET', `${NS}/events`)).body.items;
    expect(events.map((e: any) => e.reason)).toContain('DriftDetected');
  });

  it('hq-agent push sends the local files up as a new revision, which the agent then applies', async () => {
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, agentArgs('push'), (err, stdout, stderr) => (err ? reject(new Error(stderr)) : resolve(stdout))),
    );
    expect(out).toContain('pushed the local files as default/web-4');
    const rev = (await request(server, 'GET', `${NS}/configrevisions/web-4`)).body;
    expect(rev.spec.config.config).toContain('hand-edit');
    await until('web-4 applied and in sync', async () => {
      const i = await instance();
      return i.status?.appliedRevision === 'web-4' && condition(i, 'Drifted')?.status === 'False' ? i : undefined;
    });
    expect(await httpGet(frontPort)).toBe('hand-edit');
  });

  it('with --on-drift=revert, restores the applied files and reports no drift', async () => {
    agent.kill('SIGTERM');
    await new Promise((r) => agent.once('exit', r));
    agent = startAgent(['--on-drift', 'revert']);
    const applied = readFileSync(haproxy.configPath, 'utf8');
    writeFileSync(haproxy.configPath, applied.replace('string "hand-edit"', 'string "sneaky"'));
    await until('file restored', async () => readFileSync(haproxy.configPath, 'utf8') === applied || undefined);
    await until('Drifted=False', async () => condition(await instance(), 'Drifted')?.status === 'False' || undefined);
    expect(await httpGet(frontPort)).toBe('hand-edit');
  });

  it("holds declared server states and weights through the runtime API, across reloads, as HAProxy's show stat shows", async () => {
    const withBackend = readFileSync(haproxy.configPath, 'utf8').replace(
      /    http-request return[^\n]*\n/,
      '    default_backend be\n\nbackend be\n    server s1 127.0.0.1:1\n    server s2 127.0.0.1:2 weight 3\n',
    );
    await request(server, 'PATCH', `${NS}/haproxyconfigs/web`, { spec: { config: withBackend } }, merge);
    await request(server, 'PATCH', `${NS}/haproxyinstances/edge-1`, {
      spec: { configRevision: 'web-5', servers: [{ backend: 'be', server: 's1', state: 'drain' }, { backend: 'be', server: 's2', weight: 7 }] },
    }, merge);
    const stat = async () => (await haproxy.cli.showStat()).filter((r) => r.type === 'server').map((r) => `${r.name} ${r.status} ${r.weight}`);
    await until('s1 drained, s2 weight 7', async () => {
      const rows = await stat();
      return rows.includes('s1 DRAIN 1') && rows.some((r) => r.startsWith('s2 ') && r.endsWith(' 7')) ? rows : undefined;
    });
    // A reload starts a worker with the config's states; the agent puts the declared ones back.
    await request(server, 'PATCH', `${NS}/haproxyconfigs/web`, { spec: { config: withBackend + '# reload me\n' } }, merge);
    await pin('web-6');
    await until('web-6 applied', async () => (await instance()).status?.appliedRevision === 'web-6' || undefined);
    await until('states held after the reload', async () => {
      const rows = await stat();
      return rows.includes('s1 DRAIN 1') && rows.some((r) => r.startsWith('s2 ') && r.endsWith(' 7')) ? rows : undefined;
    });
    const inst = await until('status shows the drained server', async () => {
      const i = await instance();
      return i.status?.stats?.servers?.find((s: any) => s.name === 's1' && s.status === 'DRAIN') ? i : undefined;
    });
    expect(inst.status.stats.backends.map((b: any) => b.name)).toContain('be');
  });

  it('refuses a server name that could smuggle a second CLI command', async () => {
    const res = await request(server, 'PATCH', `${NS}/haproxyinstances/edge-1`, {
      spec: { servers: [{ backend: 'be', server: 's1;shutdown sessions', state: 'maint' }] },
    }, merge);
    expect(res.status).toBe(422);
    expect(res.body.details.causes[0].field).toBe('spec.servers[0].server');
  });

  it('hq-agent pull, from the single-file bundle, applies the desired revision once and exits 0; a broken one exits 1 with the line', async () => {
    agent.kill('SIGTERM');
    await new Promise((r) => agent.once('exit', r));
    const bundle = join(stateDir, 'hq-agent.mjs');
    expect(await bundleAgent(bundle)).toBeGreaterThan(100_000);
    const pull = () =>
      new Promise<{ code: number; out: string }>((resolve) =>
        execFile(process.execPath, [bundle, ...agentArgs('pull').slice(1)], { timeout: 20_000 }, (err, stdout, stderr) =>
          resolve({ code: err ? Number(err.code) : 0, out: stdout + stderr }),
        ),
      );
    const current = (await request(server, 'GET', `${NS}/haproxyconfigs/web`)).body.spec.config as string;
    await request(server, 'PATCH', `${NS}/haproxyconfigs/web`, { spec: { config: current.replace('# reload me', '# pulled') } }, merge);
    await pin('web-7');
    const ok = await pull();
    expect(ok.out, ok.out).toContain('edge-1: running web-7');
    expect(ok.code).toBe(0);
    expect(readFileSync(haproxy.configPath, 'utf8')).toContain('# pulled');
    await request(server, 'PATCH', `${NS}/haproxyconfigs/web`, { spec: { config: current.replace('default_backend be', 'default_backnd be') } }, merge);
    await pin('web-8');
    const bad = await pull();
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/web-8 not applied: web-8 \(haproxy\.cfg:\d+\): .*default_backnd/);
    expect(readFileSync(haproxy.configPath, 'utf8')).toContain('# pulled');
    agent = startAgent(['--coalesce-ms', '1000']);
  });

  it('coalesces a burst of changes into one reload', async () => {
    await until('agent back, web-8 still refused', async () => condition(await instance(), 'ConfigApplied')?.reason === 'ConfigRejected' || undefined);
    const base = (await request(server, 'GET', `${NS}/configrevisions/web-7`)).body.spec.config.config as string;
    for (const n of [9, 10, 11]) {
      await request(server, 'PATCH', `${NS}/haproxyconfigs/web`, { spec: { config: `${base}# burst ${n}\n` } }, merge);
    }
    const before = (await haproxy.cli.showProc()).master.reloads;
    // Three pins inside the agent's 1 s coalescing window: one pass, one apply, one reload.
    for (const n of [9, 10, 11]) await pin(`web-${n}`);
    await until('web-11 applied', async () => (await instance()).status?.appliedRevision === 'web-11' || undefined);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await haproxy.cli.showProc()).master.reloads).toBe(before + 1);
    expect(readFileSync(haproxy.configPath, 'utf8')).toContain('# burst 11');
  });

  it('reports HAProxyRunning=False within seconds when HAProxy is killed', async () => {
    await haproxy.kill();
    const started = Date.now();
    const inst = await until('HAProxyRunning=False', async () => {
      const i = await instance();
      return condition(i, 'HAProxyRunning')?.status === 'False' ? i : undefined;
    });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(condition(inst, 'Ready').status).toBe('False');
  });
});
