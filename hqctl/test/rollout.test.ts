/**
 * hqctl rollout and the server verbs against a real API server with its controllers off: the test
 * plays the rollout controller by writing HAProxyConfig status through /status, so every state
 * `rollout status` must read (progress, Complete, Halted, a generation not yet observed) is
 * produced exactly. History and undo read the ConfigRevisions the server records.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, startServer, type ServerProcess } from '../../api-server/test/support/server.ts';
import { BASE, EXAMPLES, hqctl, lines, repo, start } from './support.ts';

let server: ServerProcess;
let dir: string;
const NS = `${BASE}/namespaces/default`;
const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const web = () => readFileSync(join(EXAMPLES, 'haproxyconfig-web.yaml'), 'utf8');

const getConfig = async (name = 'web') => (await request(server, 'GET', `${NS}/haproxyconfigs/${name}`)).body;
const getInstance = async (name: string) => (await request(server, 'GET', `${NS}/haproxyinstances/${name}`)).body;

/** Write status as the rollout controller would. */
async function setStatus(name: string, status: Record<string, unknown>): Promise<void> {
  const live = await getConfig(name);
  const r = await request(server, 'PUT', `${NS}/haproxyconfigs/${name}/status`, { ...live, status });
  if (r.status !== 200) throw new Error(`status: ${r.status} ${r.text}`);
}
const cond = (type: string, status: 'True' | 'False', reason: string, message = '') => ({ type, status, reason, message, lastTransitionTime: now() });

function configFile(name: string, edit: (text: string) => string = (t) => t): string {
  const p = join(dir, `${name}.yaml`);
  writeFileSync(p, edit(web()).replace('name: web', `name: ${name}`));
  return p;
}

beforeAll(async () => {
  server = await startServer({ args: ['--controllers', 'false'] });
  dir = mkdtempSync(join(tmpdir(), 'hqctl-rollout-'));
  expect((await hqctl(server, ['apply', '-f', EXAMPLES])).code).toBe(0);
});
afterAll(async () => {
  await server?.stop();
  server?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe('hqctl rollout status', () => {
  it('--watch=false prints where the rollout stands once', async () => {
    expect(await hqctl(server, ['rollout', 'status', 'hc/web', '--watch=false'])).toEqual({
      code: 0,
      stdout: 'Waiting for rollout to finish: the controller has not seen generation 1 yet...\n',
      stderr: '',
    });
  });

  it('follows progress until Complete=True for the current generation, then exits 0', async () => {
    const s = start(server, ['rollout', 'status', 'haproxyconfig/web']);
    await s.waitFor(/not seen generation 1/);
    await setStatus('web', { observedGeneration: 1, instances: 3, updated: 1, ready: 0, conditions: [cond('Progressing', 'True', 'RollingOut')] });
    await s.waitFor(/1 out of 3 new instances have been updated/);
    await setStatus('web', { observedGeneration: 1, instances: 3, updated: 3, ready: 1, conditions: [cond('Progressing', 'True', 'RollingOut')] });
    await s.waitFor(/1 of 3 updated instances are ready/);
    await setStatus('web', { observedGeneration: 1, instances: 3, updated: 3, ready: 3, conditions: [cond('Complete', 'True', 'RolledOut')] });
    expect(await s.exited).toBe(0);
    expect(s.stdout()).toBe(
      [
        'Waiting for rollout to finish: the controller has not seen generation 1 yet...',
        'Waiting for rollout to finish: 1 out of 3 new instances have been updated...',
        'Waiting for rollout to finish: 1 of 3 updated instances are ready...',
        'haproxyconfig "web" successfully rolled out',
        '',
      ].join('\n'),
    );
    // Complete for the observed generation: later calls return at once.
    expect((await hqctl(server, ['rollout', 'status', 'hc', 'web'])).stdout).toBe('haproxyconfig "web" successfully rolled out\n');
  });

  it('exits 1 with the Halted condition’s reason and message', async () => {
    expect((await hqctl(server, ['apply', '-f', configFile('halts')])).code).toBe(0);
    const s = start(server, ['rollout', 'status', 'hc/halts']);
    await s.waitFor(/Waiting/);
    await setStatus('halts', {
      observedGeneration: 1,
      instances: 2,
      updated: 1,
      failed: 1,
      conditions: [cond('Halted', 'True', 'CanaryFailed', "edge-1 refused halts-1: haproxy.cfg:31: unknown keyword 'bogus-directive'")],
    });
    expect(await s.exited).toBe(1);
    expect(s.stderr()).toBe(
      `error: rollout of haproxyconfig "halts" halted: CanaryFailed: edge-1 refused halts-1: haproxy.cfg:31: unknown keyword 'bogus-directive'\n`,
    );
  });

  it('gives up after --timeout, and names a missing config', async () => {
    expect(await hqctl(server, ['rollout', 'status', 'hc/web', '--timeout', '0']).then((r) => r.code)).toBe(0);
    expect((await hqctl(server, ['apply', '-f', configFile('stuck')])).code).toBe(0);
    const r = await hqctl(server, ['rollout', 'status', 'hc/stuck', '--timeout', '1s']);
    expect(r).toEqual({
      code: 1,
      stdout: 'Waiting for rollout to finish: the controller has not seen generation 1 yet...\n',
      stderr: 'error: timed out waiting for the condition\n',
    });
    expect(await hqctl(server, ['rollout', 'status', 'hc/nope'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'Error from server (NotFound): haproxyconfigs.haproxyhq.io "nope" not found\n',
    });
  });
});

describe('hqctl rollout history, undo, pause, resume', () => {
  beforeAll(async () => {
    // Revisions 1, 2, 3 of "hist": 1 and 3 differ in maxconn, 2 in the map too.
    expect((await hqctl(server, ['apply', '-f', configFile('hist')])).code).toBe(0);
    expect((await hqctl(server, ['apply', '-f', configFile('hist', (t) => t.replace('maxconn 4096', 'maxconn 2000').replace('www.example.com app', 'www.example.com app\n        api.example.com app'))])).code).toBe(0);
    expect((await hqctl(server, ['apply', '-f', configFile('hist', (t) => t.replace('maxconn 4096', 'maxconn 3000'))])).code).toBe(0);
  });

  it('history lists the revisions with hash, creation time and which is latest; --revision prints one', async () => {
    const r = await hqctl(server, ['rollout', 'history', 'haproxyconfig/hist']);
    expect(r.code).toBe(0);
    const out = lines(r.stdout);
    expect(out[0]).toBe('haproxyconfig.haproxyhq.io/hist');
    expect(out[1]).toMatch(/^REVISION\s+HASH\s+CREATED\s+RUNNING\s+LATEST$/);
    expect(out.slice(2).map((l) => l.split(/\s+/)[0])).toEqual(['1', '2', '3']);
    expect(out[2]).toMatch(/^1\s+sha256:[0-9a-f]{12}\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+0$/);
    expect(out[4]).toMatch(/\s\*$/);

    const two = await hqctl(server, ['rollout', 'history', 'hc/hist', '--revision', '2']);
    expect(two.stdout).toContain('\n    maxconn 2000\n');
    expect(two.stdout).toContain('# --- maps/hosts.map ---\nexample.com app\nwww.example.com app\napi.example.com app\n');
    const yaml = await hqctl(server, ['rollout', 'history', 'hc/hist', '--revision=2', '-o', 'yaml']);
    expect(yaml.stdout).toMatch(/^kind: ConfigRevision$/m);
    expect(yaml.stdout).toMatch(/^ {2}revision: 2$/m);
    expect(await hqctl(server, ['rollout', 'history', 'hc/hist', '--revision', '7'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'error: unable to find the specified revision 7 of haproxyconfig "hist" (history: 1, 2, 3)\n',
    });
  });

  it('pause and resume set spec.paused; pausing twice is an error', async () => {
    expect((await hqctl(server, ['rollout', 'pause', 'hc/hist'])).stdout).toBe('haproxyconfig.haproxyhq.io/hist paused\n');
    expect((await getConfig('hist')).spec.paused).toBe(true);
    expect(await hqctl(server, ['rollout', 'pause', 'hc/hist'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'error: haproxyconfigs.haproxyhq.io "hist" is already paused\n',
    });
  });

  it('undo puts back the previous different revision’s config and files, keeping selector, strategy and paused', async () => {
    const before = await getConfig('hist');
    const r = await hqctl(server, ['rollout', 'undo', 'hc/hist']);
    expect(r).toEqual({ code: 0, stdout: 'haproxyconfig.haproxyhq.io/hist rolled back to revision 2\n', stderr: '' });
    const after = await getConfig('hist');
    const rev2 = (await request(server, 'GET', `${NS}/configrevisions/hist-2`)).body;
    // pause changed the spec too (generation 4); the undo is generation 5.
    expect(after.metadata.generation).toBe(5);
    expect(after.spec.config).toBe(rev2.spec.config.config);
    expect(after.spec.files).toEqual(rev2.spec.config.files);
    expect(after.spec.template).toBe(true);
    expect(after.spec.paused).toBe(true);
    expect(after.spec.instanceSelector).toEqual(before.spec.instanceSelector);
    expect(after.spec.strategy).toEqual(before.spec.strategy);
    // The server recorded the undo as revision 5, with revision 2's content.
    expect((await request(server, 'GET', `${NS}/configrevisions/hist-5`)).body.spec.contentHash).toBe(rev2.spec.contentHash);

    expect((await hqctl(server, ['rollout', 'undo', 'hc/hist', '--to-revision', '1'])).stdout).toBe('haproxyconfig.haproxyhq.io/hist rolled back to revision 1\n');
    expect((await getConfig('hist')).spec.config).toContain('maxconn 4096');
    expect((await hqctl(server, ['rollout', 'undo', 'hc/hist', '--to-revision=1'])).stdout).toBe(
      'haproxyconfig.haproxyhq.io/hist skipped rollback (current config already matches revision 1)\n',
    );
    expect((await hqctl(server, ['rollout', 'resume', 'hc/hist'])).stdout).toBe('haproxyconfig.haproxyhq.io/hist resumed\n');
    expect((await getConfig('hist')).spec.paused).toBe(false);
  });
});

describe('hqctl drain, maint, ready, weight', () => {
  it('declare server states and weights in spec.servers, updating an entry or adding one', async () => {
    expect(await hqctl(server, ['drain', 'edge-1', 'app/app1'])).toEqual({
      code: 0,
      stdout: 'haproxyinstance.haproxyhq.io/edge-1 app/app1 set to drain\n',
      stderr: '',
    });
    expect((await hqctl(server, ['weight', 'hi/edge-1', 'app/app1', '25'])).stdout).toBe('haproxyinstance.haproxyhq.io/edge-1 app/app1 weight set to 25\n');
    expect((await hqctl(server, ['maint', 'edge-1', 'app/app2'])).stdout).toBe('haproxyinstance.haproxyhq.io/edge-1 app/app2 set to maint\n');
    expect((await hqctl(server, ['maint', 'edge-1', 'app/app2'])).stdout).toBe('haproxyinstance.haproxyhq.io/edge-1 app/app2 unchanged\n');
    expect((await hqctl(server, ['ready', 'edge-1', 'app/app1'])).stdout).toBe('haproxyinstance.haproxyhq.io/edge-1 app/app1 set to ready\n');
    expect((await getInstance('edge-1')).spec.servers).toEqual([
      { backend: 'app', server: 'app1', state: 'ready', weight: 25 },
      { backend: 'app', server: 'app2', state: 'maint' },
    ]);
  });

  it('-l acts on every matching instance; no match changes nothing and fails', async () => {
    const r = await hqctl(server, ['weight', '-l', 'role=edge', 'app/app2', '0']);
    expect(r.stdout).toBe('haproxyinstance.haproxyhq.io/edge-1 app/app2 weight set to 0\nhaproxyinstance.haproxyhq.io/edge-2 app/app2 weight set to 0\n');
    expect((await getInstance('edge-2')).spec.servers).toEqual([{ backend: 'app', server: 'app2', weight: 0 }]);
    expect(await hqctl(server, ['drain', '-l', 'role=nowhere', 'app/app1'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'error: no haproxyinstances in namespace "default" match the selector "role=nowhere": nothing changed\n',
    });
    expect((await hqctl(server, ['drain', '-l', 'role=a=b', 'app/app1'])).stderr).toBe(
      'Error from server (BadRequest): invalid label value "a=b" in labelSelector "role=a=b"\n',
    );
  });

  it('concurrent verbs on one instance lose no entry (each retries its 409 on a fresh read)', async () => {
    const servers = ['s1', 's2', 's3', 's4'];
    const results = await Promise.all(servers.map((s) => hqctl(server, ['drain', 'edge-2', `web/${s}`])));
    for (const r of results) expect(r.code).toBe(0);
    const declared = (await getInstance('edge-2')).spec.servers.filter((s: { backend: string }) => s.backend === 'web');
    expect(declared.map((s: { server: string }) => s.server).sort()).toEqual(servers);
  });

  it('a missing instance is NotFound', async () => {
    expect(await hqctl(server, ['drain', 'nope', 'app/app1'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'Error from server (NotFound): haproxyinstances.haproxyhq.io "nope" not found\n',
    });
  });
});

describe('the README', () => {
  it('runs every hqctl command of its hqctl section, in order, each exiting 0', async () => {
    const readme = readFileSync(join(repo, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('\n## hqctl\n'));
    const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!;
    const commands = block
      .split('\n')
      .map((l) => l.replace(/\s+#.*$/, '').trim())
      .map((l) => /(?:^|<\()npx hqctl ([^)]*)\)?$/.exec(l)?.[1])
      .filter((c): c is string => c !== undefined);
    expect(commands.length).toBeGreaterThan(8);
    // An edit first, so that undo has an earlier, different revision to go back to.
    expect((await hqctl(server, ['apply', '-f', configFile('web', (t) => t.replace('maxconn 4096', 'maxconn 1234'))])).code).toBe(0);
    for (const command of commands) {
      const args = command.split(/\s+/);
      // Play the controller where the command waits for it.
      if (command.startsWith('rollout status')) {
        const c = await getConfig('web');
        await setStatus('web', { observedGeneration: c.metadata.generation, conditions: [cond('Complete', 'True', 'RolledOut')] });
      }
      if (command.includes('-o rendered')) {
        const i = await getInstance('edge-1');
        await request(server, 'PUT', `${NS}/haproxyinstances/edge-1`, { ...i, spec: { ...i.spec, configRevision: 'web-1' } });
      }
      const r = await hqctl(server, args);
      expect({ command, code: r.code, stderr: r.stderr }).toEqual({ command, code: 0, stderr: '' });
    }
  });
});
