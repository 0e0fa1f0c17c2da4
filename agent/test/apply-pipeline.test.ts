/**
 * The apply pipeline against real HAProxy 2.6 in master-worker mode: the happy path, and the
 * fault matrix. Every fault must leave HAProxy serving the last good config (proved with a
 * request through it) and say precisely what went wrong.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../api-server/test/support/ports.ts';
import { contentHash, createApplier, type Applier, type ApplierDeps } from '../src/apply/pipeline.ts';
import type { ApplyTarget, DesiredConfig } from '../src/apply/types.ts';
import { currentWorker } from '../src/haproxy/master-cli.ts';
import { httpGet, simpleConfig, startHAProxy, type HAProxyProcess } from './support/haproxy.ts';

/**
 * Relative file names (maps) resolve from HAProxy's working directory: the live HAProxy runs in
 * its config dir (as with `-C`), and the pipeline checks the staged copy from the stage dir.
 */
const cfg = simpleConfig;

function desired(revision: string, config: string, files: { path: string; content: string }[] = []): DesiredConfig {
  return { revision, config, files, hash: contentHash({ config, files }) };
}

interface Fixture {
  h: HAProxyProcess;
  target: ApplyTarget;
  applier: Applier;
  stateDir: string;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function fixture(deps: ApplierDeps = {}): Promise<Fixture> {
  const h = await startHAProxy({ config: ([port]) => cfg(port ?? 0, 'v0') });
  const stateDir = await mkdtemp(join(tmpdir(), 'hq-agent-state-'));
  cleanups.push(async () => {
    await h.stop();
    await rm(stateDir, { recursive: true, force: true });
  });
  const target: ApplyTarget = {
    configPath: h.configPath,
    masterSocket: h.masterSocket,
    haproxyBin: h.bin,
    stateDir,
    reloadTimeoutMs: 8_000,
  };
  return { h, target, applier: createApplier(target, deps), stateDir };
}

async function body(port: number): Promise<string> {
  return (await httpGet(port)).body;
}

async function blockPort(): Promise<{ port: number; close: () => Promise<void> }> {
  const port = await freePort();
  const server: Server = createServer();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  let closed = false;
  const close = () =>
    closed ? Promise.resolve() : new Promise<void>((r) => { closed = true; server.close(() => r()); });
  cleanups.push(close);
  return { port, close };
}

describe('apply: happy path', () => {
  it('applies a good config: files written, HAProxy reloaded and verified, requests get the new response', async () => {
    const { h, applier, target } = await fixture();
    expect(await body(h.port)).toBe('v0');
    const before = await h.cli.showProc();
    const d = desired('web-1', cfg(h.port, 'v1'));
    const r = await applier.apply(d);
    expect(r.error).toBeUndefined();
    expect(r).toMatchObject({ outcome: 'applied', revision: 'web-1', hash: d.hash });
    expect(r.proc?.master.reloads).toBe(before.master.reloads + 1);
    expect(currentWorker(r.proc!)?.pid).not.toBe(currentWorker(before)?.pid);
    expect(r.timings.checkMs).toBeGreaterThan(0);
    expect(r.timings.reloadMs).toBeGreaterThan(0);
    expect(r.timings.totalMs).toBeGreaterThanOrEqual((r.timings.checkMs ?? 0) + (r.timings.reloadMs ?? 0));
    expect(await body(h.port)).toBe('v1');
    expect(await readFile(target.configPath, 'utf8')).toBe(d.config);
    expect(await applier.localHash()).toBe(d.hash);
    expect(await applier.applied()).toEqual({ revision: 'web-1', hash: d.hash });
  });

  it('re-applying the same revision is "unchanged": no reload, the reload counter does not move', async () => {
    const { h, applier } = await fixture();
    const d = desired('web-1', cfg(h.port, 'v1'));
    expect((await applier.apply(d)).outcome).toBe('applied');
    const before = await h.cli.showProc();
    const r = await applier.apply(d);
    expect(r.outcome).toBe('unchanged');
    const after = await h.cli.showProc();
    expect(after.master.reloads).toBe(before.master.reloads);
    expect(currentWorker(after)?.pid).toBe(currentWorker(before)?.pid);
    expect(r.timings.totalMs).toBeLessThan(200);
  });

  it('places map files beside the config, uses them through default-path config, and removes files no longer desired', async () => {
    const { h, applier, target } = await fixture();
    const mapCfg = (extra = '') =>
      cfg(h.port, 'unused').replace(
        '    http-request return status 200 content-type text/plain string "unused"',
        '    http-request return status 200 content-type text/plain lf-string "%[req.hdr(host),field(1,:),lower,map(maps/hosts.map,unknown)]"',
      ) + extra;
    const d1 = desired('web-1', mapCfg(), [
      { path: 'maps/hosts.map', content: 'a.example site-a\nb.example site-b\n' },
      { path: 'errors/503.http', content: 'HTTP/1.0 503 Service Unavailable\r\n\r\nbusy\n' },
    ]);
    const r1 = await applier.apply(d1);
    expect(r1.error).toBeUndefined();
    expect(r1.outcome).toBe('applied');
    expect((await httpGet(h.port, '/', { host: 'b.example' })).body).toBe('site-b');
    expect(await readFile(join(h.dir, 'maps/hosts.map'), 'utf8')).toContain('site-a');

    const d2 = desired('web-2', mapCfg(), [{ path: 'maps/hosts.map', content: 'a.example site-a2\n' }]);
    const r2 = await applier.apply(d2);
    expect(r2.outcome).toBe('applied');
    expect((await httpGet(h.port, '/', { host: 'a.example' })).body).toBe('site-a2');
    await expect(stat(join(h.dir, 'errors/503.http'))).rejects.toThrow(/ENOENT/);
    expect(await applier.localHash()).toBe(d2.hash);
    expect((await applier.manifest())?.files).toEqual(['maps/hosts.map']);
    expect(target.configPath).toBe(h.configPath);
  });

  it('serializes concurrent applies: both finish, the last one wins, HAProxy serves it', async () => {
    const { h, applier } = await fixture();
    const [a, b] = await Promise.all([
      applier.apply(desired('web-1', cfg(h.port, 'v1'))),
      applier.apply(desired('web-2', cfg(h.port, 'v2'))),
    ]);
    expect([a.outcome, b.outcome]).toEqual(['applied', 'applied']);
    expect(await body(h.port)).toBe('v2');
  });
});

describe('apply: staging', () => {
  it('refuses file paths that could escape the config dir, before touching anything', async () => {
    const { h, applier, target } = await fixture();
    const original = await readFile(target.configPath, 'utf8');
    const outside = await mkdtemp(join(tmpdir(), 'hq-outside-'));
    cleanups.push(() => rm(outside, { recursive: true, force: true }));
    await symlink(outside, join(h.dir, 'certs'));
    for (const [path, why] of [
      ['../evil.map', /not allowed/],
      ['/etc/passwd', /not allowed/],
      ['maps/../../evil', /not allowed/],
      ['.hidden', /not allowed/],
      ['haproxy.cfg', /would overwrite the config itself/],
      ['certs/site.pem', /a symlink to .* outside/],
    ] as const) {
      const r = await applier.apply(desired('web-1', cfg(h.port, 'v1'), [{ path, content: 'x' }]));
      expect(r.outcome, path).toBe('rejected');
      expect(r.error?.stage).toBe('stage');
      expect(r.error?.message).toMatch(why);
    }
    expect(await readFile(target.configPath, 'utf8')).toBe(original);
    await expect(stat(join(outside, 'site.pem'))).rejects.toThrow(/ENOENT/);
  });

  it('refuses a revision whose content does not hash to its declared hash', async () => {
    const { h, applier } = await fixture();
    const d = desired('web-1', cfg(h.port, 'v1'));
    const r = await applier.apply({ ...d, config: d.config + '# tampered\n' });
    expect(r.outcome).toBe('rejected');
    expect(r.error?.message).toMatch(/does not match its content/);
  });

  it('lets haproxy -c see files the operator keeps beside the config (not managed), without touching them', async () => {
    const { h, applier } = await fixture();
    await mkdir(join(h.dir, 'maps'));
    await writeFile(join(h.dir, 'maps/operator.map'), 'a.example from-operator\n');
    const config = cfg(h.port, 'unused').replace(
      '    http-request return status 200 content-type text/plain string "unused"',
      '    http-request return status 200 content-type text/plain lf-string "%[req.hdr(host),field(1,:),map(maps/operator.map,none)]/%[req.hdr(host),field(1,:),map(maps/managed.map,none)]"',
    );
    const r = await applier.apply(desired('web-1', config, [{ path: 'maps/managed.map', content: 'a.example managed\n' }]));
    expect(r.error).toBeUndefined();
    expect(r.outcome).toBe('applied');
    expect((await httpGet(h.port, '/', { host: 'a.example' })).body).toBe('from-operator/managed');
    expect(await readFile(join(h.dir, 'maps/operator.map'), 'utf8')).toBe('a.example from-operator\n');
  });
});

describe('apply: fault matrix', () => {
  it('syntax error: rejected with HAProxy\'s message and line, nothing on the host touched, no reload', async () => {
    const { h, applier, target } = await fixture();
    const good = desired('web-1', cfg(h.port, 'v1'));
    await applier.apply(good);
    const before = await h.cli.showProc();
    const r = await applier.apply(desired('web-2', cfg(h.port, 'v2', '    bogus_keyword on\n')));
    expect(r.outcome).toBe('rejected');
    expect(r.error).toMatchObject({ stage: 'check', file: 'haproxy.cfg', line: 14 });
    expect(r.error?.message).toMatch(/parsing \[haproxy\.cfg:14\] : unknown keyword 'bogus_keyword' in 'frontend' section/);
    expect(r.error?.message).not.toContain('stage-'); // no staging paths leak out
    expect(await readFile(target.configPath, 'utf8')).toBe(good.config);
    expect((await h.cli.showProc()).master.reloads).toBe(before.master.reloads);
    expect(await body(h.port)).toBe('v1');
    expect(await applier.applied()).toEqual({ revision: 'web-1', hash: good.hash });
  });

  it('missing map file: rejected by haproxy -c, the message names the file', async () => {
    const { h, applier, target } = await fixture();
    const original = await readFile(target.configPath, 'utf8');
    const config = cfg(h.port, 'v1', '    http-request set-var(txn.site) req.hdr(host),lower,map(maps/hosts.map,unknown)\n');
    const r = await applier.apply(desired('web-1', config));
    expect(r.outcome).toBe('rejected');
    expect(r.error?.stage).toBe('check');
    expect(r.error?.message).toContain('maps/hosts.map');
    expect(r.error).toMatchObject({ file: 'haproxy.cfg', line: 14 });
    expect(await readFile(target.configPath, 'utf8')).toBe(original);
    expect(await body(h.port)).toBe('v0');
  });

  it('passes -c but the reload cannot bind a port another process holds: rolled back, reason names the failed reload, old config serves', async () => {
    const { h, applier, target } = await fixture();
    const good = desired('web-1', cfg(h.port, 'v1'));
    expect((await applier.apply(good)).outcome).toBe('applied');
    const blocked = await blockPort();
    const bad = desired(
      'web-2',
      cfg(h.port, 'v2', `frontend fe2\n    bind 127.0.0.1:${blocked.port}\n    http-request return status 200 content-type text/plain string "x"\n`),
    );
    const r = await applier.apply(bad);
    expect(r.outcome).toBe('rolled-back');
    expect(r.error?.stage).toBe('reload');
    // 2.6: the master keeps the old worker and counts the failure.
    expect(r.error?.message).toMatch(/reload failed: HAProxy's failed-reload counter went from 0 to 1; worker \d+ keeps serving/);
    expect(r.timings.reloadMs).toBeGreaterThan(1_500); // the new master's bind retries
    expect(r.timings.rollbackMs).toBeGreaterThan(0);
    expect(r.proc?.master.failedReloads).toBe(0); // the rollback reload succeeded
    expect(await body(h.port)).toBe('v1');
    expect(await readFile(target.configPath, 'utf8')).toBe(good.config);
    expect(await applier.localHash()).toBe(good.hash);
    expect(await applier.applied()).toEqual({ revision: 'web-1', hash: good.hash });
    expect(h.output()).toMatch(/cannot bind socket \(Address already in use\)/);
  });

  it('a port freed during HAProxy\'s bind retries leaves the new worker with PAUSED frontends: caught by verify and rolled back', async () => {
    const { h, applier } = await fixture();
    const good = desired('web-1', cfg(h.port, 'v1'));
    await applier.apply(good);
    const blocked = await blockPort();
    const bad = desired(
      'web-2',
      cfg(h.port, 'v2', `frontend fe2\n    bind 127.0.0.1:${blocked.port}\n    http-request return status 200 content-type text/plain string "x"\n`),
    );
    // The new master pauses the old worker's listeners (SIGTTOU) and retries the bind for ~2 s;
    // freeing the port half-way lets the load "succeed" with fe still paused in the new worker.
    setTimeout(() => void blocked.close(), 500);
    const r = await applier.apply(bad);
    expect(r.outcome).toBe('rolled-back');
    expect(r.error?.stage).toBe('verify');
    expect(r.error?.message).toMatch(/PAUSED frontends \(fe\)/);
    expect(await body(h.port)).toBe('v1');
    expect(await applier.localHash()).toBe(good.hash);
  });

  it('first apply failing on reload rolls back to the config found on the host and restores a pre-existing file it overwrote', async () => {
    const { h, applier, target } = await fixture();
    const original = await readFile(target.configPath, 'utf8');
    await mkdir(join(h.dir, 'maps'));
    await writeFile(join(h.dir, 'maps/hosts.map'), 'operator.example mine\n');
    const blocked = await blockPort();
    const r = await applier.apply(
      desired(
        'web-1',
        cfg(h.port, 'v1', `frontend fe2\n    bind 127.0.0.1:${blocked.port}\n    http-request return status 200 content-type text/plain string "x"\n`),
        [{ path: 'maps/hosts.map', content: 'new.example theirs\n' }],
      ),
    );
    expect(r.outcome).toBe('rolled-back');
    expect(await readFile(target.configPath, 'utf8')).toBe(original);
    expect(await readFile(join(h.dir, 'maps/hosts.map'), 'utf8')).toBe('operator.example mine\n');
    expect(await body(h.port)).toBe('v0');
    // The config found on the host is now the verified last-known-good.
    expect((await applier.manifest())?.source).toBe('adopted');
    expect(await applier.localHash()).toBe(contentHash({ config: original, files: [] }));
  });

  it('master socket gone before the apply: fails naming the socket path, nothing written', async () => {
    const { h, applier, target } = await fixture();
    const original = await readFile(target.configPath, 'utf8');
    await rename(h.masterSocket, `${h.masterSocket}.moved`);
    try {
      const r = await applier.apply(desired('web-1', cfg(h.port, 'v1')));
      expect(r.outcome).toBe('failed');
      expect(r.error?.stage).toBe('reload');
      expect(r.error?.message).toContain(`${h.masterSocket} does not exist`);
      expect(r.error?.message).toContain('nothing was written');
      expect(await readFile(target.configPath, 'utf8')).toBe(original);
      expect(await body(h.port)).toBe('v0');
    } finally {
      await rename(`${h.masterSocket}.moved`, h.masterSocket);
    }
  });

  it('master socket gone between write and reload: files rolled back so disk matches what runs, result names the socket', async () => {
    let sock = '';
    const { h, applier, target } = await fixture({ hooks: { afterWrite: () => rename(sock, `${sock}.moved`) } });
    sock = h.masterSocket;
    // The good state comes from a plain applier on the same target and state dir.
    const plain = createApplier(target);
    const good = desired('web-1', cfg(h.port, 'v1'));
    expect((await plain.apply(good)).outcome).toBe('applied');

    const r = await applier.apply(desired('web-2', cfg(h.port, 'v2')));
    expect(r.outcome).toBe('failed');
    expect(r.error?.stage).toBe('reload');
    expect(r.error?.message).toContain(`${h.masterSocket} does not exist`);
    expect(r.error?.message).toMatch(/last-known-good files restored on disk/);
    expect(await applier.localHash()).toBe(good.hash);
    expect(await body(h.port)).toBe('v1');

    await rename(`${h.masterSocket}.moved`, h.masterSocket);
    // The socket is back: recovery reloads the last-known-good and clears the journal.
    const rec = await plain.recover();
    expect(rec).toMatchObject({ action: 'restored', interruptedRevision: 'web-2', revision: 'web-1', hash: good.hash });
    expect((await plain.apply(desired('web-2', cfg(h.port, 'v2')))).outcome).toBe('applied');
    expect(await body(h.port)).toBe('v2');
  });

  it('HAProxy killed: apply fails clearly without writing, and probe() fails fast', async () => {
    const { h, applier, target } = await fixture();
    await applier.apply(desired('web-1', cfg(h.port, 'v1')));
    await h.kill();
    const onDisk = await readFile(target.configPath, 'utf8');
    const t0 = performance.now();
    const probe = await applier.probe();
    expect(performance.now() - t0).toBeLessThan(200);
    expect(probe.ok).toBe(false);
    expect(probe.error).toMatch(/connection refused.*HAProxy is not running/);
    const r = await applier.apply(desired('web-2', cfg(h.port, 'v2')));
    expect(r.outcome).toBe('failed');
    expect(r.error?.message).toMatch(/connection refused/);
    expect(r.error?.message).toContain(h.masterSocket);
    expect(await readFile(target.configPath, 'utf8')).toBe(onDisk);
    // "unchanged" is not claimed for a dead HAProxy either.
    const same = await applier.apply(desired('web-1', cfg(h.port, 'v1')));
    expect(same.outcome).toBe('failed');
    expect(same.error?.stage).toBe('verify');
  });
});

describe('apply: agent killed mid-apply (SIGKILL) and recovery', () => {
  const pipelineUrl = new URL('../src/apply/pipeline.ts', import.meta.url).href;

  /** Runs one apply in a child process that SIGKILLs itself at `point`. */
  async function applyAndDie(target: ApplyTarget, d: DesiredConfig, point: 'beforeConfig' | 'afterWrite' | 'afterReload'): Promise<void> {
    const code = `
      import { createApplier } from ${JSON.stringify(pipelineUrl)};
      const { target, desired, point } = JSON.parse(process.env.HQ_TEST_ARGS);
      const die = () => process.kill(process.pid, 'SIGKILL');
      const hooks = {
        beforeWrite: (p) => { if (point === 'beforeConfig' && p === 'haproxy.cfg') die(); },
        afterWrite: () => { if (point === 'afterWrite') die(); },
        afterReload: () => { if (point === 'afterReload') die(); },
      };
      await createApplier(target, { hooks }).apply(desired);
      console.error('not killed');
      process.exit(3);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
      env: { ...process.env, HQ_TEST_ARGS: JSON.stringify({ target, desired: d, point }) },
      stdio: ['ignore', 'inherit', 'pipe'],
      cwd: fileURLToPath(new URL('.', import.meta.url)),
    });
    let stderr = '';
    child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
    const [code_, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) => child.once('exit', (c, s) => r([c, s])));
    if (signal !== 'SIGKILL') throw new Error(`child was not killed (exit ${code_}): ${stderr}`);
  }

  const mapCfg = (port: number, tag: string) =>
    cfg(port, 'unused').replace(
      '    http-request return status 200 content-type text/plain string "unused"',
      `    http-request return status 200 content-type text/plain lf-string "${tag}:%[req.hdr(host),field(1,:),lower,map(maps/hosts.map,unknown)]"`,
    );

  it('killed with the maps written but not the config: recovery restores the old set (never a mix) and HAProxy runs what the manifest says', async () => {
    const { h, applier, target } = await fixture();
    const v1 = desired('web-1', mapCfg(h.port, 'v1'), [{ path: 'maps/hosts.map', content: 'a.example one\n' }]);
    expect((await applier.apply(v1)).outcome).toBe('applied');
    const v2 = desired('web-2', mapCfg(h.port, 'v2'), [{ path: 'maps/hosts.map', content: 'a.example two\n' }]);
    await applyAndDie(target, v2, 'beforeConfig');
    // A mix on disk: new map, old config.
    expect(await readFile(join(h.dir, 'maps/hosts.map'), 'utf8')).toBe('a.example two\n');
    expect(await readFile(target.configPath, 'utf8')).toBe(v1.config);

    const fresh = createApplier(target);
    expect(await fresh.localHash()).not.toBe(v1.hash);
    const rec = await fresh.recover();
    expect(rec).toMatchObject({ action: 'restored', interruptedRevision: 'web-2', revision: 'web-1', hash: v1.hash });
    expect(await fresh.localHash()).toBe(v1.hash);
    expect((await httpGet(h.port, '/', { host: 'a.example' })).body).toBe('v1:one');
    expect(await fresh.applied()).toEqual({ revision: 'web-1', hash: v1.hash });
    // And the next apply moves forward normally.
    expect((await fresh.apply(v2)).outcome).toBe('applied');
    expect((await httpGet(h.port, '/', { host: 'a.example' })).body).toBe('v2:two');
  });

  it('killed after writing everything but before the reload: the next apply() recovers first, then applies', async () => {
    const { h, target } = await fixture();
    const v1 = desired('web-1', cfg(h.port, 'v1'));
    expect((await createApplier(target).apply(v1)).outcome).toBe('applied');
    const v2 = desired('web-2', cfg(h.port, 'v2'));
    await applyAndDie(target, v2, 'afterWrite');
    expect(await readFile(target.configPath, 'utf8')).toBe(v2.config); // written...
    expect(await body(h.port)).toBe('v1'); // ...not running
    const r = await createApplier(target).apply(v2);
    expect(r.recovered).toMatchObject({ action: 'restored', interruptedRevision: 'web-2', revision: 'web-1' });
    expect(r.outcome).toBe('applied');
    expect(await body(h.port)).toBe('v2');
  });

  it('killed after a verified reload but before the manifest: recovery converges to the manifest\'s config, on disk and in HAProxy', async () => {
    const { h, target } = await fixture();
    const v1 = desired('web-1', cfg(h.port, 'v1'));
    expect((await createApplier(target).apply(v1)).outcome).toBe('applied');
    await applyAndDie(target, desired('web-2', cfg(h.port, 'v2')), 'afterReload');
    expect(await body(h.port)).toBe('v2'); // HAProxy runs it, but nothing recorded it
    const fresh = createApplier(target);
    const rec = await fresh.recover();
    expect(rec.action).toBe('restored');
    expect(await fresh.localHash()).toBe(v1.hash);
    expect(await fresh.applied()).toEqual({ revision: 'web-1', hash: v1.hash });
    expect(await body(h.port)).toBe('v1');
    expect((await fresh.recover()).action).toBe('none');
  });
});
