/**
 * Console benchmark (`npm run bench:console`; `npm run bench:console -- --help` for options).
 *
 * Is the fleet overview smooth with 1,000 instances (issue 5)? For each fleet size N it builds the
 * console (Vite, as the e2e tests do), starts the real API server serving that build, and N
 * simulated agents (scripts/lib/fleet-sim.ts, in this process) that register, watch, apply and
 * report as hq-agent does on the wire. Debian's Chromium (playwright-core; never a downloaded
 * browser) signs in and then, per trial:
 *
 *   load      navigates to the fleet page and times, in the page, navigation start → the first
 *             frame in which all N rows are in the table and the summary says N; then the JS heap
 *             (after a forced GC) and DOM nodes, and the frames and long tasks of an idle window
 *             (the agents' Lease renewals keep arriving, the ages keep ticking);
 *   rollout   PUTs a new generation of the HAProxyConfig that selects all N (the server's rollout
 *             controller moves every instance; every agent applies and writes its status) and
 *             measures, in the page, the gap between consecutive requestAnimationFrame callbacks,
 *             long tasks (PerformanceObserver 'longtask', > 50 ms), the main thread's busy time
 *             (CDP Performance.getMetrics), the CPU time of each of its tasks (a trace of the
 *             renderer's top-level tasks: on a shared machine a task is also long while the
 *             renderer waits for a core), and the time until the page shows all N on the new
 *             revision; a separate watch from this process counts the events the server delivered
 *             on the page's two streams (instances and Leases).
 *
 * The floor, in the same run and the same browser: the same measurements on a static page served
 * by the same server with the console's stylesheet, the same frame and summary around a table of N
 * rows in the console's markup, which lists and watches the same two collections, parses every
 * event and keeps only the summary's "Running" line current. What the console costs is the
 * difference.
 *
 * Results go to stdout and to docs/benchmarks.md between `<!-- bench:console:start -->` and
 * `<!-- bench:console:end -->`; the rest of that file is kept as it is.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { Browser, CDPSession, Page } from 'playwright-core';
import { DOC, UsageError, machineFacts, type Machine as BaseMachine, quantile, runMain, textTable, writeDocSection, intOption, intListOption } from './lib/bench.ts';
import { BenchApi } from './lib/api-client.ts';
import { clock, startFleet, type Fleet } from './lib/fleet-sim.ts';
import { startServer, type ServerProcess } from '../api-server/test/support/server.ts';
import { launchChromium, openPage, type WatchedPage } from '../e2e/support/browser.ts';
import { buildConsole } from '../e2e/support/console-build.ts';

const API = '/apis/haproxyhq.io/v1alpha1';
const NS = `${API}/namespaces/default`;
const CONFIG = 'fleet';
const FLEET_LABELS = { fleet: 'bench', role: 'edge' };
const FLOOR_PAGE = '/bench-floor.html';
const HAPROXY_VERSION = '2.6.12-1+deb12u3';

/** Smooth: at most 1 % of frame gaps over 50 ms (two frames missed), and no task long enough to be felt as a stall (RAIL's 100 ms). */
const SMOOTH = { p99FrameMs: 50, longestTaskMs: 100 };

const USAGE = `Usage: npm run bench:console -- [options]

  --sizes LIST            fleet sizes (default 1000)
  --trials N              page loads and rollouts per page and size (default 3)
  --idle-seconds N        idle window measured after each load (default 5)
  --apply-ms N            simulated apply time per agent, ±50 % (default 50)
  --heartbeat-seconds N   the agents' Lease renewal interval (default 10, as hq-agent)
  --stats-servers N       servers in each status's show stat summary (default 10)
  --history-revisions N   the server's --history-revisions (default 100000)
  --timeout-seconds N     longest a rollout may take to show in the page (default 120)
  --profile DIR           record a Chrome performance trace (.trace.json) and a CPU profile (.cpuprofile)
                          of the console page during each rollout, in DIR
  --console-dir DIR       serve this build of the console instead of building it (to compare two)
  --no-doc                print only; leave docs/benchmarks.md alone
`;

interface Opts {
  sizes: number[];
  trials: number;
  idleMs: number;
  applyMs: number;
  heartbeatSeconds: number;
  statsServers: number;
  history: number;
  timeoutMs: number;
  profile?: string;
  consoleDir?: string;
}

type Kind = 'console' | 'floor';

// ---------------------------------------------------------------------------------------------
// What runs in the page

/** What the injected script keeps in `window.__bench`; read back with page.evaluate. */
interface PageState {
  loadedAt: number;
  settledAt: number;
  now: number;
}

interface FrameStats {
  /** ms between consecutive animation frames in the window. */
  gaps: number[];
  /** Durations of the long tasks (> 50 ms) that overlap the window. */
  longTasks: number[];
}

/**
 * Injected before any of the page's scripts (every navigation; plain JS, it runs in the page): a
 * requestAnimationFrame loop that records when each frame's callbacks ran and checks, once per
 * frame, whether all N rows are shown and, once a target revision is set, whether the summary's
 * "Running" line says all N run it; and a long-task observer. The checks are a selector count and
 * a textContent: cheap next to a frame. `__benchWindow(from, to)` returns the frame gaps and long
 * tasks of a window of page time; a frame still pending at `to` (a stall in progress) counts as a
 * gap up to `to`.
 */
const instrument = (n: number) => `(() => {
  const b = window.__bench = { n: ${n}, frames: [], longTasks: [], loadedAt: NaN, target: '', settledAt: NaN };
  const loop = () => {
    const t = performance.now();
    b.frames.push(t);
    if (Number.isNaN(b.loadedAt)) {
      const rows = document.querySelectorAll('[data-testid=fleet-table] tbody tr').length;
      const total = document.querySelector('[data-testid=fleet-summary] .tile-value')?.textContent;
      if (rows === b.n && total === String(b.n)) b.loadedAt = t;
    }
    if (b.target && Number.isNaN(b.settledAt)) {
      if (document.querySelector('.revisions-line')?.textContent?.trim() === 'Running: ' + b.target + ' × ' + b.n) b.settledAt = t;
    }
    requestAnimationFrame(loop);
  };
  requestAnimationFrame(loop);
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) b.longTasks.push([e.startTime, e.duration]);
  }).observe({ type: 'longtask', buffered: true });
  window.__benchState = () => ({ loadedAt: b.loadedAt, settledAt: b.settledAt, now: performance.now() });
  window.__benchWindow = (from, to) => {
    const gaps = [];
    for (let i = 1; i < b.frames.length; i++) if (b.frames[i] > from && b.frames[i] <= to) gaps.push(b.frames[i] - b.frames[i - 1]);
    const last = b.frames[b.frames.length - 1];
    if (last < to) gaps.push(to - last);
    return { gaps, longTasks: b.longTasks.filter(([s, d]) => s + d > from && s < to).map(([, d]) => d) };
  };
})();`;

const pageState = async (page: Page) => (await page.evaluate('window.__benchState?.()')) as PageState | undefined;
const frameWindow = async (page: Page, from: number, to: number) => (await page.evaluate(`window.__benchWindow(${from}, ${to})`)) as FrameStats;

// ---------------------------------------------------------------------------------------------
// The floor page: static markup like the console's, and a script that only parses the streams.

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');

function floorHtml(n: number, cssHref: string | undefined): string {
  const badge = (type: string, status: string, reason: string) =>
    `<span class="badge badge-good" title="${type}=${status} (${reason})" data-condition="${type}" data-status="${status}"><span class="badge-dot" aria-hidden="true"></span>${status}</span>`;
  const at = new Date().toISOString();
  const rows: string[] = [];
  for (let i = 0; i < n; i++) {
    const name = `sim-${String(i).padStart(5, '0')}`;
    rows.push(
      `<tr data-instance="${name}"><th scope="row"><a href="/instances/default/${name}">${name}</a></th><td>default</td>` +
        `<td>${badge('Ready', 'True', 'Applied')}</td><td>${badge('AgentConnected', 'True', 'Heartbeat')}</td>` +
        `<td>${badge('HAProxyRunning', 'True', 'Running')}</td><td>${badge('Drifted', 'False', 'InSync')}</td>` +
        `<td><code>${CONFIG}-1</code></td><td>${HAPROXY_VERSION}</td><td><time datetime="${at}" title="${esc(at)}">3s</time></td></tr>`,
    );
  }
  const tile = (v: number | string, label: string, tone = '') => `<button type="button" class="tile ${tone}" aria-pressed="false"><span class="tile-value">${v}</span><span class="tile-label">${label}</span></button>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8" /><meta name="viewport" content="width=device-width, initial-scale=1" /><meta name="color-scheme" content="light dark" />
<title>HAProxyHQ benchmark floor</title><link rel="icon" href="/favicon.svg" type="image/svg+xml" />${cssHref ? `<link rel="stylesheet" href="${cssHref}" />` : ''}</head>
<body><div id="root"><header class="topbar"><a href="/" class="brand">HAProxyHQ</a><nav aria-label="Main"><a href="/" class="active">Fleet</a><a href="/configs">Configs</a></nav><button type="button" class="link">Sign out</button></header>
<main id="main"><div class="page"><div class="page-head"><h1>Fleet</h1></div>
<section class="summary" aria-label="Fleet health" data-testid="fleet-summary">${tile(n, 'Instances')}${tile(n, 'Ready', 'tile-good')}${tile(0, 'Not ready')}${tile(0, 'Agent disconnected')}${tile(0, 'HAProxy down')}${tile(0, 'Apply failed')}${tile(0, 'Drifted')}</section>
<p class="muted revisions-line">Running: <code>${CONFIG}-1</code> × ${n}</p>
<p class="muted">Showing ${n} of ${n} instances.</p>
<div class="table-wrap"><table class="fleet" data-testid="fleet-table"><thead><tr><th scope="col">Name</th><th scope="col">Namespace</th><th scope="col">Ready</th><th scope="col">Agent</th><th scope="col">HAProxy</th><th scope="col">Drifted</th><th scope="col">Revision</th><th scope="col">Version</th><th scope="col">Heartbeat</th></tr></thead>
<tbody>${rows.join('\n')}</tbody></table></div></div></main></div>
<script src="/bench-floor.js"></script></body></html>
`;
}

/** The floor's script (the server's CSP allows no inline script): list + watch both collections, parse, count revisions. */
const FLOOR_JS = `'use strict';
(() => {
  const token = sessionStorage.getItem('haproxyhq.token');
  const headers = { authorization: 'Bearer ' + token };
  const applied = new Map();
  const line = document.querySelector('.revisions-line');
  let dirty = false;
  const show = () => {
    if (!dirty) return;
    dirty = false;
    const counts = new Map();
    for (const r of applied.values()) counts.set(r, (counts.get(r) || 0) + 1);
    const parts = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([r, c]) => r + ' × ' + c);
    line.textContent = 'Running: ' + parts.join(', ');
  };
  const instance = (o) => {
    const r = (o.status && o.status.appliedRevision) || '(none)';
    if (applied.get(o.metadata.name) !== r) { applied.set(o.metadata.name, r); dirty = true; }
  };
  const watch = async (path, onObject) => {
    const list = await (await fetch(path, { headers })).json();
    for (const o of list.items) onObject(o);
    show();
    let rv = list.metadata.resourceVersion;
    for (;;) {
      const res = await fetch(path + '?watch=true&allowWatchBookmarks=true&timeoutSeconds=240&resourceVersion=' + rv, { headers, cache: 'no-store' });
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let rest = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const lines = (rest + value).split('\\n');
        rest = lines.pop();
        for (const l of lines) {
          if (!l) continue;
          const ev = JSON.parse(l);
          if (ev.object && ev.object.metadata && ev.object.metadata.resourceVersion) rv = ev.object.metadata.resourceVersion;
          if (ev.type === 'ADDED' || ev.type === 'MODIFIED') onObject(ev.object);
        }
        show();
      }
    }
  };
  watch('${API}/haproxyinstances', instance);
  watch('${API}/leases', () => {});
})();
`;

function writeFloor(dir: string, n: number): void {
  const css = /href="(\/assets\/[^"]+\.css)"/.exec(readFileSync(join(dir, 'index.html'), 'utf8'))?.[1];
  writeFileSync(join(dir, FLOOR_PAGE.slice(1)), floorHtml(n, css));
  writeFileSync(join(dir, 'bench-floor.js'), FLOOR_JS);
}

// ---------------------------------------------------------------------------------------------
// This process's own watch: how many events the server delivered on the page's streams.

interface Counter {
  times: number[];
  stop(): void;
}

async function countEvents(server: ServerProcess, api: BenchApi, paths: string[]): Promise<Counter> {
  const times: number[] = [];
  const reqs = await Promise.all(
    paths.map(async (path) => {
      const rv = (await api.call('GET', `${path}?limit=1`)).metadata.resourceVersion;
      return new Promise<ReturnType<typeof httpsRequest>>((resolve, reject) => {
        const req = httpsRequest(`${server.url}${path}?watch=true&resourceVersion=${rv}`, { ca: server.ca, headers: { authorization: `Bearer ${server.token}` } }, (res) => {
          if (res.statusCode !== 200) reject(new Error(`watch ${path} answered ${res.statusCode}`));
          res.on('data', (chunk: Buffer) => {
            const t = clock();
            for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) times.push(t);
          });
          res.on('error', () => undefined);
          resolve(req);
        });
        req.on('error', reject);
        req.end();
      });
    }),
  );
  return { times, stop: () => reqs.forEach((r) => r.destroy()) };
}

// ---------------------------------------------------------------------------------------------
// Measurements

interface Metrics {
  heapMiB: number;
  nodes: number;
  /** Cumulative main-thread seconds: all tasks, script, layout, style recalculation. */
  task: number;
  script: number;
  layout: number;
  style: number;
}

async function metrics(cdp: CDPSession, gc: boolean): Promise<Metrics> {
  if (gc) await cdp.send('HeapProfiler.collectGarbage');
  const { metrics: list } = await cdp.send('Performance.getMetrics');
  const m = (name: string) => list.find((x) => x.name === name)?.value ?? NaN;
  return { heapMiB: m('JSHeapUsedSize') / 1024 ** 2, nodes: m('Nodes'), task: m('TaskDuration'), script: m('ScriptDuration'), layout: m('LayoutDuration'), style: m('RecalcStyleDuration') };
}

interface Trial {
  kind: Kind;
  loadMs: number;
  loaded: Metrics;
  idle: FrameStats;
  /** ms from the PUT to the last agent's status write. */
  agentsMs: number;
  /** ms from the PUT to the frame that showed all N on the new revision. */
  shownMs: number;
  rollout: FrameStats;
  /** Main-thread CPU time (ms) of each task in the rollout window that used more than 50 ms of it. */
  cpuLongTasks: number[];
  windowMs: number;
  /** Main-thread time during the rollout window, ms. */
  busy: { task: number; script: number; layout: number; style: number };
  after: Metrics;
  /** Events the server delivered on the two streams from the PUT to the end of the window, and the busiest second. */
  events: number;
  peakEventsPerSecond: number;
}

interface SizeResult {
  n: number;
  registerSeconds: number;
  trials: Trial[];
  failure?: string;
  pageErrors: string[];
}

async function waitInPage(page: Page, what: string, timeoutMs: number, done: (s: PageState) => boolean): Promise<PageState> {
  const deadline = clock() + timeoutMs;
  for (;;) {
    const s = await pageState(page).catch(() => undefined);
    if (s && done(s)) return s;
    if (clock() > deadline) throw new Error(`the page did not show ${what} within ${timeoutMs / 1000} s`);
    await delay(100);
  }
}

/** What --profile records besides the CPU profile: the main thread's tasks, frames, style, layout and paint. */
const TRACE_CATEGORIES = ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'disabled-by-default-devtools.timeline.frame', 'blink.user_timing', 'v8.execute'];

/** The user-timing mark the page sets when a rollout starts: where its window begins in the trace. */
const ROLLOUT_MARK = 'hq-bench-rollout';

interface TraceEvent {
  name: string;
  ph: string;
  pid: number;
  tid: number;
  ts: number;
  dur?: number;
  tdur?: number;
  args?: { name?: string };
}

/**
 * The renderer main thread's top-level tasks in the rollout window (from the page's mark for
 * `windowMs`) that used more than 50 ms of CPU (the trace's thread time), as their CPU ms.
 */
function mainThreadTasks(trace: Buffer, windowMs: number): number[] {
  const events = (JSON.parse(trace.toString('utf8')) as { traceEvents: TraceEvent[] }).traceEvents;
  const mark = events.find((e) => e.name === ROLLOUT_MARK);
  if (!mark) throw new Error('the rollout mark is not in the trace');
  const end = mark.ts + windowMs * 1000;
  return events
    .filter((e) => e.pid === mark.pid && e.tid === mark.tid && e.name === 'ThreadControllerImpl::RunTask' && e.ph === 'X')
    .filter((e) => e.ts + (e.dur ?? 0) > mark.ts && e.ts < end && (e.tdur ?? 0) > 50_000)
    .map((e) => e.tdur! / 1000);
}

/** haproxy.cfg of the fleet's config, generation-specific. */
const configText = (seq: number) =>
  ['global', '    maxconn 20000', '', 'defaults', '    mode http', '    timeout connect 2s', '    timeout client 30s', '    timeout server 30s', '',
    'frontend fe', '    bind :80', `    http-response set-header X-Config-Seq ${seq}`, '    default_backend be', '', 'backend be',
    ...Array.from({ length: 4 }, (_, s) => `    server s${s} 10.0.0.${s + 10}:8080 check`), ''].join('\n');

async function runTrial(kind: Kind, w: WatchedPage, cdp: CDPSession, server: ServerProcess, api: BenchApi, fleet: Fleet, n: number, seq: number, trial: number, o: Opts): Promise<Trial> {
  const { page } = w;
  await page.goto(`${server.url}${kind === 'console' ? '/' : FLOOR_PAGE}`, { waitUntil: 'commit' });
  const loadedState = await waitInPage(page, `all ${n} rows`, 120_000, (s) => !Number.isNaN(s.loadedAt));
  await delay(1000); // let the first renders' garbage and timers settle before the heap is read
  const loaded = await metrics(cdp, true);
  const idleFrom = (await pageState(page))!.now;
  await delay(o.idleMs);
  const idle = await frameWindow(page, idleFrom, idleFrom + o.idleMs);

  // The rollout: the revision this PUT will make is the config's next generation.
  const current = await api.call('GET', `${NS}/haproxyconfigs/${CONFIG}`);
  const revision = `${CONFIG}-${(current.metadata.generation ?? 0) + 1}`;
  const counter = await countEvents(server, api, [`${API}/haproxyinstances`, `${API}/leases`]);
  const m0 = await metrics(cdp, false);
  // Every rollout is traced (top-level tasks only, cheap) for the main thread's CPU time per task:
  // on a shared machine a task can be long because the renderer waited for a core, not because
  // the page worked. --profile records the console's full timeline and a CPU profile besides.
  const profiling = o.profile !== undefined && kind === 'console';
  const browser = page.context().browser()!;
  await browser.startTracing(page, { categories: profiling ? [...TRACE_CATEGORIES, 'toplevel'] : ['toplevel', 'blink.user_timing'] });
  if (profiling) {
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.start');
  }
  const t0Page = (await page.evaluate(`(window.__bench.target = ${JSON.stringify(revision)}, performance.mark(${JSON.stringify(ROLLOUT_MARK)}), performance.now())`)) as number;
  const t0 = clock();
  const updated = await api.call('PUT', `${NS}/haproxyconfigs/${CONFIG}`, { ...current, spec: { ...current.spec, config: configText(seq) } });
  if (`${CONFIG}-${updated.metadata.generation}` !== revision) throw new Error(`expected the PUT to make ${revision}, it made generation ${updated.metadata.generation}`);
  await fleet.done(revision, n, o.timeoutMs);
  const agentsMs = clock() - t0;
  const settled = await waitInPage(page, `all ${n} on ${revision}`, o.timeoutMs, (s) => !Number.isNaN(s.settledAt));
  // A second after it showed: work the last events left behind (and one tick of the ages) counts too.
  const until = settled.settledAt + 1000;
  await delay(Math.max(0, until - settled.now) + 50);
  const rollout = await frameWindow(page, t0Page, until);
  const m1 = await metrics(cdp, false);
  if (profiling) {
    const { profile } = await cdp.send('Profiler.stop');
    mkdirSync(o.profile!, { recursive: true });
    writeFileSync(join(o.profile!, `console-${n}-${trial}.cpuprofile`), JSON.stringify(profile));
  }
  const trace = await browser.stopTracing();
  if (profiling) writeFileSync(join(o.profile!, `console-${n}-${trial}.trace.json`), trace);
  const cpuTasks = mainThreadTasks(trace, until - t0Page);
  const after = await metrics(cdp, true);
  counter.stop();
  const windowEnd = t0 + (until - t0Page);
  const times = counter.times.filter((t) => t >= t0 && t <= windowEnd);
  let peak = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[i]! - times[j]! > 1000) j++;
    peak = Math.max(peak, i - j + 1);
  }
  return {
    kind,
    loadMs: loadedState.loadedAt,
    loaded,
    idle,
    agentsMs,
    shownMs: settled.settledAt - t0Page,
    rollout,
    cpuLongTasks: cpuTasks,
    windowMs: until - t0Page,
    busy: { task: (m1.task - m0.task) * 1000, script: (m1.script - m0.script) * 1000, layout: (m1.layout - m0.layout) * 1000, style: (m1.style - m0.style) * 1000 },
    after,
    events: times.length,
    peakEventsPerSecond: peak,
  };
}

async function benchSize(n: number, buildDir: string, browser: Browser, o: Opts, log: (s: string) => void): Promise<SizeResult> {
  writeFloor(buildDir, n);
  const server = await startServer({ args: ['--console-dir', buildDir, '--history-revisions', String(o.history)] });
  const api = new BenchApi(server, 8);
  const result: SizeResult = { n, registerSeconds: NaN, trials: [], pageErrors: [] };
  let fleet: Fleet | undefined;
  let w: WatchedPage | undefined;
  try {
    await api.call('POST', `${NS}/haproxyconfigs`, {
      apiVersion: 'haproxyhq.io/v1alpha1',
      kind: 'HAProxyConfig',
      metadata: { name: CONFIG },
      spec: { config: configText(1), instanceSelector: { matchLabels: { fleet: 'bench' } }, strategy: { type: 'AllAtOnce' } },
    });
    log(`N=${n}: starting ${n} simulated agents`);
    const t0 = clock();
    fleet = startFleet({
      server: server.url, token: server.token, ca: server.ca, count: n, labels: FLEET_LABELS,
      applyMs: o.applyMs, coalesceMs: 0, heartbeatSeconds: o.heartbeatSeconds, statsServers: o.statsServers,
    });
    await fleet.ready(Math.max(60_000, n * 120));
    await fleet.done(`${CONFIG}-1`, n, Math.max(60_000, n * 20));
    result.registerSeconds = (clock() - t0) / 1000;
    log(`N=${n}: all registered and on ${CONFIG}-1 in ${result.registerSeconds.toFixed(1)} s`);

    w = await openPage(browser);
    const cdp = await w.context.newCDPSession(w.page);
    await cdp.send('Performance.enable');
    await w.page.addInitScript(instrument(n));
    // Sign in as a person does; the token stays in this tab's sessionStorage for every load below.
    await w.page.goto(`${server.url}/signin`);
    await w.page.getByRole('button', { name: 'Sign in' }).first().waitFor();
    // Where the page offers a password too, the token is behind its own tab.
    const tokenTab = w.page.getByRole('tab', { name: 'With a token' });
    if ((await tokenTab.count()) > 0) await tokenTab.click();
    await w.page.getByLabel('Bearer token').fill(server.token);
    await w.page.getByRole('button', { name: 'Sign in' }).click();
    await w.page.waitForURL(`${server.url}/`);

    let seq = 1;
    for (let t = 1; t <= o.trials; t++) {
      for (const kind of ['console', 'floor'] as const) {
        const trial = await runTrial(kind, w, cdp, server, api, fleet, n, ++seq, t, o);
        result.trials.push(trial);
        const g = sorted(trial.rollout.gaps);
        log(
          `N=${n} ${kind} ${t}/${o.trials}: load ${fmtMs(trial.loadMs)}, heap ${trial.loaded.heapMiB.toFixed(1)} MiB; rollout shown after ${fmtMs(trial.shownMs)} ` +
            `(agents ${fmtMs(trial.agentsMs)}), frame gap p50 ${fmtMs(quantile(g, 0.5))} p99 ${fmtMs(quantile(g, 0.99))} max ${fmtMs(g[g.length - 1] ?? NaN)}, ` +
            `long tasks ${trial.rollout.longTasks.length} (${fmtMs(sum(trial.rollout.longTasks))}; ${trial.cpuLongTasks.length} over 50 ms of CPU), busy ${fmtMs(trial.busy.task)} of ${fmtMs(trial.windowMs)}, ${trial.events} events`,
        );
        await delay(1000);
      }
    }
  } catch (err) {
    result.failure = (err as Error).message;
    log(`N=${n}: FAILED: ${result.failure}\n--- last server output ---\n${server.output().slice(-3000)}`);
  } finally {
    result.pageErrors = w?.errors ?? [];
    await w?.context.close();
    await fleet?.stop();
    api.close();
    await server.stop();
    server.cleanup();
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Output

const sorted = (v: Iterable<number>) => Float64Array.from(v).sort();
const sum = (v: number[]) => v.reduce((a, b) => a + b, 0);
const median = (v: number[]) => quantile(sorted(v), 0.5);
const fmtMs = (v: number) => (!Number.isFinite(v) ? 'n/a' : v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`);
const n0 = (v: number) => Math.round(v).toLocaleString('en-US');
const mib = (v: number) => `${v.toFixed(1)} MiB`;

interface Row {
  n: number;
  kind: Kind;
  trials: Trial[];
}

function rows(results: SizeResult[]): Row[] {
  const out: Row[] = [];
  for (const r of results) {
    for (const kind of ['console', 'floor'] as const) {
      const trials = r.trials.filter((t) => t.kind === kind);
      if (trials.length) out.push({ n: r.n, kind, trials });
    }
  }
  return out;
}

const pageName = (k: Kind) => (k === 'console' ? 'console' : 'floor (static table)');
const frames = (ts: FrameStats[]) => {
  const g = sorted(ts.flatMap((t) => t.gaps));
  return `${fmtMs(quantile(g, 0.5))} / ${fmtMs(quantile(g, 0.99))} / ${fmtMs(g[g.length - 1] ?? NaN)}`;
};
const longTasks = (ts: FrameStats[]) => {
  const all = ts.flatMap((t) => t.longTasks);
  return `${(all.length / ts.length).toFixed(1)} / ${fmtMs(sum(all) / ts.length)} / ${fmtMs(all.length ? Math.max(...all) : 0)}`;
};

function smooth(r: Row): string {
  if (r.kind !== 'console') return '';
  const g = sorted(r.trials.flatMap((t) => t.rollout.gaps));
  const longest = Math.max(0, ...r.trials.flatMap((t) => t.rollout.longTasks));
  return quantile(g, 0.99) <= SMOOTH.p99FrameMs && longest <= SMOOTH.longestTaskMs ? 'yes' : 'no';
}

const LOAD_HEAD = ['N', 'page', 'trials', 'load → all N rows shown (median / worst)', 'JS heap after load', 'DOM nodes', 'idle: frame gap p50 / p99 / max', 'idle: long tasks per window (count / total / longest)'];
const loadCells = (r: Row, o: Opts) => {
  const load = sorted(r.trials.map((t) => t.loadMs));
  return [
    n0(r.n), pageName(r.kind), String(r.trials.length), `${fmtMs(median([...load]))} / ${fmtMs(load[load.length - 1]!)}`,
    mib(median(r.trials.map((t) => t.loaded.heapMiB))), n0(median(r.trials.map((t) => t.loaded.nodes))),
    frames(r.trials.map((t) => t.idle)), `${longTasks(r.trials.map((t) => t.idle))} in ${o.idleMs / 1000} s`,
  ];
};

const ROLLOUT_HEAD = ['N', 'page', 'agents all reported (median)', 'page shows all N on it (median / worst)', 'frame gap p50 / p99 / max', 'long tasks per rollout (count / total / longest)', 'of them > 50 ms of CPU (count / longest)', 'main thread busy (script / layout + style)', 'JS heap after', 'events delivered (per rollout, busiest second)', 'smooth'];
const rolloutCells = (r: Row) => {
  const shown = sorted(r.trials.map((t) => t.shownMs));
  const busy = median(r.trials.map((t) => t.busy.task / t.windowMs));
  return [
    n0(r.n), pageName(r.kind), fmtMs(median(r.trials.map((t) => t.agentsMs))), `${fmtMs(median([...shown]))} / ${fmtMs(shown[shown.length - 1]!)}`,
    frames(r.trials.map((t) => t.rollout)), longTasks(r.trials.map((t) => t.rollout)),
    `${(r.trials.reduce((a, t) => a + t.cpuLongTasks.length, 0) / r.trials.length).toFixed(1)} / ${fmtMs(Math.max(0, ...r.trials.flatMap((t) => t.cpuLongTasks)))}`,
    `${(busy * 100).toFixed(0)} % (${fmtMs(median(r.trials.map((t) => t.busy.script)))} / ${fmtMs(median(r.trials.map((t) => t.busy.layout + t.busy.style)))})`,
    mib(median(r.trials.map((t) => t.after.heapMiB))),
    `${n0(median(r.trials.map((t) => t.events)))}, ${n0(median(r.trials.map((t) => t.peakEventsPerSecond)))}/s`,
    smooth(r),
  ];
};

const mdTable = (head: string[], body: string[][]) =>
  [head, head.map((_, i) => (i < 2 || i === head.length - 1 ? '---' : '---:')), ...body].map((row) => `| ${row.join(' | ')} |`).join('\n');

type Machine = BaseMachine & {
  /** 1-minute load average when the run ended (the machine is shared: say how busy it was). */
  loadAfter: number;
  browser: string;
};

const machine = (browser: Browser): Machine => ({ ...machineFacts(), loadAfter: NaN, browser: `Chromium ${browser.version()}` });

const lag = (ms: number) => (ms >= 0 ? `${fmtMs(ms)} after` : `${fmtMs(-ms)} before`);

/** What the numbers say, from this run's medians: the console against its floor. */
function meaning(r: Row[]): string[] {
  const out: string[] = [];
  for (const c of r.filter((x) => x.kind === 'console')) {
    const f = r.find((x) => x.kind === 'floor' && x.n === c.n);
    if (!f) continue;
    const med = (x: Row, fn: (t: Trial) => number) => median(x.trials.map(fn));
    const heapPer = ((med(c, (t) => t.loaded.heapMiB) - med(f, (t) => t.loaded.heapMiB)) * 1024) / c.n;
    const cpuLong = c.trials.reduce((a, t) => a + t.cpuLongTasks.length, 0);
    out.push(
      `- N=${n0(c.n)}: the console shows all rows ${fmtMs(med(c, (t) => t.loadMs) - med(f, (t) => t.loadMs))} after the static table does (its script, the lists of ` +
        `instances and Leases, rendering), and holds ${heapPer.toFixed(1)} KiB more JS heap per instance (each instance and Lease as the watch delivered it, ` +
        `and in the Solid store the rows render from). In a rollout its main thread is busy ${(med(c, (t) => t.busy.task / t.windowMs) * 100).toFixed(0)} % ` +
        `of the time against the floor's ${(med(f, (t) => t.busy.task / t.windowMs) * 100).toFixed(0)} % (which parses the same events), ` +
        `${fmtMs(med(c, (t) => t.busy.script))} of it script and ${fmtMs(med(c, (t) => t.busy.layout + t.busy.style))} layout and style; ` +
        `${cpuLong === 0 ? 'no task of its own took more than 50 ms of CPU' : `${cpuLong} task(s) in ${c.trials.length} rollouts took more than 50 ms of CPU`}. ` +
        `It showed all N on the new revision ${lag(med(c, (t) => t.shownMs - t.agentsMs))} the last agent's status write was answered (median; the floor: ` +
        `${lag(med(f, (t) => t.shownMs - t.agentsMs))}; the watch event can arrive before the write's answer).`,
    );
  }
  return out.length ? [...out, ''] : [];
}

/**
 * Measured while building this benchmark (not rewritten by a run): the fleet page before its fix,
 * so a reader can see what the rows-as-grids and plain-data summary changed.
 */
const HISTORY = 'Before its fix (the fleet page as of commit 85e4bf2: a table in table layout, where any cell\'s change laid out and painted all ' +
  '1,000 rows, and a summary that read every instance through the Solid store on every batch of events), this benchmark measured at N=1,000 on the ' +
  'same machine (1-minute load average 3.5 to 4.1): per rollout 22 long tasks, 8 of them over 50 ms of CPU (the longest 121 ms), frame gap p99 277 ms ' +
  'and max 818 ms, main thread busy 76 % (1,310 ms script, 964 ms layout and style); idle, 7.3 long tasks in 5 s (every second the ages\' tick laid ' +
  'out the whole table); all rows shown 895 ms after navigation. The fixed page, measured right before it at a load average of 2.5 to 3.5: ' +
  '3.3 long tasks per rollout, 0.3 of them over 50 ms of CPU (the longest 57 ms), frame gap p99 129 ms, main thread busy 45 % (550 ms script, ' +
  '53 ms layout and style), no long task idle.';

function section(results: SizeResult[], m: Machine, o: Opts, date: string, seconds: number): string {
  const r = rows(results);
  const lines = [
    '<!-- bench:console:start -->',
    '## Console: the fleet overview with N instances (issue 5)',
    '',
    `Reproduce with \`npm run bench:console\` (scripts/bench-console.ts; \`-- --help\` lists the options). Measured ${date}, in ${Math.round(seconds)} s, ` +
      `on ${m.cpu} × ${m.cores}, ${m.memGiB.toFixed(1)} GiB, ${m.os}, Node ${m.node}, Debian's ${m.browser} (headless, playwright-core); ` +
      `1-minute load average ${m.load.toFixed(2)} at the start and ${m.loadAfter.toFixed(2)} at the end.`,
    '',
    'Method. For each N the console is built (Vite, as the e2e tests build it), the real API server serves it (`--console-dir`, embedded store, rollout controller on, ' +
      `\`--history-revisions ${o.history}\`), and N simulated agents (\`scripts/lib/fleet-sim.ts\`, in the benchmark process) register, watch, apply and report as hq-agent does ` +
      `on the wire (status with a show-stat summary of ${o.statsServers} servers, a Lease renewed every ${o.heartbeatSeconds} s, applies of ${o.applyMs} ms ± 50 %). ` +
      `Server, agents and browser share the machine's ${m.cores} cores. Chromium (1280 × 900) signs in on the sign-in page, then each trial loads the page afresh and measures ` +
      'in the page, with a script injected before the page\'s own (a requestAnimationFrame loop and a `longtask` PerformanceObserver):',
    '',
    '- **load**: navigation start → the first frame in which all N rows are in `[data-testid=fleet-table] tbody` and the summary says N (the console lists ' +
      'instances and Leases, then renders). JS heap after a forced GC and DOM nodes from CDP `Performance.getMetrics` a second later; then an idle window ' +
      `of ${o.idleMs / 1000} s with the fleet live (${n0(results[0]?.n ?? 0)} agents renew ${n0((results[0]?.n ?? 0) / o.heartbeatSeconds)} Leases a second; ages tick).`,
    '- **rollout**: a PUT of the HAProxyConfig that selects all N (AllAtOnce): the controller moves every instance (N instance writes) and every agent applies ' +
      'and writes its status (N more), with Lease renewals going on. Measured from the PUT until one second after the frame in which the summary\'s "Running" ' +
      'line says all N run the new revision: the gap between consecutive animation frames (16.7 ms when nothing is late), long tasks (> 50 ms), the main ' +
      'thread\'s busy time (CDP TaskDuration, and of it ScriptDuration and Layout + RecalcStyle), and the JS heap after a forced GC at the end. A trace of ' +
      'the renderer\'s top-level tasks (category `toplevel`) gives each task\'s CPU time: a task that is long on the clock but short on CPU is the renderer ' +
      'waiting for a core, not the page working. "agents all ' +
      'reported" is when the last agent\'s status write succeeded. Events delivered: a separate watch from the benchmark process on the same two streams as ' +
      'the page (instances and Leases, all namespaces) counts what the server sent in that window.',
    '- **floor**: the same measurements, in the same run and browser tab, on a static page served by the same server: the console\'s stylesheet, its frame ' +
      'and summary, and N rows of its table markup written in the HTML, plus a small script that lists and watches the same two collections, `JSON.parse`s ' +
      'every event and keeps only the "Running" line current. It is what the browser, the network and the parsing cost with no rendering of the data; the ' +
      'console\'s own cost is the difference.',
    '',
    `Smooth means: p99 frame gap ≤ ${SMOOTH.p99FrameMs} ms (at most 1 % of frame gaps longer than two missed frames) and no task over ${SMOOTH.longestTaskMs} ms during the rollout, over all trials, ` +
      'measured on the clock, so it counts the waits for a core too.',
    '',
    mdTable(LOAD_HEAD, r.map((x) => loadCells(x, o))),
    '',
    mdTable(ROLLOUT_HEAD, r.map(rolloutCells)),
    '',
    `Medians over ${o.trials} trials per page; frame gaps pool every frame of every trial; long tasks are per window, averaged, and the longest of all. ` +
      'Registration (all N agents registered, watching and on the first revision): ' +
      results.map((x) => `N=${n0(x.n)} ${Number.isFinite(x.registerSeconds) ? `${x.registerSeconds.toFixed(1)} s` : 'n/a'}`).join(', ') + '. ' +
      '`npm run bench:console -- --profile DIR` records a Chrome performance trace and a CPU profile of the console page during each rollout (open them in ' +
      'Chrome\'s DevTools, Performance panel) to find where its time goes.',
    '',
    ...meaning(r),
    HISTORY,
    '',
  ];
  for (const x of results) {
    if (x.failure) lines.push(`**N=${n0(x.n)} failed:** ${x.failure}`, '');
    if (x.pageErrors.length) lines.push(`**N=${n0(x.n)}: the page logged errors:** ${x.pageErrors.slice(0, 5).join('; ')}`, '');
  }
  lines.push('<!-- bench:console:end -->');
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------

function parse(): Opts | undefined {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        sizes: { type: 'string' },
        trials: { type: 'string' },
        'idle-seconds': { type: 'string' },
        'apply-ms': { type: 'string' },
        'heartbeat-seconds': { type: 'string' },
        'stats-servers': { type: 'string' },
        'history-revisions': { type: 'string' },
        'timeout-seconds': { type: 'string' },
        profile: { type: 'string' },
        'console-dir': { type: 'string' },
        'no-doc': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return undefined;
  if (values['console-dir'] && !existsSync(join(values['console-dir'], 'index.html'))) throw new UsageError(`--console-dir: no index.html in ${values['console-dir']}`);
  return {
    sizes: intListOption(values.sizes ?? '1000', 'sizes', 1),
    trials: intOption(values.trials, 3, 'trials', 1),
    idleMs: intOption(values['idle-seconds'], 5, 'idle-seconds', 1) * 1000,
    applyMs: intOption(values['apply-ms'], 50, 'apply-ms', 0),
    heartbeatSeconds: intOption(values['heartbeat-seconds'], 10, 'heartbeat-seconds', 1),
    statsServers: intOption(values['stats-servers'], 10, 'stats-servers', 0),
    history: intOption(values['history-revisions'], 100_000, 'history-revisions', 100),
    timeoutMs: intOption(values['timeout-seconds'], 120, 'timeout-seconds', 1) * 1000,
    profile: values.profile,
    consoleDir: values['console-dir'],
  };
}

async function main(): Promise<void> {
  const o = parse();
  if (!o) {
    process.stdout.write(USAGE);
    return;
  }
  const started = clock();
  const log = (s: string) => process.stderr.write(`[${((clock() - started) / 1000).toFixed(1).padStart(6)} s] ${s}\n`);
  log(o.consoleDir ? `serving the console built in ${o.consoleDir}` : 'building the console');
  let build: { dir: string; cleanup(): void };
  if (o.consoleDir) {
    // A copy: the floor page is written into the directory the server serves.
    const dir = mkdtempSync(join(tmpdir(), 'hq-console-'));
    cpSync(o.consoleDir, dir, { recursive: true });
    build = { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  } else build = await buildConsole();
  const browser = await launchChromium();
  const m = machine(browser);
  log(`${m.cpu} × ${m.cores}, ${m.memGiB.toFixed(1)} GiB, Node ${m.node}, ${m.browser}, load ${m.load.toFixed(2)}; sizes ${o.sizes.join(', ')}, ${o.trials} trials`);
  const results: SizeResult[] = [];
  try {
    for (const n of o.sizes) results.push(await benchSize(n, build.dir, browser, o, log));
  } finally {
    await browser.close();
    build.cleanup();
  }
  const seconds = (clock() - started) / 1000;
  m.loadAfter = loadavg()[0] ?? 0;
  const r = rows(results);
  process.stdout.write(`\n${textTable(LOAD_HEAD, r.map((x) => loadCells(x, o)))}\n\n${textTable(ROLLOUT_HEAD, r.map(rolloutCells))}\n\n`);
  const failed = results.filter((x) => x.failure || x.pageErrors.length);
  for (const f of failed) process.stdout.write(`N=${f.n}: ${f.failure ?? ''} ${f.pageErrors.join('\n')}\n`);
  process.stdout.write(`Total: ${Math.round(seconds)} s; 1-minute load average ${m.load.toFixed(2)} at the start, ${m.loadAfter.toFixed(2)} at the end\n`);
  if (!process.argv.includes('--no-doc')) {
    writeDocSection('console', section(results, m, o, new Date().toISOString().replace(/\.\d+Z$/, 'Z'), seconds));
    process.stdout.write(`Wrote ${DOC}\n`);
  }
  if (failed.length) process.exitCode = 1;
}

// Ctrl-C: exit through 'exit' hooks, which kill the server child.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
runMain('bench-console', USAGE, main);
