/**
 * The console end to end, in Debian's Chromium (playwright-core), against a real API server
 * (embedded store, rollout controller), two real hq-agents and two real HAProxy 2.6 processes.
 * A person signs in with a token and the keyboard, sees the fleet, breaks the config in the editor
 * and sees HAProxy's error at its line, fixes it, watches the rollout complete, compares two
 * revisions, rolls back, drains a server (and HAProxy's own `show stat` shows it drained), sees
 * traffic charts, and sees the page say "reconnecting" while the server is down and "live" after.
 * Another signs in as the first start's admin with its password (a cookie session), writes, signs
 * out, and is refused (then throttled) with a wrong one. The browser console stays free of errors
 * throughout (but the refused connections of the outage, and the refused sign-ins).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simpleConfig, startHAProxy, startHttpBackend, type HAProxyProcess, type HttpBackend } from '../agent/test/support/haproxy.ts';
import { request, startServer, type ServerProcess } from '../api-server/test/support/server.ts';
import { until as poll } from '../api-server/test/support/until.ts';
import { spawnAgent } from './support/agent.ts';
import { launchChromium, openPage, type WatchedPage } from './support/browser.ts';
import { buildConsole } from './support/console-build.ts';

const NS = '/apis/haproxyhq.io/v1alpha1/namespaces/default';
const NAMES = ['edge-a', 'edge-b'] as const;

let server: ServerProcess;
let serverPort = 0;
let consoleBuild: { dir: string; cleanup(): void };
let browser: Browser;
let w: WatchedPage;
let page: Page;
const haproxies: Record<string, HAProxyProcess> = {};
const frontPorts: Record<string, number> = {};
const agents: ChildProcess[] = [];
let apps: HttpBackend[] = [];
const stateDirs: string[] = [];
let logs = '';

const until = <T>(what: string, fn: () => Promise<T | undefined | false>, ms = 90_000) =>
  poll(what, fn, { ms, intervalMs: 250, context: () => `agent logs:\n${logs.slice(-3000)}\nserver:\n${server.output().slice(-2000)}\nbrowser errors: ${w?.errors.join('\n')}` });

/** The example-like config, templated per instance: its own front port and app servers. */
const configText = (rev: string, extra = '') => `global
    default-path config
    hard-stop-after 3s

defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 2s
    option idle-close-on-response

frontend fe
    bind 127.0.0.1:{{ values.port }}
    http-after-response set-header X-Rev ${rev}
    default_backend app

backend app
    balance roundrobin
    server s1 127.0.0.1:{{ values.s1 }}
    server s2 127.0.0.1:{{ values.s2 }}
${extra}`;

/** GET through an instance's HAProxy: status and the X-Rev header the config sets. */
function getRev(port: number): Promise<{ status: number; rev: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/', agent: false, headers: { connection: 'close' }, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, rev: res.headers['x-rev'] as string | undefined }));
    });
    req.on('error', reject);
    req.end();
  });
}

const api = async (method: string, path: string, body?: unknown, headers?: Record<string, string>) => (await request(server, method, path, body, headers)).body;
const config = () => api('GET', `${NS}/haproxyconfigs/web`);
const rolledOut = (rev: string) =>
  until(`web rolled out to ${rev} on both`, async () => {
    for (const name of NAMES) {
      const i = await api('GET', `${NS}/haproxyinstances/${name}`);
      if (i.status?.appliedRevision !== rev) return undefined;
    }
    return true;
  });

function startAgent(name: string, h: HAProxyProcess): ChildProcess {
  const stateDir = mkdtempSync(join(tmpdir(), 'hq-console-state-'));
  stateDirs.push(stateDir);
  return spawnAgent({ kubeconfig: server.kubeconfig, name, labels: 'suite=console', haproxy: h, stateDir, args: ['--stats-seconds', '2'], onOutput: (d) => (logs += `[${name}] ${d}`) });
}

const startApiServer = (dataDir?: string) =>
  startServer({
    ...(dataDir ? { dataDir } : {}),
    args: ['--console-dir', consoleBuild.dir, '--leader-lease-seconds', '2', ...(serverPort ? ['--listen', `127.0.0.1:${serverPort}`] : [])],
  });

beforeAll(async () => {
  consoleBuild = await buildConsole();
  server = await startApiServer();
  serverPort = Number(new URL(server.url).port);
  apps = [await startHttpBackend('one'), await startHttpBackend('two')];
  for (const name of NAMES) {
    const h = await startHAProxy({
      ports: 2,
      config: (p) => simpleConfig(p[0]!, 'boot'),
    });
    haproxies[name] = h;
    frontPorts[name] = h.ports[1]!;
    // The instance comes first, with its values; its agent then takes it over.
    const created = await request(server, 'POST', `${NS}/haproxyinstances`, {
      apiVersion: 'haproxyhq.io/v1alpha1',
      kind: 'HAProxyInstance',
      metadata: { name, labels: { suite: 'console' } },
      spec: { values: { port: String(h.ports[1]), s1: String(apps[0]!.port), s2: String(apps[1]!.port) } },
    });
    expect(created.status).toBe(201);
    agents.push(startAgent(name, h));
  }
  const made = await request(server, 'POST', `${NS}/haproxyconfigs`, {
    apiVersion: 'haproxyhq.io/v1alpha1',
    kind: 'HAProxyConfig',
    metadata: { name: 'web' },
    spec: {
      config: configText('v1'),
      template: true,
      instanceSelector: { matchLabels: { suite: 'console' } },
      strategy: { type: 'Rolling', canary: 1, maxUnavailable: 1, healthDeadlineSeconds: 30 },
    },
  });
  expect(made.status).toBe(201);
  await rolledOut('web-1');
  browser = await launchChromium();
  w = await openPage(browser);
  page = w.page;
}, 300_000);

afterAll(async () => {
  await browser?.close();
  for (const a of agents) a.kill('SIGKILL');
  for (const h of Object.values(haproxies)) await h.stop();
  for (const a of apps) await a.close();
  await server?.stop();
  server?.cleanup();
  consoleBuild?.cleanup();
  for (const d of stateDirs) rmSync(d, { recursive: true, force: true });
});

const T = { timeout: 60_000 };

/** With HQ_SCREENSHOTS=DIR, keep a full-page PNG of each step (to look at the console, not to assert). */
async function shot(name: string, p: Page = page): Promise<void> {
  const dir = process.env.HQ_SCREENSHOTS;
  if (dir) await p.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
}

describe('the console, in Chromium, against a real server and agents', () => {
  it('serves the app with a strict CSP, and reloads on a client route load the app too', async () => {
    const shell = await request(server, 'GET', '/configs/default/web', undefined, { authorization: '' });
    expect(shell.status).toBe(200);
    expect(shell.headers['content-type']).toMatch(/text\/html/);
    expect(shell.headers['content-security-policy']).toContain("script-src 'self'");
    // The API itself still wants a token.
    const api401 = await request(server, 'GET', `${NS}/haproxyinstances`, undefined, { authorization: '' });
    expect(api401.status).toBe(401);
  });

  it('signs in with a token, by keyboard, and shows the fleet live: both instances Ready, with revision and version', async () => {
    await page.goto(`${server.url}/`);
    await page.waitForURL(/\/signin\?next=/);
    // The password tab is chosen first; the arrow key moves to the token tab, Tab into its form.
    await page.keyboard.press('Tab');
    await expect.poll(() => page.evaluate('document.activeElement?.id')).toBe('signin-tab-password');
    await page.keyboard.press('ArrowRight');
    await expect.poll(() => page.evaluate('document.activeElement?.id')).toBe('signin-tab-token');
    await page.keyboard.press('Tab');
    await expect.poll(() => page.evaluate('document.activeElement?.id')).toBe('token');
    await page.keyboard.type(server.token);
    await page.keyboard.press('Enter');
    await page.waitForURL(`${server.url}/`);
    const table = page.getByTestId('fleet-table');
    for (const name of NAMES) {
      const row = table.locator(`tr[data-instance="${name}"]`);
      await row.locator('[data-condition="Ready"][data-status="True"]').waitFor(T);
      await expect.poll(() => row.innerText()).toMatch(/web-1/);
      await expect.poll(() => row.innerText()).toMatch(/2\.\d+/);
    }
    await expect.poll(() => page.getByTestId('fleet-summary').innerText()).toMatch(/2\s*Ready/);
    await page.getByTestId('connection-state').and(page.locator('[data-state="live"]')).waitFor(T);
    // A filter that matches nothing, then back.
    await shot('fleet');
    await page.getByLabel('Condition').selectOption('drifted');
    await expect.poll(() => table.locator('tbody tr').count()).toBe(0);
    await page.getByLabel('Condition').selectOption('all');
    await expect.poll(() => table.locator('tbody tr').count()).toBe(2);
  });

  it('shows HAProxy\'s error at its line for a broken config, then rolls out the fixed one', async () => {
    await page.getByRole('link', { name: 'Configs' }).click();
    await page.getByRole('link', { name: 'web', exact: true }).click();
    await page.waitForURL(/\/configs\/default\/web$/);
    const editor = page.getByTestId('config-editor');
    await editor.locator('.cm-content').waitFor(T);
    await page.locator('[data-testid="rollout-state"][data-state="Complete"]').waitFor(T);

    // Break it: a directive HAProxy does not know, appended to the backend section.
    await editor.locator('.cm-content').click();
    await page.keyboard.press('Control+End');
    await page.keyboard.insertText('    bogus-directive on\n');
    await page.getByTestId('unsaved').waitFor(T);
    await page.getByTestId('save-config').click();
    const saved = await until('web-2 recorded', async () => ((await config()).status?.latestRevision === 'web-2' ? await config() : undefined));
    const badLine = (saved.spec.config as string).split('\n').findIndex((l) => l.includes('bogus-directive')) + 1;
    expect(badLine).toBeGreaterThan(10);

    // The canary refuses it with HAProxy's own message and line; the editor marks that line.
    const agentErrors = page.getByTestId('agent-errors');
    await agentErrors.waitFor(T);
    await expect.poll(() => agentErrors.innerText(), T).toMatch(new RegExp(`line ${badLine}\\b[\\s\\S]*bogus-directive`));
    const marked = editor.locator('.cm-lintRange-error');
    await marked.first().waitFor(T);
    await expect.poll(() => marked.first().innerText()).toContain('bogus-directive');
    const lineOfMark = await marked.first().evaluate((el) => {
      const line = el.closest('.cm-line')!;
      return [...line.parentElement!.children].indexOf(line) + 1;
    });
    expect(lineOfMark).toBe(badLine);
    await page.locator('[data-testid="rollout-state"][data-state="Halted"]').waitFor(T);
    await shot('config-halted');
    // The other instance was never moved and both still serve the previous revision.
    for (const name of NAMES) expect(await getRev(frontPorts[name]!)).toEqual({ status: 200, rev: 'v1' });

    // Fix it (and change something visible), save, and watch the rollout complete.
    await editor.locator('.cm-content').click();
    await page.keyboard.press('Control+A');
    await page.keyboard.insertText(configText('v3'));
    await page.getByTestId('save-config').click();
    await until('web-3 recorded', async () => (await config()).status?.latestRevision === 'web-3' || undefined);
    await page.locator('[data-testid="rollout-state"][data-state="Complete"]').waitFor(T);
    await expect.poll(() => page.getByTestId('rollout-counts').innerText(), T).toMatch(/^2 of 2 ready/);
    await expect.poll(() => marked.count(), T).toBe(0);
    await rolledOut('web-3');
    for (const name of NAMES) expect(await getRev(frontPorts[name]!)).toEqual({ status: 200, rev: 'v3' });
  });

  it('diffs two revisions side by side and rolls back to one', async () => {
    const revisions = page.getByTestId('revisions');
    await revisions.locator('tr[data-revision="web-1"]').waitFor(T);
    await page.getByLabel('Compare from web-1').check();
    await page.getByLabel('Compare to web-3').check();
    const diff = page.getByTestId('revision-diff');
    await expect.poll(() => diff.innerText(), T).toMatch(/X-Rev v1[\s\S]*X-Rev v3/);
    expect(await diff.locator('.cm-changedLine, .cm-deletedChunk, .cm-insertedLine').count()).toBeGreaterThan(0);
    await shot('config-diff');

    await page.getByRole('button', { name: 'Roll back to revision 1' }).click();
    const dialog = page.getByRole('dialog', { name: 'Roll back' });
    await dialog.waitFor(T);
    await dialog.getByRole('button', { name: 'Roll back' }).click();
    await until('web-4 recorded', async () => (await config()).status?.latestRevision === 'web-4' || undefined);
    await rolledOut('web-4');
    for (const name of NAMES) expect(await getRev(frontPorts[name]!)).toEqual({ status: 200, rev: 'v1' });
    await page.locator('[data-testid="rollout-state"][data-state="Complete"]').waitFor(T);
  });

  it('drains a server from the instance page, after a confirmation, and HAProxy\'s show stat shows it drained', async () => {
    for (let k = 0; k < 10; k++) await getRev(frontPorts['edge-a']!);
    await page.goto(`${server.url}/instances/default/edge-a`);
    const row = page.locator('[data-testid="stats-servers"] tr[data-server="app/s1"]');
    await row.waitFor(T);
    await row.getByRole('button', { name: 'Drain app/s1' }).click();
    const dialog = page.getByRole('dialog', { name: 'Change a server' });
    await expect.poll(() => dialog.innerText()).toMatch(/Drain app\/s1 on edge-a/);
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await expect.poll(() => row.getByTestId('declared').innerText(), T).toBe('drain');
    const stat = await until('s1 DRAIN in show stat', async () => {
      const rows = await haproxies['edge-a']!.cli.showStat();
      return rows.find((r) => r.type === 'server' && r.proxy === 'app' && r.name === 's1' && r.status === 'DRAIN');
    });
    expect(stat.status).toBe('DRAIN');
    await expect.poll(() => row.innerText(), T).toMatch(/DRAIN/);
    // s2 was left alone.
    const s2 = (await haproxies['edge-a']!.cli.showStat()).find((r) => r.type === 'server' && r.proxy === 'app' && r.name === 's2');
    expect(s2?.status).toMatch(/^(UP|no check)$/);
  });

  it('charts the traffic the agents report, from the server\'s history', async () => {
    for (let k = 0; k < 20; k++) await getRev(frontPorts['edge-a']!);
    const traffic = page.getByTestId('traffic');
    await traffic.locator('canvas').first().waitFor(T);
    expect(await traffic.locator('figure').count()).toBeGreaterThanOrEqual(1);
    await shot('instance');
  });

  it('says reconnecting while the server is down and live again after, without a reload', async () => {
    await page.goto(`${server.url}/`);
    const state = page.getByTestId('connection-state');
    await state.and(page.locator('[data-state="live"]')).waitFor(T);
    const before = w.errors.length;
    const dataDir = server.dataDir;
    await server.stop();
    await state.and(page.locator('[data-state="reconnecting"], [data-state="stale"]')).waitFor(T);
    server = await startApiServer(dataDir);
    await state.and(page.locator('[data-state="live"]')).waitFor({ timeout: 90_000 });
    await page.getByTestId('fleet-table').locator('tr[data-instance="edge-a"]').waitFor(T);
    // The browser itself logs the cut streams and refused connections of the outage; nothing else may appear.
    const outage = w.errors.splice(before);
    expect(outage.filter((e) => !/ERR_CONNECTION_REFUSED|ERR_CONNECTION_RESET|ERR_EMPTY_RESPONSE|ERR_INCOMPLETE_CHUNKED_ENCODING/.test(e))).toEqual([]);
  });

  it('works in a narrow window: nothing wider than the screen but the tables, which scroll', async () => {
    const narrow = await openPage(browser, { width: 390, height: 800 });
    await narrow.page.goto(`${server.url}/signin`);
    await narrow.page.getByRole('tab', { name: 'With a token' }).click();
    await narrow.page.getByLabel('Bearer token').fill(server.token);
    await narrow.page.getByRole('button', { name: 'Sign in' }).click();
    await narrow.page.getByTestId('fleet-table').locator('tr[data-instance="edge-a"]').waitFor(T);
    const overflow = await narrow.page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
    expect(overflow).toBeLessThanOrEqual(0);
    await shot('fleet-narrow', narrow.page);
    expect(narrow.errors).toEqual([]);
    await narrow.context.close();
  });

  it('signs in with the admin\'s generated password (an HttpOnly cookie), writes, keeps the session over a reload, signs out; a wrong password shows the server\'s words, the 6th is told to wait', async () => {
    const password = readFileSync(join(server.dataDir, 'initial-admin-password'), 'utf8').trim();
    const p = await openPage(browser);
    await p.page.goto(`${server.url}/instances/default/edge-a`);
    await p.page.waitForURL(/\/signin\?next=/);
    expect(await p.page.getByRole('tab', { name: 'With a password' }).getAttribute('aria-selected')).toBe('true');
    await p.page.getByLabel('User name').fill('admin');
    await p.page.getByLabel('Password', { exact: true }).fill(password);
    await p.page.getByRole('button', { name: 'Sign in' }).click();
    await p.page.waitForURL(`${server.url}/instances/default/edge-a`);
    expect(await p.page.getByTestId('signed-in-as').innerText()).toBe('admin');
    // The session is a cookie scripts cannot read.
    expect(await p.context.cookies()).toEqual([expect.objectContaining({ name: '__Host-hq_session', httpOnly: true, secure: true, sameSite: 'Strict', path: '/' })]);
    expect(await p.page.evaluate('document.cookie')).toBe('');
    await shot('signed-in-with-password', p.page);

    // A write from the console (with its CSRF header): s1, drained above, made ready again.
    const row = p.page.locator('[data-testid="stats-servers"] tr[data-server="app/s1"]');
    await row.getByRole('button', { name: 'Ready app/s1' }).click();
    await p.page.getByRole('dialog', { name: 'Change a server' }).getByRole('button', { name: 'Confirm' }).click();
    await expect.poll(() => row.getByTestId('declared').innerText(), T).toBe('ready');
    const servers = (await api('GET', `${NS}/haproxyinstances/edge-a`)).spec.servers as { backend: string; server: string; state?: string }[];
    expect(servers.find((s) => s.backend === 'app' && s.server === 's1')?.state).toBe('ready');

    // A reload (or a new tab) finds the session again.
    await p.page.goto(`${server.url}/`);
    await p.page.getByTestId('fleet-table').locator('tr[data-instance="edge-a"]').waitFor(T);
    expect(await p.page.getByTestId('signed-in-as').innerText()).toBe('admin');

    await p.page.getByRole('button', { name: 'Sign out' }).click();
    await p.page.waitForURL(/\/signin/);
    expect(await p.context.cookies()).toEqual([]);

    const alert = p.page.getByRole('alert');
    const tryWrong = async () => {
      await p.page.getByLabel('User name').fill('admin');
      await p.page.getByLabel('Password', { exact: true }).fill('not the password');
      await p.page.getByRole('button', { name: 'Sign in' }).click();
      await alert.waitFor(T);
      const text = await alert.innerText();
      // The next attempt starts without the old message.
      return text;
    };
    expect(await tryWrong()).toMatch(/Could not sign in[\s\S]*Unauthorized \(401\)[\s\S]*the user name or password is not correct/);
    await shot('signin-wrong-password', p.page);
    for (let i = 2; i <= 5; i++) {
      await p.page.getByRole('tab', { name: 'With a token' }).click();
      await p.page.getByRole('tab', { name: 'With a password' }).click();
      expect(await tryWrong()).toMatch(/the user name or password is not correct/);
    }
    await p.page.getByRole('tab', { name: 'With a token' }).click();
    await p.page.getByRole('tab', { name: 'With a password' }).click();
    expect(await tryWrong()).toMatch(/TooManyRequests \(429\)[\s\S]*too many failed sign-ins for this user name or from this address: try again in \d+ seconds/);
    await shot('signin-locked', p.page);
    expect(p.page.url()).toMatch(/\/signin/);
    // Only the refused sign-ins' 401 and 429 answers, as the browser reports them.
    expect(p.errors.filter((e) => !/status of (401|429)/.test(e))).toEqual([]);
    await p.context.close();
  });

  it('left no errors in the browser console', () => {
    expect(w.errors).toEqual([]);
  });
});
