/**
 * Fleet rollouts end to end: a real API server (running the rollout controller), two real
 * hq-agents beside two real HAProxy 2.6 processes (master-worker), and hqctl as a person types it.
 * `hqctl apply -f manifests/examples/` rolls the example config out to both; a bad revision halts
 * at the canary while the other instance keeps serving; `hqctl rollout undo` recovers.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, get, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simpleConfig, startHAProxy, type HAProxyProcess } from '../agent/test/support/haproxy.ts';
import { request, startServer, type ServerProcess } from '../api-server/test/support/server.ts';
import { until as poll } from '../api-server/test/support/until.ts';
import { spawnAgent } from './support/agent.ts';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const NS = '/apis/haproxyhq.io/v1alpha1/namespaces/default';
const NAMES = ['edge-1', 'edge-2'];
// The example instances listen on 8081/8082 and send to app servers on 9001/9002.
const FRONT = { 'edge-1': 8081, 'edge-2': 8082 } as Record<string, number>;

let server: ServerProcess;
const haproxies: Record<string, HAProxyProcess> = {};
const agents: ChildProcess[] = [];
const backends: Server[] = [];
const stateDirs: string[] = [];
let logs = '';

function hqctl(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [join(repo, 'hqctl/src/main.ts'), '--kubeconfig', server.kubeconfig, ...args],
      { timeout: 120_000, env: { ...process.env, NO_COLOR: '1' } },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
    if (input !== undefined) child.stdin!.end(input);
  });
}

function httpGet(port: number, host = 'example.com'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/', headers: { host }, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

const until = <T>(what: string, fn: () => Promise<T | undefined | false>, ms = 60_000) =>
  poll(what, fn, { ms, intervalMs: 200, context: () => `logs:\n${logs.slice(-4000)}` });

const instance = async (name: string) => (await request(server, 'GET', `${NS}/haproxyinstances/${name}`)).body;
const condition = (obj: any, type: string) => obj?.status?.conditions?.find((c: any) => c.type === type);

function listen(port: number, body: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer((_req, res) => res.end(body));
    s.once('error', (e) => reject(new Error(`the example manifests need 127.0.0.1:${port} free: ${e.message}`)));
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

beforeAll(async () => {
  for (const [port, body] of [[9001, 'app1'], [9002, 'app2']] as const) backends.push(await listen(port, body));
  server = await startServer({ args: ['--leader-lease-seconds', '2'] });
  for (const name of NAMES) {
    // Each HAProxy starts on a placeholder config; the rollout gives it the example.
    const h = await startHAProxy({ config: (ports) => simpleConfig(ports[0]!, 'boot') });
    haproxies[name] = h;
    const stateDir = mkdtempSync(join(tmpdir(), 'hq-rollout-state-'));
    stateDirs.push(stateDir);
    agents.push(spawnAgent({ kubeconfig: server.kubeconfig, name, labels: 'role=edge', haproxy: h, stateDir, onOutput: (d) => (logs += `[${name}] ${d}`) }));
  }
});

afterAll(async () => {
  for (const a of agents) a.kill('SIGKILL');
  for (const h of Object.values(haproxies)) await h.stop();
  for (const b of backends) b.close();
  await server?.stop();
  server?.cleanup();
  for (const d of stateDirs) rmSync(d, { recursive: true, force: true });
});

describe('hqctl and the rollout controller with two real agents', () => {
  it('apply -f manifests/examples/: both instances apply, rollout status exits 0, get shows them Ready', async () => {
    const applied = await hqctl(['apply', '-f', join(repo, 'manifests/examples')]);
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    expect(applied.stdout).toMatch(/haproxyconfig\.haproxyhq\.io\/web created/);
    expect(applied.stdout).toMatch(/haproxyinstance\.haproxyhq\.io\/edge-1 (created|configured)/);

    const status = await hqctl(['rollout', 'status', 'haproxyconfig/web', '--timeout', '90s']);
    if (status.code !== 0) console.log(logs.slice(-6000));
    expect(status.stderr + status.stdout).toMatch(/successfully rolled out|complete/i);
    expect(status.code).toBe(0);

    for (const name of NAMES) {
      const i = await instance(name);
      expect(i.status.appliedRevision).toBe('web-1');
      expect(condition(i, 'Ready').status).toBe('True');
      // The template gave each its own port, name and region; requests go through the map.
      const res = await httpGet(FRONT[name]!);
      expect(res.status).toBe(200);
      expect(['app1', 'app2']).toContain(res.body);
      expect(readFileSync(haproxies[name]!.configPath, 'utf8')).toContain(`# ${name} in eu-`);
    }
    const get = await hqctl(['get', 'haproxyinstances']);
    expect(get.code).toBe(0);
    for (const name of NAMES) expect(get.stdout).toMatch(new RegExp(`^${name}\\s.*\\bTrue\\b`, 'm'));

    // Applying the same files again changes nothing, and keeps what the controller set.
    const again = await hqctl(['apply', '-f', join(repo, 'manifests/examples')]);
    expect(again.stdout.trim().split('\n').every((l) => l.endsWith(' unchanged')), again.stdout).toBe(true);
    for (const name of NAMES) expect((await instance(name)).spec.configRevision).toBe('web-1');

    const rendered = await hqctl(['get', 'haproxyinstance', 'edge-2', '-o', 'rendered']);
    expect(rendered.code).toBe(0);
    expect(rendered.stdout).toContain('bind 127.0.0.1:8082');
  });

  it('a bad revision halts at the canary, the other keeps serving, rollout status fails with the reason, undo recovers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hq-bad-'));
    const file = join(dir, 'web.yaml');
    const good = readFileSync(join(repo, 'manifests/examples/haproxyconfig-web.yaml'), 'utf8');
    writeFileSync(file, good.replace('    backend app\n', '    backend app\n        bogus-directive on\n'));
    expect(readFileSync(file, 'utf8')).toContain('bogus-directive');
    const applied = await hqctl(['apply', '-f', file]);
    expect(applied.code).toBe(0);
    expect(applied.stdout).toContain('haproxyconfig.haproxyhq.io/web configured');

    const status = await hqctl(['rollout', 'status', 'hc/web', '--timeout', '90s']);
    expect(status.code).not.toBe(0);
    expect(status.stderr + status.stdout).toMatch(/CanaryFailed/);
    expect(status.stderr + status.stdout).toMatch(/edge-1.*bogus-directive/s);

    // The canary refused it (HAProxy's line) and kept web-1; edge-2 was never moved.
    const canary = await instance('edge-1');
    expect(canary.spec.configRevision).toBe('web-2');
    expect(canary.status.appliedRevision).toBe('web-1');
    expect(canary.status.lastApplyError).toMatchObject({ revision: 'web-2' });
    expect((await instance('edge-2')).spec.configRevision).toBe('web-1');
    for (const name of NAMES) expect((await httpGet(FRONT[name]!)).status).toBe(200);

    const undo = await hqctl(['rollout', 'undo', 'hc/web']);
    expect(undo.stderr).toBe('');
    expect(undo.code).toBe(0);
    expect(undo.stdout).toMatch(/rolled back/);
    const after = await hqctl(['rollout', 'status', 'hc/web', '--timeout', '90s']);
    expect(after.code).toBe(0);
    for (const name of NAMES) {
      const i = await until(`${name} on web-3`, async () => {
        const x = await instance(name);
        return x.status?.appliedRevision === 'web-3' && condition(x, 'Ready')?.status === 'True' && x;
      });
      expect(i.spec.configRevision).toBe('web-3');
      expect((await httpGet(FRONT[name]!)).status).toBe(200);
    }
    const history = await hqctl(['rollout', 'history', 'hc/web']);
    expect(history.code).toBe(0);
    expect(history.stdout).toMatch(/\b3\b/);
    rmSync(dir, { recursive: true, force: true });
  });
});
