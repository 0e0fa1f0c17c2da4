/**
 * The HAProxy driver (master CLI + haproxy -c) against a real HAProxy in master-worker mode.
 */
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../api-server/test/support/ports.ts';
import { checkConfig, haproxyVersion } from '../src/haproxy/check.ts';
import { createMasterCli, currentWorker, MasterCliError } from '../src/haproxy/master-cli.ts';
import { haproxyBin, httpGet, simpleConfig, startHAProxy, type HAProxyProcess } from './support/haproxy.ts';

const cfg = simpleConfig;

describe('master CLI against real HAProxy', () => {
  let h: HAProxyProcess;
  beforeAll(async () => {
    h = await startHAProxy({ config: ([port]) => cfg(port ?? 0, 'v1') });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('reads show proc, show info and show stat of the running HAProxy', async () => {
    const proc = await h.cli.showProc();
    expect(proc.master.pid).toBe(h.pid);
    expect(proc.master.failedReloads).toBe(0);
    const worker = currentWorker(proc);
    expect(worker).toBeDefined();
    const info = await h.cli.showInfo();
    expect(Number(info['Pid'])).toBe(worker?.pid);
    expect(info['Version']).toBe(proc.master.version);
    const stat = await h.cli.showStat();
    expect(stat).toContainEqual(expect.objectContaining({ proxy: 'fe', name: 'FRONTEND', type: 'frontend', status: 'OPEN' }));
  });

  it('a real reload bumps the master reload counter and changes the worker PID, and requests get the new config', async () => {
    const before = await h.cli.showProc();
    await writeFile(h.configPath, cfg(h.port, 'v2'));
    const r = await h.cli.reload(5_000);
    expect(r.reason).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(r.after?.master.reloads).toBe(before.master.reloads + 1);
    expect(currentWorker(r.after!)?.pid).not.toBe(currentWorker(before)?.pid);
    expect(r.durationMs).toBeLessThan(2_000);
    expect((await httpGet(h.port)).body).toBe('v2');
  });

  it('a reload whose config does not load is reported with the failed-reload counter, and the old worker keeps serving', async () => {
    const before = await h.cli.showProc();
    await writeFile(h.configPath, cfg(h.port, 'v3', '    bogus_keyword on\n'));
    const r = await h.cli.reload(5_000);
    expect(r.ok).toBe(false);
    expect(r.failedAt).toBe('reload');
    expect(r.reason).toMatch(new RegExp(`failed-reload counter went from ${before.master.failedReloads} to ${(before.master.failedReloads ?? 0) + 1}`));
    expect(currentWorker(r.after!)?.pid).toBe(currentWorker(before)?.pid);
    expect((await httpGet(h.port)).body).toBe('v2');
    // Put a good config back: the failed counter resets to 0 on the next successful reload.
    await writeFile(h.configPath, cfg(h.port, 'v2'));
    const ok = await h.cli.reload(5_000);
    expect(ok.ok).toBe(true);
    expect(ok.after?.master.failedReloads).toBe(0);
  });
});

describe('master CLI failures', () => {
  it('a missing socket fails at once with the path and the -S hint', async () => {
    const cli = createMasterCli('/run/hq-test-no-such/master.sock');
    const t0 = performance.now();
    const err = await cli.showProc().catch((e: unknown) => e);
    expect(performance.now() - t0).toBeLessThan(200);
    expect(err).toBeInstanceOf(MasterCliError);
    expect((err as Error).message).toContain('/run/hq-test-no-such/master.sock does not exist');
    expect((err as Error).message).toContain('-W -S');
  });

  it('after HAProxy is killed, show proc fails fast with "connection refused" and reload is not sent', async () => {
    const h = await startHAProxy({ config: ([port]) => cfg(port ?? 0, 'x') });
    try {
      await h.kill();
      const t0 = performance.now();
      const err = await h.cli.showProc().catch((e: unknown) => e);
      expect(performance.now() - t0).toBeLessThan(200);
      expect((err as MasterCliError).code).toBe('ECONNREFUSED');
      expect((err as Error).message).toContain(h.masterSocket);
      await expect(h.cli.reload(1_000)).rejects.toThrow(/connection refused/);
    } finally {
      await h.stop();
    }
  });

  it('a reload that cannot bind a port taken by another process fails on the counter after the bind retries (~2 s on 2.6)', async () => {
    const taken = await freePort();
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(taken, '127.0.0.1', r));
    const h = await startHAProxy({ config: ([port]) => cfg(port ?? 0, 'old') });
    try {
      const before = await h.cli.showProc();
      await writeFile(
        h.configPath,
        cfg(h.port, 'new', `frontend fe2\n    bind 127.0.0.1:${taken}\n    http-request return status 200 content-type text/plain string "x"\n`),
      );
      const check = await checkConfig({ haproxyBin: h.bin, configPath: h.configPath, timeoutMs: 10_000 });
      expect(check.ok).toBe(true); // -c does not bind: only the reload finds out
      const r = await h.cli.reload(10_000);
      expect(r.ok).toBe(false);
      expect(r.reason).toMatch(/failed-reload counter went from 0 to 1/);
      expect(currentWorker(r.after!)?.pid).toBe(currentWorker(before)?.pid);
      // The master retried the bind for ~2 s (200 x 10 ms) before giving up.
      expect(r.durationMs).toBeGreaterThan(1_500);
      expect(h.output()).toMatch(/cannot bind socket \(Address already in use\)/);
      expect((await httpGet(h.port)).body).toBe('old');
    } finally {
      await h.stop();
      await new Promise<void>((r) => blocker.close(() => r()));
    }
  });
});

describe('haproxy -c', () => {
  it('reports a syntax error with HAProxy\'s message, file and line', async () => {
    const h = await startHAProxy({ config: ([port]) => cfg(port ?? 0, 'x') });
    try {
      const bad = join(h.dir, 'bad.cfg');
      await writeFile(bad, cfg(h.port, 'x', '    bogus_keyword on\n'));
      const r = await checkConfig({ haproxyBin: h.bin, configPath: 'bad.cfg', cwd: h.dir, timeoutMs: 10_000 });
      expect(r.ok).toBe(false);
      expect(r.error?.file).toBe('bad.cfg');
      expect(r.error?.line).toBe(14);
      expect(r.error?.message).toMatch(/^config : parsing \[bad\.cfg:14\] : unknown keyword 'bogus_keyword' in 'frontend' section/);
      expect(r.error?.message).not.toMatch(/\[ALERT\]|\(\d+\) :/);
      const good = await checkConfig({ haproxyBin: h.bin, configPath: h.configPath, timeoutMs: 10_000 });
      expect(good).toMatchObject({ ok: true, warnings: [] });
    } finally {
      await h.stop();
    }
  });

  it('names a missing binary as such instead of blaming the config', async () => {
    await expect(checkConfig({ haproxyBin: '/nonexistent/haproxy', configPath: 'x.cfg', timeoutMs: 1_000 })).rejects.toThrow(
      /haproxy binary not found: \/nonexistent\/haproxy/,
    );
  });

  it('reads the version of the installed haproxy', async () => {
    expect(await haproxyVersion(await haproxyBin())).toMatch(/^\d+\.\d+/);
  });
});
