/**
 * Agent benchmark (`npm run bench:agent`; `npm run bench:agent -- --help` for options).
 *
 * Real HAProxy (master-worker, `-W -S`), the agent's real apply pipeline (createApplier), the real
 * API server and the real `hq-agent run` process, on this machine:
 *
 *   1. reloads under load   HAProxy in front of two node HTTP backends, a load generator (wrk from
 *                           Debian, else a keep-alive node generator in a child process) against it
 *                           for the whole run, while 100 applies go through createApplier, each a
 *                           new revision (`http-response set-header X-Rev N`), 100-200 ms apart.
 *                           Every request must succeed, every apply must be 'applied', and show
 *                           proc's reload counter must move by exactly the number of applies.
 *                           A short control run without `option idle-close-on-response` shows
 *                           why the config has it (its failures are reported, not fatal).
 *   2. overhead vs floor    for 10 and 1,000 backends, interleaved rounds of: `haproxy -c` by
 *                           execFile (check floor), a raw master-CLI `reload` polled with raw
 *                           `show proc` until a new current worker is listed (reload floor), and
 *                           createApplier().apply() of a new revision (the agent). Overhead = agent
 *                           total − (check floor + reload floor), medians.
 *   3. idle agent           the real API server, HAProxy with 1,000 servers (100 backends × 10, no
 *                           health checks), the real `hq-agent run` (agent/src/main.ts, heartbeat
 *                           and resync every 5 s) pinned to a revision of that config through the
 *                           API; once applied, 60 s of /proc/PID/status VmRSS and /proc/PID/stat
 *                           utime+stime, and a watch on the instance counting its status writes.
 *                           The esbuild bundle (what `npm run bundle:agent` builds) runs beside it
 *                           against its own HAProxy, and two baselines (bare node; node importing
 *                           the agent's heavy dependencies) show where the memory goes.
 *
 * Any failed request, failed apply or wrong reload count makes the run exit non-zero (after
 * printing and recording everything: a failure is never counted as a fast operation).
 *
 * Results go to stdout and to docs/benchmarks.md between `<!-- bench:agent:start -->` and
 * `<!-- bench:agent:end -->`; the rest of that file is kept as it is.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureDebianBinary, findOnPath } from './lib/debian-package.ts';
import { DOC, UsageError, machineFacts, type Machine as BaseMachine, hr, memory, msSince, processCpuMs, quantile, runMain, textTable, writeDocSection, intOption } from './lib/bench.ts';
import { contentHash, createApplier } from '../agent/src/apply/pipeline.ts';
import type { ApplyResult, DesiredConfig } from '../agent/src/apply/types.ts';
import { currentWorker, parseShowInfo, parseShowProc } from '../agent/src/haproxy/master-cli.ts';
import { startHAProxy, startHttpBackend, type HAProxyProcess, type HttpBackend } from '../agent/test/support/haproxy.ts';
import { request as apiRequest, startServer, type ServerProcess } from '../api-server/test/support/server.ts';
import { openWatch } from '../api-server/test/support/watch.ts';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const SELF = fileURLToPath(import.meta.url);
const START_MARK = '<!-- bench:agent:start -->';
const END_MARK = '<!-- bench:agent:end -->';
/** V8 flags for the agent in production (manifests/agent): keep in step with the unit and DaemonSet. */
const AGENT_V8_FLAGS = (process.env.HQ_AGENT_V8_FLAGS ?? '--max-semi-space-size=1').split(' ').filter(Boolean);
const NS = '/apis/haproxyhq.io/v1alpha1/namespaces/default';

const USAGE = `Usage: npm run bench:agent -- [options]

  --reloads N           applies (reloads) under load in part 1 (default 100)
  --control-reloads N   reloads of the control run without option idle-close-on-response
                        (default 30; 0 skips it; its failures are reported, not fatal)
  --connections N       load generator connections (default 16)
  --load KIND           auto (wrk if installed or installable, else node), wrk, or node (default auto)
  --rounds N            rounds per size in part 2 (default 20)
  --idle-seconds N      idle sampling window in part 3 (default 60)
  --parts LIST          reload,overhead,idle (default all; docs/benchmarks.md is written only with all)
  --profile DIR         run the idle agent (source) with --cpu-prof and --heap-prof, writing to DIR
  --no-doc              print only; leave docs/benchmarks.md alone
`;

// ---------------------------------------------------------------------------------------------
// Small helpers


/** Nearest-rank quantile of unsorted values. */
const quantileOf = (values: number[], q: number) => quantile([...values].sort((a, b) => a - b), q);
const median = (v: number[]) => quantileOf(v, 0.5);
const p90 = (v: number[]) => quantileOf(v, 0.9);

/** 3 significant digits, thousands separators above 1,000; whole numbers (the agent's own ms) as they are. */
function fmt(n: number, unit = ''): string {
  if (!Number.isFinite(n)) return 'n/a';
  const abs = Math.abs(n);
  const s = Number.isInteger(n) ? n.toLocaleString('en-US') : abs >= 1000 ? Math.round(n).toLocaleString('en-US') : abs >= 100 ? n.toFixed(0) : abs >= 10 ? n.toFixed(1) : n.toFixed(2);
  return unit ? `${s} ${unit}` : s;
}
const signed = (n: number, unit = 'ms') => `${n > -0.005 ? '+' : '−'}${fmt(Math.abs(n), unit)}`;




function run(cmd: string, args: string[], timeoutMs: number, cwd?: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: `${stdout}${stderr}` }),
    );
  });
}

/** One master-CLI command on a fresh connection: write, half-close, read until the master closes. */
function rawCommand(socketPath: string, cmd: string, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = connect({ path: socketPath });
    const timer = setTimeout(() => sock.destroy(new Error(`"${cmd}" timed out`)), timeoutMs);
    sock.on('connect', () => sock.end(`${cmd}\n`));
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** GET through HAProxy on a fresh connection; returns status and the X-Rev header. */
function getRev(port: number): Promise<{ status: number; rev: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/', agent: false, headers: { connection: 'close' }, timeout: 5_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, rev: res.headers['x-rev'] as string | undefined }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

function desired(revision: string, config: string): DesiredConfig {
  return { revision, hash: contentHash({ config, files: [] }), config, files: [] };
}

// ---------------------------------------------------------------------------------------------
// Configs

const GLOBAL = `global
    default-path config
    # Old workers left by a reload get at most this long to finish their connections.
    hard-stop-after 10s
`;

/**
 * Part 1's config: one frontend, two node backends. `option idle-close-on-response` keeps the old
 * worker from closing idle keep-alive client connections at soft-stop (2.4+ closes them at once,
 * racing a client that is just sending its next request on them); it closes them after the next
 * response instead, with "Connection: close". See the doc section for what happens without it.
 */
function reloadConfig(port: number, b1: number, b2: number, rev: number, plain: boolean): string {
  return `${GLOBAL}
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
    timeout http-keep-alive 10s
${plain ? '' : '    option idle-close-on-response\n'}
frontend fe
    bind 127.0.0.1:${port}
    http-response set-header X-Rev ${rev}
    default_backend be

backend be
    balance roundrobin
    server b1 127.0.0.1:${b1}
    server b2 127.0.0.1:${b2}
`;
}

/** `backends` backends of `serversEach` servers on unused loopback ports, no health checks. */
function bigConfig(port: number, backends: number, serversEach: number, rev: number): string {
  const lines = [
    GLOBAL,
    'defaults',
    '    mode http',
    '    timeout connect 2s',
    '    timeout client 10s',
    '    timeout server 10s',
    '',
    'frontend fe',
    `    bind 127.0.0.1:${port}`,
    // HAProxy answers 503 itself (no server listens): http-after-response marks that answer too.
    `    http-after-response set-header X-Rev ${rev}`,
    '    default_backend be_0000',
    '',
  ];
  let n = 0;
  for (let b = 0; b < backends; b++) {
    lines.push(`backend be_${String(b).padStart(4, '0')}`, '    balance roundrobin');
    for (let s = 0; s < serversEach; s++) lines.push(`    server s${s} 127.0.0.1:${20000 + (n++ % 40000)}`);
    lines.push('');
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Load generators

interface LoadResult {
  tool: string;
  requests: number;
  non2xx: number;
  errors: Record<string, number>;
  failed: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  raw: string;
}

interface LoadRun {
  stop(): Promise<LoadResult>;
}

function unitMs(value: string, unit: string): number {
  const v = Number(value);
  return unit === 'us' ? v / 1000 : unit === 'ms' ? v : unit === 's' ? v * 1000 : unit === 'm' ? v * 60_000 : NaN;
}

/** wrk's summary. The "Socket errors" and "Non-2xx" lines are printed only when non-zero. */
function parseWrk(out: string): LoadResult {
  const req = /(\d+) requests in ([\d.]+)(us|ms|s|m),/.exec(out);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const p50 = /^\s*50%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(out);
  const p99 = /^\s*99%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(out);
  if (!req || !rps || !p50 || !p99) throw new Error(`cannot read wrk's output:\n${out}`);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors: Record<string, number> = sock
    ? { connect: Number(sock[1]), read: Number(sock[2]), write: Number(sock[3]), timeout: Number(sock[4]) }
    : {};
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const failed = non2xx + Object.values(errors).reduce((a, b) => a + b, 0);
  return {
    tool: 'wrk',
    requests: Number(req[1]),
    non2xx,
    errors,
    failed,
    seconds: unitMs(req[2]!, req[3]!) / 1000,
    rps: Number(rps[1]),
    p50Ms: unitMs(p50[1]!, p50[2]!),
    p99Ms: unitMs(p99[1]!, p99[2]!),
    raw: out.trim(),
  };
}

/** wrk, if it is there; as root with apt-get, install Debian's (undefined: use the node load generator). */
async function findWrk(log: (s: string) => void): Promise<string | undefined> {
  const found = findOnPath('wrk');
  if (found) return found;
  log('wrk is not installed: installing Debian\'s wrk if this is root with apt-get');
  try {
    return await ensureDebianBinary({ binary: 'wrk', pkg: 'wrk', howTo: 'Install wrk (apt-get install wrk) for the wrk load generator.', timeoutMinutes: 5 });
  } catch (err) {
    log(`${(err as Error).message.split('\n')[0]}; using the node load generator`);
    return undefined;
  }
}

/** Wait for a child's exit, at most `ms`. */
function exitOf(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** Start a load generator process; stop() sends SIGINT and reads its summary. */
async function startLoad(kind: 'wrk' | 'node', wrk: string | undefined, port: number, connections: number): Promise<LoadRun> {
  const url = `http://127.0.0.1:${port}/`;
  const child =
    kind === 'wrk'
      ? spawn(wrk!, ['-t2', `-c${connections}`, '-d3600s', '--latency', '--timeout', '5s', url], { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(process.execPath, [SELF, '--loadgen', '--port', String(port), '--connections', String(connections)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  await delay(300);
  if (child.exitCode !== null) throw new Error(`${kind} exited at once (${child.exitCode}):\n${out}`);
  return {
    async stop() {
      child.kill('SIGINT');
      if (!(await exitOf(child, 15_000))) {
        child.kill('SIGKILL');
        throw new Error(`${kind} did not stop on SIGINT:\n${out}`);
      }
      if (kind === 'wrk') return parseWrk(out);
      const line = out.trim().split('\n').pop() ?? '';
      try {
        return { ...(JSON.parse(line) as Omit<LoadResult, 'raw'>), raw: out.trim() };
      } catch {
        throw new Error(`cannot read the node load generator's output:\n${out}`);
      }
    },
  };
}

/**
 * The node load generator (child mode, `--loadgen`): `connections` loops of keep-alive GETs over
 * one http.Agent, no retries. Every error (socket error, timeout) and every non-2xx answer counts
 * as failed. Prints one JSON line on SIGINT.
 */
async function loadgen(port: number, connections: number): Promise<void> {
  const agent = new HttpAgent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections });
  const lat: number[] = [];
  const errors: Record<string, number> = {};
  let ok = 0;
  let non2xx = 0;
  let stopping = false;
  const one = () =>
    new Promise<void>((resolve) => {
      let done = false;
      const finish = (err?: Error) => {
        if (done) return;
        done = true;
        if (err) {
          const code = (err as NodeJS.ErrnoException).code ?? (err.message === 'timeout' ? 'timeout' : 'other');
          errors[code] = (errors[code] ?? 0) + 1;
        }
        resolve();
      };
      const t0 = hr();
      const req = httpRequest({ host: '127.0.0.1', port, path: '/', agent, timeout: 5_000 }, (res) => {
        res.resume();
        res.on('end', () => {
          lat.push(msSince(t0));
          const s = res.statusCode ?? 0;
          if (s >= 200 && s < 300) ok++;
          else non2xx++;
          finish();
        });
        res.on('error', finish);
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', finish);
      req.end();
    });
  const started = hr();
  const loops = Array.from({ length: connections }, async () => {
    while (!stopping) await one();
  });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  stopping = true;
  await Promise.all(loops);
  const seconds = msSince(started) / 1000;
  const errorCount = Object.values(errors).reduce((a, b) => a + b, 0);
  const result: Omit<LoadResult, 'raw'> = {
    tool: 'node',
    requests: ok + non2xx,
    non2xx,
    errors,
    failed: non2xx + errorCount,
    seconds,
    rps: (ok + non2xx) / seconds,
    p50Ms: median(lat),
    p99Ms: quantileOf(lat, 0.99),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  agent.destroy();
}

// ---------------------------------------------------------------------------------------------
// Part 1: reloads under load

interface ReloadPart {
  reloads: number;
  load: LoadResult;
  loadNote: string;
  outcomes: Record<string, number>;
  failures: string[];
  reloadDelta: number;
  distinctWorkers: number;
  oldWorkersAtEnd: number;
  finalRev: string | undefined;
  backendRequests: number;
  applyTotal: number[];
  applyCheck: number[];
  applyReload: number[];
  connections: number;
  plain: boolean;
}

async function partReloads(o: Opts, v: { reloads: number; plain: boolean }, log: (s: string) => void): Promise<ReloadPart> {
  let kind: 'wrk' | 'node' = o.load === 'node' ? 'node' : 'wrk';
  let wrk: string | undefined;
  let loadNote = '';
  if (kind === 'wrk') {
    wrk = await findWrk(log);
    if (!wrk) {
      if (o.load === 'wrk') throw new Error('--load wrk: wrk is not installed and cannot be installed here (not root, or no apt-get)');
      kind = 'node';
      loadNote = 'wrk is not installed (and this is not root with apt-get), so the node load generator was used.';
    }
  }
  if (kind === 'wrk') {
    const v = (await run(wrk!, ['-v'], 5_000)).out.split('\n')[0]?.trim() ?? 'wrk';
    loadNote = `Load: ${v.replace(/ Copyright.*/, '')}, 2 threads, ${o.connections} keep-alive connections, --timeout 5s.`;
  } else {
    loadNote ||= 'Load: the node load generator (--load node).';
    loadNote += ` ${o.connections} keep-alive connections (one node:http Agent), 5 s timeout, no retries, in a child process.`;
  }

  const backends: HttpBackend[] = [await startHttpBackend('ok'), await startHttpBackend('ok')];
  const [b1, b2] = [backends[0]!.port, backends[1]!.port];
  let hap: HAProxyProcess | undefined;
  const stateDir = mkdtempSync(join(tmpdir(), 'hq-bench-state-'));
  let load: LoadRun | undefined;
  try {
    hap = await startHAProxy({ config: (ports) => reloadConfig(ports[0]!, b1, b2, 0, v.plain) });
    const port = hap.port;
    const applier = createApplier({ configPath: hap.configPath, masterSocket: hap.masterSocket, haproxyBin: hap.bin, stateDir });
    // Warm-up (the first apply on a host adopts what is there): not counted.
    const warm = await applier.apply(desired('rel-0', reloadConfig(port, b1, b2, 0, v.plain)));
    if (warm.outcome !== 'applied') throw new Error(`warm-up apply: ${warm.outcome}: ${warm.error?.message}`);
    const before = parseShowProc(await rawCommand(hap.masterSocket, 'show proc'));
    const requestsBefore = backends.reduce((a, b) => a + b.requests(), 0);

    log(`part 1: ${kind} with ${o.connections} connections against HAProxy :${port}; ${v.reloads} applies${v.plain ? ' (control: no idle-close-on-response)' : ''}`);
    load = await startLoad(kind, wrk, port, o.connections);
    await delay(1_000);
    const outcomes: Record<string, number> = {};
    const failures: string[] = [];
    const workers = new Set<number>();
    const applyTotal: number[] = [];
    const applyCheck: number[] = [];
    const applyReload: number[] = [];
    for (let i = 1; i <= v.reloads; i++) {
      const r: ApplyResult = await applier.apply(desired(`rel-${i}`, reloadConfig(port, b1, b2, i, v.plain)));
      outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
      if (r.outcome !== 'applied') failures.push(`apply rel-${i}: ${r.outcome} at ${r.error?.stage}: ${r.error?.message}`);
      const w = r.proc && currentWorker(r.proc);
      if (w) workers.add(w.pid);
      applyTotal.push(r.timings.totalMs);
      if (r.timings.checkMs !== undefined) applyCheck.push(r.timings.checkMs);
      if (r.timings.reloadMs !== undefined) applyReload.push(r.timings.reloadMs);
      if (i % 25 === 0) log(`  ${i}/${v.reloads} applies`);
      await delay(100 + ((i * 37) % 101));
    }
    await delay(1_000);
    const result = await load.stop();
    load = undefined;
    const after = parseShowProc(await rawCommand(hap.masterSocket, 'show proc'));
    const final = await getRev(port);
    const backendRequests = backends.reduce((a, b) => a + b.requests(), 0) - requestsBefore;
    const reloadDelta = after.master.reloads - before.master.reloads;
    if (reloadDelta !== v.reloads) failures.push(`show proc: the master's reload counter moved by ${reloadDelta}, not ${v.reloads}`);
    if ((after.master.failedReloads ?? 0) > 0) failures.push(`show proc: ${after.master.failedReloads} failed reloads`);
    if (result.failed > 0) {
      failures.push(
        `${result.failed} of ${result.requests + result.failed - result.non2xx} requests failed ` +
          `(non-2xx ${result.non2xx}, errors ${JSON.stringify(result.errors)})`,
      );
    }
    if (final.status !== 200 || final.rev !== String(v.reloads)) {
      failures.push(`after the run HAProxy answers ${final.status} with X-Rev ${final.rev ?? '(none)'}, not 200 with X-Rev ${v.reloads}`);
    }
    return {
      reloads: v.reloads,
      load: result,
      loadNote,
      outcomes,
      failures,
      reloadDelta,
      distinctWorkers: workers.size,
      oldWorkersAtEnd: after.workers.filter((w) => w.old).length,
      finalRev: final.rev,
      backendRequests,
      applyTotal,
      applyCheck,
      applyReload,
      connections: o.connections,
      plain: v.plain,
    };
  } finally {
    if (load) await load.stop().catch(() => undefined);
    await hap?.stop();
    for (const b of backends) await b.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Part 2: per-apply overhead beside the floor

interface OverheadRow {
  label: string;
  backends: number;
  configKiB: number;
  checkFloor: number[];
  reloadFloor: number[];
  /** Floor reload, continued until `@1 show info` is answered by the new worker. */
  reloadAnswering: number[];
  total: number[];
  checkMs: number[];
  writeMs: number[];
  reloadMs: number[];
}

/** Raw reload: `reload`, then raw `show proc` until a new current worker is listed. Times from sending reload. */
async function floorReload(socket: string): Promise<{ listed: number; answering: number }> {
  const before = parseShowProc(await rawCommand(socket, 'show proc'));
  const oldPid = currentWorker(before)?.pid;
  const t0 = hr();
  await rawCommand(socket, 'reload', 10_000).catch(() => '');
  let listed: number | undefined;
  let newPid: number | undefined;
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    try {
      if (listed === undefined) {
        const p = parseShowProc(await rawCommand(socket, 'show proc'));
        const w = currentWorker(p);
        if (p.master.reloads > before.master.reloads && w && w.pid !== oldPid) {
          listed = msSince(t0);
          newPid = w.pid;
          continue;
        }
      } else {
        const info = parseShowInfo(await rawCommand(socket, '@1 show info'));
        if (Number(info['Pid']) === newPid) return { listed, answering: msSince(t0) };
      }
    } catch {
      // ECONNREFUSED while the master re-executes
    }
    await delay(1);
  }
  throw new Error(`floor reload: no new worker within 10 s (socket ${socket})`);
}

async function floorCheck(bin: string, dir: string): Promise<number> {
  const t0 = hr();
  const r = await run(bin, ['-c', '-f', 'haproxy.cfg'], 30_000, dir);
  const ms = msSince(t0);
  if (r.code !== 0) throw new Error(`haproxy -c failed:\n${r.out}`);
  return ms;
}

async function partOverhead(o: Opts, log: (s: string) => void): Promise<OverheadRow[]> {
  const sizes = [
    { label: '10 backends', backends: 10 },
    { label: '1,000 backends', backends: 1000 },
  ];
  const rows: OverheadRow[] = [];
  for (const size of sizes) {
    const stateDir = mkdtempSync(join(tmpdir(), 'hq-bench-state-'));
    let hap: HAProxyProcess | undefined;
    try {
      hap = await startHAProxy({ config: (ports) => bigConfig(ports[0]!, size.backends, 1, 0) });
      const h = hap;
      const applier = createApplier({ configPath: h.configPath, masterSocket: h.masterSocket, haproxyBin: h.bin, stateDir });
      const cfg = (rev: number) => bigConfig(h.port, size.backends, 1, rev);
      const row: OverheadRow = {
        label: size.label,
        backends: size.backends,
        configKiB: Buffer.byteLength(cfg(0)) / 1024,
        checkFloor: [],
        reloadFloor: [],
        reloadAnswering: [],
        total: [],
        checkMs: [],
        writeMs: [],
        reloadMs: [],
      };
      log(`part 2: ${size.label} (${row.configKiB.toFixed(0)} KiB), ${o.rounds} rounds`);
      let rev = 0;
      const apply = async () => {
        rev++;
        const r = await applier.apply(desired(`ovh-${rev}`, cfg(rev)));
        if (r.outcome !== 'applied') throw new Error(`apply ovh-${rev} (${size.label}): ${r.outcome} at ${r.error?.stage}: ${r.error?.message}`);
        return r;
      };
      // Warm-up: the adopting first apply, one of each floor.
      await apply();
      await apply();
      await floorCheck(h.bin, h.dir);
      await floorReload(h.masterSocket);
      for (let i = 0; i < o.rounds; i++) {
        row.checkFloor.push(await floorCheck(h.bin, h.dir));
        const f = await floorReload(h.masterSocket);
        row.reloadFloor.push(f.listed);
        row.reloadAnswering.push(f.answering);
        const r = await apply();
        row.total.push(r.timings.totalMs);
        row.checkMs.push(r.timings.checkMs ?? NaN);
        row.writeMs.push(r.timings.writeMs ?? NaN);
        row.reloadMs.push(r.timings.reloadMs ?? NaN);
      }
      rows.push(row);
    } finally {
      await hap?.stop();
      rmSync(stateDir, { recursive: true, force: true });
    }
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Part 3: the idle agent

interface IdleAgent {
  label: string;
  rssSteady: number;
  rssPeakWindow: number;
  hwm: number;
  cpuPct: number;
  statusWrites: number;
  statusBytes: number;
  leaseWrites: number;
  leaseBytes: number;
  events: number;
  applyMs: number;
}

interface IdlePart {
  seconds: number;
  servers: number;
  agents: IdleAgent[];
  baselines: { label: string; rss: number }[];
  serverCpuPct: number;
  bundleNote: string;
  profileDir?: string;
}

/** Watch one object of a collection (instance or lease); counts its writes (ADDED/MODIFIED) and their bytes. */
async function watchInstance(server: ServerProcess, name: string, rv: string, plural = 'haproxyinstances'): Promise<{ stop(): { modified: number; bytes: number } }> {
  const path = `${NS}/${plural}?watch=true&fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}&resourceVersion=${rv}`;
  const w = await openWatch(server.url, path, server.token, server.ca);
  if (w.status !== 200) throw new Error(`watch answered ${w.status}`);
  return {
    stop: () => {
      w.close();
      // An instance's ADDED is its registration, not a write during the window; a lease's is its first renewal.
      const writes = w.events.filter((e) => e.type === 'MODIFIED' || (e.type === 'ADDED' && plural !== 'haproxyinstances'));
      return { modified: writes.length, bytes: writes.reduce((n, e) => n + Buffer.byteLength(JSON.stringify(e.object)), 0) };
    },
  };
}

async function api(server: ServerProcess, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<any> {
  const r = await apiRequest(server, method, path, body, headers);
  if (r.status < 200 || r.status >= 300) throw new Error(`${method} ${path} answered ${r.status}: ${r.text.slice(0, 500)}`);
  return r.body;
}

/** A node process idling with `code` run first; its RSS after `ms`. */
async function baselineRss(code: string, ms: number): Promise<number> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', `${code}; setInterval(() => {}, 1000);`], {
    cwd: join(REPO, 'agent'),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await delay(ms);
  if (child.exitCode !== null) throw new Error(`baseline node process exited: ${err}`);
  const m = memory(child.pid!);
  child.kill('SIGKILL');
  await exitOf(child, 5_000);
  return m.rss;
}

/** The agent bundle, built by scripts/bundle-agent.ts (what `npm run bundle:agent` runs) into `dir`. */
async function buildBundle(dir: string): Promise<{ path?: string; error?: string }> {
  const out = join(dir, 'hq-agent.mjs');
  try {
    const { bundleAgent } = await import('./bundle-agent.ts');
    await bundleAgent(out);
    return { path: out };
  } catch (err) {
    return { error: (err as Error).message.split('\n')[0] };
  }
}

async function partIdle(o: Opts, log: (s: string) => void): Promise<IdlePart> {
  const tmp = mkdtempSync(join(tmpdir(), 'hq-bench-idle-'));
  const BACKENDS = 100;
  const EACH = 10;
  const haps: HAProxyProcess[] = [];
  const agents: { child: ChildProcess; log: () => string }[] = [];
  let server: ServerProcess | undefined;
  try {
    log('part 3: baselines (bare node; node importing the agent dependencies)');
    const [bare, deps] = await Promise.all([
      baselineRss('', 3_000),
      baselineRss("await import('@kubernetes/client-node'); await import('@sinclair/typebox/value'); await import('@haproxyhq/schemas')", 4_000),
    ]);
    const built = await buildBundle(tmp);
    const bundle = built.path;
    const bundleNote = bundle
      ? 'The bundle is built into a temp dir by scripts/bundle-agent.ts, as `npm run bundle:agent` builds it. It runs at the same time, against its own HAProxy with the same config.'
      : `The agent bundle could not be built (scripts/bundle-agent.ts: ${built.error}): it was not measured.`;
    if (!bundle) log(bundleNote);

    server = await startServer();
    const srv = server;
    const variants: { label: string; name: string; entry: string; prof: boolean; v8?: string[] }[] = [
      { label: 'hq-agent (agent/src/main.ts)', name: 'bench-idle-src', entry: join(REPO, 'agent', 'src', 'main.ts'), prof: true },
    ];
    if (bundle) {
      variants.push({ label: 'hq-agent (esbuild bundle)', name: 'bench-idle-bundle', entry: bundle, prof: false });
      // The flags the systemd unit and DaemonSet run it with: a small young generation.
      variants.push({ label: `hq-agent (bundle, ${AGENT_V8_FLAGS.join(' ')})`, name: 'bench-idle-bundle-v8', entry: bundle, prof: false, v8: AGENT_V8_FLAGS });
    }

    const setups: { label: string; name: string; hap: HAProxyProcess; child: ChildProcess; applyMs: number }[] = [];
    for (const v of variants) {
      const hap = await startHAProxy({ config: (ports) => bigConfig(ports[0]!, BACKENDS, EACH, 0) });
      haps.push(hap);
      const stateDir = join(tmp, `state-${v.name}`);
      const nodeArgs = [...(v.v8 ?? []), ...(v.prof && o.profile ? ['--cpu-prof', `--cpu-prof-dir=${o.profile}`, '--heap-prof', `--heap-prof-dir=${o.profile}`] : [])];
      const child = spawn(
        process.execPath,
        [
          ...nodeArgs,
          v.entry,
          'run',
          '--kubeconfig', srv.kubeconfig,
          '--name', v.name,
          '--labels', 'role=bench',
          '--haproxy-config', hap.configPath,
          '--master-socket', hap.masterSocket,
          '--haproxy-bin', hap.bin,
          '--state-dir', stateDir,
          '--heartbeat-seconds', '5',
          '--resync-seconds', '5',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'], cwd: tmp },
      );
      let out = '';
      const keep = (d: Buffer) => {
        out = (out + d.toString()).slice(-20_000);
      };
      child.stdout!.on('data', keep);
      child.stderr!.on('data', keep);
      agents.push({ child, log: () => out });
      const until = async <T>(what: string, fn: () => Promise<T | undefined>, ms = 60_000): Promise<T> => {
        const deadline = Date.now() + ms;
        for (;;) {
          const v2 = await fn().catch(() => undefined);
          if (v2 !== undefined) return v2;
          if (child.exitCode !== null) throw new Error(`${v.label} exited (${child.exitCode}) while waiting for ${what}:\n${out}`);
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (${v.label}):\n${out}`);
          await delay(100);
        }
      };
      await until('registration', async () => {
        const r = await apiRequest(srv, 'GET', `${NS}/haproxyinstances/${v.name}`);
        return r.status === 200 ? true : undefined;
      });
      // A revision of the 1,000-server config (X-Rev 1, so the agent really applies and reloads).
      const cfgName = `${v.name}-cfg`;
      await api(srv, 'POST', `${NS}/haproxyconfigs`, {
        apiVersion: 'haproxyhq.io/v1alpha1',
        kind: 'HAProxyConfig',
        metadata: { name: cfgName },
        spec: { config: bigConfig(hap.port, BACKENDS, EACH, 1) },
      });
      const pinned = Date.now();
      await api(srv, 'PATCH', `${NS}/haproxyinstances/${v.name}`, { spec: { configRevision: `${cfgName}-1` } }, { 'content-type': 'application/merge-patch+json' });
      await until('the revision applied and Ready', async () => {
        const i = (await apiRequest(srv, 'GET', `${NS}/haproxyinstances/${v.name}`)).body;
        const ready = i?.status?.conditions?.find((c: { type: string }) => c.type === 'Ready');
        return i?.status?.appliedRevision === `${cfgName}-1` && ready?.status === 'True' ? true : undefined;
      });
      const applyMs = Date.now() - pinned;
      const answer = await getRev(hap.port).catch(() => ({ status: 0, rev: undefined }));
      if (answer.rev !== '1') throw new Error(`${v.label}: HAProxy answers X-Rev ${answer.rev ?? '(none)'} after the apply, not 1`);
      setups.push({ label: v.label, name: v.name, hap, child, applyMs });
      log(`  ${v.label}: registered, pinned, applied (${applyMs} ms from pin to Ready)`);
    }

    // Settle past the apply's own writes and the first stats heartbeat.
    await delay(6_000);
    const watches = [];
    const leaseWatches = [];
    for (const s of setups) {
      const inst = await api(srv, 'GET', `${NS}/haproxyinstances/${s.name}`);
      watches.push(await watchInstance(srv, s.name, inst.metadata.resourceVersion));
      leaseWatches.push(await watchInstance(srv, s.name, inst.metadata.resourceVersion, 'leases'));
    }
    const eventsBefore = (await api(srv, 'GET', `${NS}/events`)).items as { involvedObject?: { name?: string } }[];
    const cpu0 = setups.map((s) => processCpuMs(s.child.pid!));
    const serverCpu0 = processCpuMs(srv.child.pid!);
    const t0 = hr();
    const samples: number[][] = setups.map(() => []);
    log(`  sampling RSS and CPU for ${o.idleSeconds} s`);
    for (let sec = 0; sec < o.idleSeconds; sec++) {
      await delay(1_000);
      setups.forEach((s, i) => samples[i]!.push(memory(s.child.pid!).rss));
    }
    const wallMs = msSince(t0);
    const cpu1 = setups.map((s) => processCpuMs(s.child.pid!));
    const serverCpuPct = ((processCpuMs(srv.child.pid!) - serverCpu0) / wallMs) * 100;
    const counts = watches.map((w) => w.stop());
    const leaseCounts = leaseWatches.map((w) => w.stop());
    const eventsAfter = (await api(srv, 'GET', `${NS}/events`)).items as { involvedObject?: { name?: string } }[];

    const result: IdleAgent[] = setups.map((s, i) => {
      const evCount = (list: typeof eventsBefore) => list.filter((e) => e.involvedObject?.name === s.name).length;
      return {
        label: s.label,
        rssSteady: median(samples[i]!),
        rssPeakWindow: Math.max(...samples[i]!),
        hwm: memory(s.child.pid!).hwm,
        cpuPct: ((cpu1[i]! - cpu0[i]!) / wallMs) * 100,
        statusWrites: counts[i]!.modified,
        statusBytes: counts[i]!.modified ? counts[i]!.bytes / counts[i]!.modified : 0,
        leaseWrites: leaseCounts[i]!.modified,
        leaseBytes: leaseCounts[i]!.modified ? leaseCounts[i]!.bytes / leaseCounts[i]!.modified : 0,
        events: evCount(eventsAfter) - evCount(eventsBefore),
        applyMs: s.applyMs,
      };
    });
    const part: IdlePart = {
      seconds: o.idleSeconds,
      servers: BACKENDS * EACH,
      agents: result,
      baselines: [
        { label: 'bare node (`setInterval` only)', rss: bare },
        { label: 'node + `import` of @kubernetes/client-node, typebox, @haproxyhq/schemas (from source)', rss: deps },
      ],
      serverCpuPct,
      bundleNote,
    };
    if (o.profile) part.profileDir = o.profile;
    return part;
  } finally {
    for (const a of agents) {
      if (a.child.exitCode === null) {
        a.child.kill('SIGTERM');
        if (!(await exitOf(a.child, 10_000))) {
          a.child.kill('SIGKILL');
          await exitOf(a.child, 5_000);
        }
      }
    }
    for (const h of haps) await h.stop();
    if (server) {
      await server.stop();
      server.cleanup();
    }
    rmSync(tmp, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Reporting

interface Table {
  head: string[];
  rows: string[][];
  /** Columns (by index) that are text, left-aligned; the rest are numbers. */
  text?: number[];
}

function textTableOf(t: Table): string {
  return textTable(t.head, t.rows, (i) => (t.text ?? [0]).includes(i));
}

function mdTable(t: Table): string {
  const isText = (i: number) => (t.text ?? [0]).includes(i);
  const align = t.head.map((_, i) => (isText(i) ? '---' : '---:'));
  return [t.head, align, ...t.rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

const GOAL_OVERHEAD_MS = 50;
const GOAL_RSS_MIB = 50;
const GOAL_CPU_PCT = 1;

function reloadTable(parts: ReloadPart[]): Table {
  return {
    head: ['config', 'reloads', 'requests', 'failed', 'rps', 'p50', 'p99', 'load'],
    rows: parts.map((r) => [
        r.plain ? 'control: without idle-close-on-response' : 'with option idle-close-on-response',
        String(r.reloads),
        r.load.requests.toLocaleString('en-US'),
        r.load.failed.toLocaleString('en-US'),
        fmt(r.load.rps),
        fmt(r.load.p50Ms, 'ms'),
        fmt(r.load.p99Ms, 'ms'),
        `${r.load.tool}, ${r.connections} conns, ${fmt(r.load.seconds)} s`,
      ]),
    text: [0, 7],
  };
}

function overheadTable(rows: OverheadRow[]): Table {
  const mp = (v: number[]) => `${fmt(median(v))} / ${fmt(p90(v))}`;
  return {
    head: [
      'config',
      'check floor',
      'reload floor',
      'agent total',
      'agent checkMs',
      'agent writeMs',
      'agent reloadMs',
      'rest',
      'overhead',
      `≤ ${GOAL_OVERHEAD_MS} ms?`,
    ],
    rows: rows.map((r) => {
      const over = median(r.total) - (median(r.checkFloor) + median(r.reloadFloor));
      const rest = r.total.map((t, i) => t - r.checkMs[i]! - r.writeMs[i]! - r.reloadMs[i]!);
      return [
        `${r.label} (${fmt(r.configKiB)} KiB)`,
        mp(r.checkFloor),
        mp(r.reloadFloor),
        mp(r.total),
        mp(r.checkMs),
        mp(r.writeMs),
        mp(r.reloadMs),
        mp(rest),
        signed(over),
        over <= GOAL_OVERHEAD_MS ? 'yes' : 'NO',
      ];
    }),
    text: [0, 9],
  };
}

function overheadSplitTable(rows: OverheadRow[]): Table {
  return {
    head: ['config', 'check: agent − floor', 'reload: agent − floor', 'of which: new worker answers @1', 'write', 'rest', 'total overhead'],
    rows: rows.map((r) => {
      const mc = median(r.checkMs) - median(r.checkFloor);
      const mr = median(r.reloadMs) - median(r.reloadFloor);
      const ans = median(r.reloadAnswering) - median(r.reloadFloor);
      const rest = median(r.total.map((t, i) => t - r.checkMs[i]! - r.writeMs[i]! - r.reloadMs[i]!));
      return [
        r.label,
        signed(mc),
        signed(mr),
        signed(ans),
        fmt(median(r.writeMs), 'ms'),
        fmt(rest, 'ms'),
        signed(median(r.total) - (median(r.checkFloor) + median(r.reloadFloor))),
      ];
    }),
  };
}

function idleTable(p: IdlePart): Table {
  return {
    head: ['process', 'RSS steady', 'RSS peak (window)', 'VmHWM (lifetime)', 'CPU % of a core', 'status writes', 'bytes/write', 'lease renewals', 'bytes/renewal', 'events', `≤ ${GOAL_RSS_MIB} MiB, ≤ ${GOAL_CPU_PCT}%?`],
    rows: p.agents.map((a) => [
      a.label,
      fmt(a.rssSteady, 'MiB'),
      fmt(a.rssPeakWindow, 'MiB'),
      fmt(a.hwm, 'MiB'),
      fmt(a.cpuPct, '%'),
      String(a.statusWrites),
      fmt(a.statusBytes),
      String(a.leaseWrites),
      fmt(a.leaseBytes),
      String(a.events),
      `${a.rssSteady <= GOAL_RSS_MIB ? 'yes' : 'NO'}, ${a.cpuPct <= GOAL_CPU_PCT ? 'yes' : 'NO'}`,
    ]),
    text: [0, 10],
  };
}

function baselineTable(p: IdlePart): Table {
  return { head: ['baseline process', 'RSS'], rows: p.baselines.map((b) => [b.label, fmt(b.rss, 'MiB')]) };
}

function idleNotes(p: IdlePart): string[] {
  const src = p.agents[0]!;
  const bundle = p.agents[1];
  const notes: string[] = [];
  notes.push(
    `Store writes in ${p.seconds} s: ${src.statusWrites} status writes of ${fmt(src.statusBytes / 1024, 'KiB')} ` +
      `(the whole instance with the stats of all ${p.servers.toLocaleString('en-US')} servers; written at once on a ` +
      'significant change, otherwise at most every `--stats-seconds`, default 60) and ' +
      `${src.leaseWrites} Lease renewals of ${fmt(src.leaseBytes, 'B')} (every \`--heartbeat-seconds 5\`): ` +
      `${fmt(((src.statusWrites * src.statusBytes + src.leaseWrites * src.leaseBytes) * (60 / p.seconds)) / 1024 ** 2, 'MiB')} ` +
      'per minute per agent into the store. ' +
      `The API server used ${fmt(p.serverCpuPct, '%')} of a core over the window for both agents' writes and watches.`,
  );
  const [bare, deps] = [p.baselines[0]!.rss, p.baselines[1]!.rss];
  if (src.rssSteady > GOAL_RSS_MIB || (bundle && bundle.rssSteady > GOAL_RSS_MIB)) {
    notes.push(
      `Memory goal (≤ ${GOAL_RSS_MIB} MiB) missed. Bare Node already takes ${fmt(bare, 'MiB')}; importing the agent's ` +
        `dependencies from source (no agent code running) takes ${fmt(deps, 'MiB')}, so ` +
        `${fmt(deps - bare, 'MiB')} of the source agent's ${fmt(src.rssSteady, 'MiB')} is module loading: ` +
        '@kubernetes/client-node (about 1,000 ESM files kept as source text, compiled code and module records), the ' +
        'TypeScript type-stripper Node loads for .ts files, and typebox. The other ' +
        `${fmt(src.rssSteady - deps, 'MiB')} is what running adds (heap grown by parsing, validating and writing the ` +
        '1,000-server status and `show stat` every few seconds, buffers, TLS). ' +
        (bundle ? `The esbuild bundle avoids the type-stripper and most module records: ${fmt(bundle.rssSteady, 'MiB')}.` : ''),
    );
  }
  notes.push(
    `CPU: ${p.agents.map((a) => `${a.label} ${fmt(a.cpuPct, '%')}`).join(', ')} of one core over the window ` +
      `(goal ≤ ${GOAL_CPU_PCT}%${p.agents.every((a) => a.cpuPct <= GOAL_CPU_PCT) ? ', met' : ', missed'}).` +
      (p.profileDir ? ' The source agent ran under --cpu-prof/--heap-prof in this run, which costs CPU and memory of its own.' : ''),
  );
  return notes;
}

type Machine = BaseMachine & { haproxy: string };

function machine(bin: string): Machine {
  let haproxy = 'haproxy (unknown version)';
  try {
    haproxy = execFileSync(bin, ['-v'], { encoding: 'utf8' }).split('\n')[0]!.replace(/ - https?:.*$/, '').trim();
  } catch {
    // reported as unknown
  }
  return { ...machineFacts(), haproxy };
}

interface Results {
  reload?: ReloadPart;
  /** The same without `option idle-close-on-response`: shows why the config has it. */
  control?: ReloadPart;
  overhead?: OverheadRow[];
  idle?: IdlePart;
}

function reloadNotes(r: ReloadPart): string[] {
  const notes = [
    `${r.plain ? 'Control run (without the option). ' : ''}${r.loadNote} Outcomes of the ${r.reloads} applies: ${Object.entries(r.outcomes).map(([k, v]) => `${v} ${k}`).join(', ')}. ` +
      `show proc's reload counter moved by ${r.reloadDelta}; ${r.distinctWorkers} distinct new workers were verified; ` +
      `${r.oldWorkersAtEnd} old workers were still draining 1 s after the last reload; ` +
      `HAProxy answers X-Rev ${r.finalRev ?? '(none)'} after the run.`,
    `The backends counted ${r.backendRequests.toLocaleString('en-US')} requests, the load generator ` +
      `${r.load.requests.toLocaleString('en-US')} responses (the difference is the requests in flight when it stopped). ` +
      `Failed = non-2xx ${r.load.non2xx} + socket errors ${JSON.stringify(r.load.errors)}.`,
    `Apply under this load (the machine's 2 cores are saturated by the load generator, HAProxy and the backends): ` +
      `total median ${fmt(median(r.applyTotal), 'ms')} (p90 ${fmt(p90(r.applyTotal), 'ms')}), of which \`haproxy -c\` ` +
      `${fmt(median(r.applyCheck), 'ms')} and reload + verify ${fmt(median(r.applyReload), 'ms')}.`,
  ];
  return notes;
}

function section(res: Results, m: Machine, o: Opts, date: string, totalSeconds: number): string {
  const L: string[] = [
    START_MARK,
    '## Agent (issue: reloads under load, apply overhead, idle footprint)',
    '',
    `Reproduce with \`npm run bench:agent\` (scripts/bench-agent.ts; \`npm run bench:agent -- --help\` lists the options). ` +
      `Measured ${date}, in ${totalSeconds.toFixed(0)} s, on ${m.cpu} × ${m.cores}, ${m.memGiB.toFixed(1)} GiB, ${m.os}, ` +
      `Node ${m.node}, ${m.haproxy} (master-worker, \`-W -S\`); 1-minute load average ${m.load.toFixed(2)} at the start.`,
    '',
    'Every HAProxy here is a real one started by `agent/test/support/haproxy.ts` (foreground master-worker, master CLI ' +
      'socket, temp dir), with `hard-stop-after 10s` in its global section. Applies go through the agent\'s real ' +
      'pipeline (`createApplier` from agent/src/apply/pipeline.ts: stage, `haproxy -c`, journal, atomic write, reload ' +
      'through the master CLI, verify with `show proc` and `@1 show info`/`@1 show stat`, manifest).',
    '',
  ];
  if (res.reload) {
    const r = res.reload;
    const c = res.control;
    L.push(
      '### 1. Reloads under load',
      '',
      `HAProxy in front of two node HTTP backends (\`balance roundrobin\`), under keep-alive load for the whole run, while ` +
        `${r.reloads} applies go through createApplier, each a new revision (\`http-response set-header X-Rev N\`), ` +
        '100-200 ms apart. A request counts as failed on an error status, a socket error (connect, read, write) or a timeout. ' +
        'Latency is the load generator\'s, per request.',
      '',
      mdTable(reloadTable(c ? [r, c] : [r])),
      '',
      ...reloadNotes(r).flatMap((n) => [n, '']),
      ...(c ? reloadNotes(c).slice(0, 2).flatMap((n) => [n, '']) : []),
      'The config has `option idle-close-on-response` in its defaults: without it, HAProxy (2.4 and later) closes the ' +
        'old worker\'s idle keep-alive client connections at once on soft-stop, and a client that has just sent its next ' +
        'request on one sees the connection close without an answer (a read error in wrk, ECONNRESET in node; a browser ' +
        'retries an idempotent request, a load balancer in front may answer 502). With it, the old worker answers the ' +
        'next request with `Connection: close` and closes after that, which every HTTP/1.1 client handles. The control ' +
        `row${c ? '' : ' (skipped in this run)'} is the same run without the option, ${c ? c.reloads : 'N'} reloads, ` +
        'not counted as a failure of the benchmark. No connection was refused in either: in master-worker mode the ' +
        'master passes `-x sockpair@...` itself on reload, so the new worker takes over the old one\'s listening sockets.',
      '',
    );
  }
  if (res.overhead) {
    L.push(
      '### 2. Per-apply overhead beside the floor',
      '',
      `For each size, ${o.rounds} interleaved rounds of: the check floor (\`haproxy -c -f haproxy.cfg\` by execFile in the ` +
        'config dir), the reload floor (a raw master-CLI `reload`, then raw `show proc` every 1 ms until it lists a new ' +
        'current worker; timed from sending `reload`), and one `createApplier().apply()` of a new revision (X-Rev N). ' +
        'Each cell is median / p90 in ms; backends have one server each, no health checks.',
      '',
      '- **agent total**: `timings.totalMs` (everything apply() does, lock to manifest).',
      '- **agent checkMs / writeMs / reloadMs**: its own breakdown (whole ms, as the pipeline rounds them); **rest** = total − the three (recovery check, ' +
        'hashing, staging the files, the preflight `show proc`, the manifest and journal writes with their fsyncs).',
      `- **overhead** = median agent total − (median check floor + median reload floor). Goal: ≤ ${GOAL_OVERHEAD_MS} ms per apply.`,
      '',
      mdTable(overheadTable(res.overhead)),
      '',
      'Where the overhead goes (medians):',
      '',
      mdTable(overheadSplitTable(res.overhead)),
      '',
      '"of which: new worker answers @1" is how much later than being listed the new worker answers `@1 show info` ' +
        '(measured by the floor loop too): the agent waits for that on purpose (a listed worker may still be starting), ' +
        'and then reads `@1 show stat -1 1 -1` to make sure no frontend is PAUSED.',
      '',
    );
  }
  if (res.idle) {
    const p = res.idle;
    L.push(
      '### 3. Idle agent with 1,000 servers',
      '',
      `The real API server (embedded store), HAProxy with ${p.servers.toLocaleString('en-US')} servers (100 backends × 10, ` +
        'unused loopback ports, no health checks), and the real `hq-agent run` with `--heartbeat-seconds 5 --resync-seconds 5` ' +
        '(and its fixed 2 s `show proc` probe), pinned through the API to a revision of that config (HAProxyConfig created, ' +
        'instance `spec.configRevision` patched). Once the revision is applied and Ready, and 6 s more, ' +
        `${p.seconds} s of samples: VmRSS each second from /proc/PID/status (steady = median, peak = max), VmHWM at the ` +
        'end (peak over the process\'s life, start-up and apply included), CPU = utime + stime from /proc/PID/stat over ' +
        'the window. Status writes = MODIFIED events of the instance on a watch over the window (only the agent writes ' +
        'it); bytes/write = size of the written object; events = Event objects it created in the window. ' +
        p.bundleNote,
      '',
      mdTable(idleTable(p)),
      '',
      mdTable(baselineTable(p)),
      '',
      ...idleNotes(p).flatMap((n) => [n, '']),
    );
  }
  L.push(END_MARK);
  return L.join('\n');
}


// ---------------------------------------------------------------------------------------------

interface Opts {
  reloads: number;
  connections: number;
  load: 'auto' | 'wrk' | 'node';
  rounds: number;
  idleSeconds: number;
  parts: Set<string>;
  profile?: string;
  controlReloads: number;
}


async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        reloads: { type: 'string' },
        connections: { type: 'string' },
        load: { type: 'string' },
        rounds: { type: 'string' },
        'idle-seconds': { type: 'string' },
        parts: { type: 'string' },
        profile: { type: 'string' },
        'control-reloads': { type: 'string' },
        'no-doc': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        // child mode: the node load generator
        loadgen: { type: 'boolean' },
        port: { type: 'string' },
      },
      strict: true,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values } = parsed;
  if (values.loadgen) {
    await loadgen(intOption(values.port, 0, 'port', 1), intOption(values.connections, 16, 'connections', 1));
    return 0;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const load = values.load ?? 'auto';
  if (load !== 'auto' && load !== 'wrk' && load !== 'node') throw new UsageError('--load must be auto, wrk or node');
  const parts = new Set((values.parts ?? 'reload,overhead,idle').split(',').map((s) => s.trim()).filter(Boolean));
  for (const p of parts) if (!['reload', 'overhead', 'idle'].includes(p)) throw new UsageError(`--parts: unknown part ${JSON.stringify(p)}`);
  const o: Opts = {
    reloads: intOption(values.reloads, 100, 'reloads', 1),
    connections: intOption(values.connections, 16, 'connections', 1),
    load,
    rounds: intOption(values.rounds, 20, 'rounds', 3),
    idleSeconds: intOption(values['idle-seconds'], 60, 'idle-seconds', 5),
    parts,
    controlReloads: intOption(values['control-reloads'], 30, 'control-reloads', 0),
  };
  if (values.profile) {
    mkdirSync(values.profile, { recursive: true });
    o.profile = values.profile;
  }

  const started = hr();
  const log = (s: string) => process.stderr.write(`[${(msSince(started) / 1000).toFixed(1).padStart(5)} s] ${s}\n`);
  const bin = process.env.HQ_HAPROXY_BIN ?? findOnPath('haproxy') ?? 'haproxy';
  const m = machine(bin);
  log(`${m.cpu} × ${m.cores}, ${m.memGiB.toFixed(1)} GiB, Node ${m.node}, ${m.haproxy}, load ${m.load.toFixed(2)}`);

  const res: Results = {};
  if (parts.has('reload')) {
    res.reload = await partReloads(o, { reloads: o.reloads, plain: false }, log);
    if (o.controlReloads > 0) res.control = await partReloads(o, { reloads: o.controlReloads, plain: true }, log);
  }
  if (parts.has('overhead')) res.overhead = await partOverhead(o, log);
  if (parts.has('idle')) res.idle = await partIdle(o, log);
  const total = msSince(started) / 1000;

  const out = (s: string) => process.stdout.write(`${s}\n`);
  if (res.reload) {
    out('\n1. Reloads under load\n');
    out(textTableOf(reloadTable(res.control ? [res.reload, res.control] : [res.reload])));
    for (const n of reloadNotes(res.reload)) out(n);
    if (res.control) for (const n of reloadNotes(res.control).slice(0, 2)) out(n);
  }
  if (res.overhead) {
    out('\n2. Per-apply overhead beside the floor (ms, median / p90)\n');
    out(textTableOf(overheadTable(res.overhead)));
    out('');
    out(textTableOf(overheadSplitTable(res.overhead)));
  }
  if (res.idle) {
    out(`\n3. Idle agent with ${res.idle.servers} servers, ${res.idle.seconds} s\n`);
    out(textTableOf(idleTable(res.idle)));
    out('');
    out(textTableOf(baselineTable(res.idle)));
    for (const n of idleNotes(res.idle)) out(n);
    if (res.idle.profileDir) out(`Profiles of the source agent (written when it exited): ${res.idle.profileDir}`);
  }
  out(`\nTotal: ${total.toFixed(0)} s`);
  const all = parts.size === 3;
  if (!values['no-doc'] && all) {
    const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    writeDocSection('agent', section(res, m, o, date, total));
    out(`Wrote ${DOC}`);
  } else if (!values['no-doc']) {
    out(`Not writing ${DOC}: only some parts ran (--parts).`);
  }

  const failures = res.reload?.failures ?? [];
  if (failures.length > 0) {
    process.stderr.write(`\nbench-agent FAILED:\n${failures.map((f) => `  - ${f}`).join('\n')}\n`);
    return 1;
  }
  return 0;
}

runMain('bench-agent', USAGE, main);
