/**
 * Fleet benchmark (`npm run bench:fleet`; `npm run bench:fleet -- --help` for options).
 *
 * For each fleet size N it starts the real API server (embedded store, fresh data dir) and, in a
 * separate child process (its own file descriptors and CPU accounting), N simulated agents
 * (scripts/lib/fleet-sim.ts) that register, watch, apply and report as hq-agent does on the wire.
 * Then, per trial, it applies a new generation of the HAProxyConfig that selects them all (a PUT
 * of the config, as `hqctl apply` does) and measures, per agent, the time from the start of that
 * request to the moment the agent's status write showing the new revision succeeded:
 *
 *   controller   the real path: the PUT only; the server's rollout controller moves every
 *                instance to the new revision (AllAtOnce; one Rolling run at 1,000 with canary 1
 *                and maxUnavailable 10 %).
 *   direct       a comparison row: the config selects no instance, and the benchmark itself pins
 *                spec.configRevision on every instance right after the PUT (merge patches,
 *                64 in flight), as a person or script could.
 *
 * Also measured in the same run: the server's RSS (VmRSS) after start, idle with N agents
 * watching, and at its peak during each rollout (sampled every 25 ms); the server's and the
 * simulator's CPU per rollout; the store writes per rollout (the store's revision moves by one
 * per write) and what they were; the idle write rate (Lease renewals, stats rewrites); and the
 * store's own write latency floor (openSqliteStorage update transactions in this process on the
 * same disk, as bench-api.ts measures it).
 *
 * Every agent must report the new revision as applied: a trial that times out or sees a failed
 * apply is recorded as failed with what was known, and the run exits non-zero after writing
 * everything. Results go to stdout and to docs/benchmarks.md between `<!-- bench:fleet:start -->`
 * and `<!-- bench:fleet:end -->`; the rest of that file is kept as it is.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DOC, UsageError, machineFacts, type Machine, filesystemOf, memory, processCpuMs, quantile, runMain, textTable, writeDocSection, intOption, intListOption } from './lib/bench.ts';
import { clock, startFleet, type Fleet, type FleetCounts, type FleetOptions, type RevisionTimings } from './lib/fleet-sim.ts';
import { openSqliteStorage } from '../api-server/src/storage/sqlite-storage.ts';
import { SERVER_ENV, SERVER_NODE_FLAGS, startServer } from '../api-server/test/support/server.ts';
import { BenchApi } from './lib/api-client.ts';
import { connectionFloor, type ConnectionFloor } from './lib/connection-floor.ts';
import { IpcChild, serve } from './lib/ipc.ts';

const SELF = fileURLToPath(import.meta.url);
const NS = '/apis/haproxyhq.io/v1alpha1/namespaces/default';
const CONFIG = 'fleet';
const FLEET_LABELS = { fleet: 'bench', role: 'edge' };

const USAGE = `Usage: npm run bench:fleet -- [options]

  --sizes LIST            fleet sizes (default 100,1000,10000)
  --trials LIST           trials per size, one number or one per size (default 5,5,3)
  --warmup N              untimed rollouts per size before the trials (default 1; reported apart)
  --modes LIST            controller,direct (default both; controller is the real path)
  --no-rolling            skip the Rolling run at 1,000
  --apply-ms N            simulated apply time per agent, ±50 % (default 50)
  --coalesce-ms N         the agents' coalescing window (default 0; hq-agent's default is 500)
  --heartbeat-seconds N   Lease renewal interval (default 10, as hq-agent)
  --stats-seconds N       status rewrite interval without a change (default 60, as hq-agent)
  --stats-servers N       servers in each status's show stat summary (default 10)
  --timeout-seconds N     longest a rollout may take before the trial fails (default 300)
  --start-per-second N    agents started per second (default 0: all at once, 256 requests in flight)
  --history-revisions N   the server's --history-revisions (default: the server's own; it keeps
                          5 minutes of history as well, however many revisions that is)
  --audit-omit LIST       the server's --audit-omit (default: none, every write audited; e.g. leases)
  --profile DIR           run the server and the simulator under --cpu-prof, writing .cpuprofile
                          files to DIR (the simulator's to DIR/simulator)
  --no-doc                print only; leave docs/benchmarks.md alone
`;

interface Opts {
  sizes: number[];
  trials: number[];
  warmup: number;
  modes: Mode[];
  rolling: boolean;
  applyMs: number;
  coalesceMs: number;
  heartbeatSeconds: number;
  statsSeconds: number;
  statsServers: number;
  timeoutMs: number;
  startPerSecond: number;
  historyRevisions?: number;
  auditOmit?: string;
  profile?: string;
}

type Mode = 'controller' | 'direct';

// ---------------------------------------------------------------------------------------------
// The simulator child: the fleet in its own process, driven over IPC.

type SimRequest =
  | { cmd: 'start'; options: FleetOptions }
  | { cmd: 'ready'; timeoutMs: number }
  | { cmd: 'done'; revision: string; count: number; timeoutMs: number }
  | { cmd: 'timings'; revision: string }
  | { cmd: 'counts' }
  | { cmd: 'memory' }
  | { cmd: 'stop' };

interface SimMemory {
  /** Growth since before the fleet started, bytes (after a full GC). */
  rss: number;
  heapUsed: number;
  external: number;
  rssTotal: number;
}

function simChild(): void {
  let fleet: Fleet | undefined;
  const gc = () => (globalThis as { gc?: () => void }).gc?.();
  gc();
  const base = process.memoryUsage();
  serve<SimRequest>(async (msg) => {
    switch (msg.cmd) {
      case 'start':
        fleet = startFleet(msg.options);
        return undefined;
      case 'ready':
        return fleet!.ready(msg.timeoutMs);
      case 'done':
        return fleet!.done(msg.revision, msg.count, msg.timeoutMs);
      case 'timings':
        return fleet!.timings(msg.revision);
      case 'counts':
        return fleet!.counts();
      case 'memory': {
        gc();
        const m = process.memoryUsage();
        return { rss: m.rss - base.rss, heapUsed: m.heapUsed - base.heapUsed, external: m.external - base.external, rssTotal: m.rss } satisfies SimMemory;
      }
      case 'stop':
        await fleet?.stop();
        setTimeout(() => process.exit(0), 50);
        return undefined;
    }
  });
}

/** Where --profile DIR puts the simulator's profiles. */
const simProfileDir = (profile: string) => join(profile, 'simulator');

/** The parent's handle on a simulator child. */
class Sim extends IpcChild {
  /** `profileDir`: run under --cpu-prof, writing its .cpuprofile there (simProfileDir of --profile). */
  constructor(profileDir?: string) {
    const prof = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
    super('the simulator', SELF, ['--sim-child'], { execArgv: ['--expose-gc', ...prof], serialization: 'advanced' });
  }

  override call<T>(msg: Record<string, unknown> & { cmd: SimRequest['cmd'] }): Promise<T> {
    return super.call<T>(msg);
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise((r) => this.process.once('exit', r));
    await this.call({ cmd: 'stop' }).catch(() => undefined);
    const timer = setTimeout(() => this.process.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// The benchmark's own client: keep-alive HTTPS, failing loudly on anything but a 2xx.


class Api extends BenchApi {
  /** The store's current revision: every write moves it by one. */
  async storeRevision(): Promise<number> {
    const list = await this.call('GET', `${NS}/haproxyconfigs?limit=1`);
    return Number(list.metadata.resourceVersion);
  }
}

// ---------------------------------------------------------------------------------------------
// Measurements

const sortedOf = (v: Iterable<number>) => Float64Array.from(v).sort();

/** haproxy.cfg of the fleet's config, generation-specific: 10 backends of 4 servers. */
function configText(seq: number): string {
  const lines = ['global', '    maxconn 20000', '    hard-stop-after 30s', '', 'defaults', '    mode http', '    option idle-close-on-response',
    '    timeout connect 2s', '    timeout client 30s', '    timeout server 30s', '', 'frontend fe', '    bind :80',
    `    http-response set-header X-Config-Seq ${seq}`, '    default_backend be_0', ''];
  for (let b = 0; b < 10; b++) {
    lines.push(`backend be_${b}`, '    balance roundrobin');
    for (let s = 0; s < 4; s++) lines.push(`    server s${s} 10.0.${b}.${s + 10}:8080 check`);
    lines.push('');
  }
  return lines.join('\n');
}

const selector = (mode: Mode) => ({ matchLabels: mode === 'controller' ? { fleet: 'bench' } : { fleet: 'nobody' } });

type Strategy = { type: 'AllAtOnce' } | { type: 'Rolling'; canary: number; maxUnavailable: string };

interface Trial {
  mode: Mode;
  strategy: Strategy['type'];
  revision: string;
  /** Per agent, ms from the start of the PUT to the status write (NaN: not reported). */
  done: Float64Array;
  /** Per agent, ms from the start of the PUT to its watch delivering the new revision. */
  seen: Float64Array;
  putMs: number;
  pinMs?: number;
  totalMs: number;
  writes: number;
  /** Sim requests during the trial, by kind. */
  requests: Record<string, number>;
  errors: Record<string, number>;
  serverCpuMs: number;
  simCpuMs: number;
  peakRssMiB: number;
  failure?: string;
}

interface Idle {
  seconds: number;
  rssMiB: number;
  cpuPercent: number;
  writesPerSecond: number;
  simRequestsPerSecond: Record<string, number>;
}

interface SizeResult {
  n: number;
  /** The server's --history-revisions, when not its default. */
  history?: number;
  baseRssMiB: number;
  registerSeconds: number;
  idle?: Idle;
  simMemory?: SimMemory;
  trials: Trial[];
  /** The untimed rollouts before the trials (not pooled into any row). */
  warmup: Trial[];
  /** A bare Node HTTPS server holding the same N watches (scripts/lib/connection-floor.ts). */
  floor?: ConnectionFloor;
  failure?: string;
  serverTail?: string;
  /** Where the server's whole output was saved, when something failed. */
  serverLog?: string;
}

const delta = (a: Record<string, number>, b: Record<string, number>) => {
  const out: Record<string, number> = {};
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const d = (b[k] ?? 0) - (a[k] ?? 0);
    if (d) out[k] = d;
  }
  return out;
};

async function pinAll(api: Api, names: readonly string[], revision: string, concurrency: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < names.length; i = next++) {
        await api.call('PATCH', `${NS}/haproxyinstances/${names[i]}`, { spec: { configRevision: revision } }, 'application/merge-patch+json');
      }
    }),
  );
}

/** Sample VmRSS every 25 ms until stopped; returns the peak in MiB. */
function sampleRss(pid: number): () => number {
  let peak = memory(pid).rss;
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, memory(pid).rss);
    } catch {
      // the process is gone; the trial will say why
    }
  }, 25);
  return () => {
    clearInterval(timer);
    return peak;
  };
}

/** Log how the fleet and the server stand every 10 s while `wait` runs (long waits say what they wait on). */
async function withProgress<T>(sim: Sim, pid: number, what: string, log: (s: string) => void, wait: Promise<T>): Promise<T> {
  let cpu = processCpuMs(pid);
  const timer = setInterval(() => {
    void sim.call<FleetCounts>({ cmd: 'counts' }).then((c) => {
      const now = processCpuMs(pid);
      const errors = Object.entries(c.errors).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
      log(
        `  ${what}: registered ${c.registered}, watching ${c.watching}, reported ${c.reported}; in flight ${c.inFlight}, queued ${c.queued}; ` +
          `watch reconnects ${c.watchReconnects} (410: ${c.gone}); errors ${errors}; server ${(memory(pid).rss).toFixed(0)} MiB, ${((now - cpu) / 100).toFixed(0)} % CPU`,
      );
      cpu = now;
    }, () => undefined);
  }, 10_000);
  try {
    return await wait;
  } finally {
    clearInterval(timer);
  }
}

async function benchSize(n: number, trials: number, o: Opts, log: (s: string) => void): Promise<SizeResult> {
  const history = o.historyRevisions;
  const server = await startServer({
    args: [...(history ? ['--history-revisions', String(history)] : []), ...(o.auditOmit ? ['--audit-omit', o.auditOmit] : [])],
    env: o.profile ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${o.profile}` } : {},
  });
  const pid = server.child.pid!;
  // Interrupted: the server child is killed by its own exit hook; its data dir goes with it.
  const cleanup = () => rmSync(server.dataDir, { recursive: true, force: true });
  process.once('exit', cleanup);
  const api = new Api(server, 64);
  const sim = new Sim(o.profile && simProfileDir(o.profile));
  const result: SizeResult = { n, history, baseRssMiB: memory(pid).rss, registerSeconds: NaN, trials: [], warmup: [] };
  const names = Array.from({ length: n }, (_, i) => `sim-${String(i).padStart(5, '0')}`);
  let seq = 0;
  const firstMode = o.modes[0]!;
  let event: string | undefined;
  try {
    await api.call('POST', `${NS}/haproxyconfigs`, {
      apiVersion: 'haproxyhq.io/v1alpha1',
      kind: 'HAProxyConfig',
      metadata: { name: CONFIG },
      spec: { config: configText(++seq), instanceSelector: selector(firstMode), strategy: { type: 'AllAtOnce' } },
    });
    log(`N=${n}: starting ${n} simulated agents`);
    await sim.call({
      cmd: 'start',
      options: {
        server: server.url, token: server.token, ca: server.ca, count: n, labels: FLEET_LABELS,
        applyMs: o.applyMs, coalesceMs: o.coalesceMs, heartbeatSeconds: o.heartbeatSeconds, statsSeconds: o.statsSeconds, statsServers: o.statsServers,
        startPerSecond: o.startPerSecond,
      } satisfies FleetOptions,
    });
    const t0 = clock();
    await withProgress(sim, pid, 'registering', log, sim.call({ cmd: 'ready', timeoutMs: Math.max(60_000, n * 120) }));
    result.registerSeconds = (clock() - t0) / 1000;
    log(`N=${n}: all registered, watching and reported in ${result.registerSeconds.toFixed(1)} s`);
    // The first revision: the controller moves instances as they register; direct mode pins it.
    if (firstMode === 'direct') await pinAll(api, names, `${CONFIG}-1`, 64);
    try {
      await withProgress(sim, pid, `waiting for ${CONFIG}-1`, log, sim.call({ cmd: 'done', revision: `${CONFIG}-1`, count: n, timeoutMs: Math.max(30_000, n * 10) }));
    } catch (err) {
      throw new Error(
        firstMode === 'controller'
          ? `the instances did not all reach ${CONFIG}-1 through the rollout controller (${(err as Error).message}): is the controller running? --modes direct measures without it`
          : (err as Error).message,
      );
    }
    // Let the start-up burst pass: every Lease has had its random-phase renewal by then.
    await new Promise((r) => setTimeout(r, (o.heartbeatSeconds + 2) * 1000));
    result.idle = await measureIdle(api, sim, pid, o.heartbeatSeconds);
    result.simMemory = await sim.call<SimMemory>({ cmd: 'memory' });
    log(`N=${n}: idle server RSS ${result.idle.rssMiB.toFixed(0)} MiB, ${result.idle.cpuPercent.toFixed(1)} % CPU, ${result.idle.writesPerSecond.toFixed(0)} writes/s`);

    // Warm-up: the server's first rollouts also pay for JIT compilation and for the store's first
    // pass through a new WAL file (it is reused after its first checkpoint); reported apart.
    for (let w = 0; w < o.warmup; w++) {
      const trial = await runTrial(api, sim, pid, names, firstMode, { type: 'AllAtOnce' }, ++seq, o, log);
      result.warmup.push(trial);
      const times = sortedOf(trial.done.filter(Number.isFinite));
      log(`N=${n}: warm-up ${w + 1}/${o.warmup} (${firstMode}): ${trial.failure ? `FAILED: ${trial.failure}; ` : ''}p50 ${quantile(times, 0.5).toFixed(0)} ms, p99 ${quantile(times, 0.99).toFixed(0)} ms, peak RSS ${trial.peakRssMiB.toFixed(0)} MiB`);
      if (trial.failure) throw new Error(`warm-up rollout failed: ${trial.failure}`);
      await new Promise((r) => setTimeout(r, 2_000));
    }
    const plan: { mode: Mode; strategy: Strategy }[] = [];
    for (const mode of o.modes) {
      for (let t = 0; t < trials; t++) plan.push({ mode, strategy: { type: 'AllAtOnce' } });
      if (mode === 'controller' && o.rolling && n === 1000) plan.push({ mode, strategy: { type: 'Rolling', canary: 1, maxUnavailable: '10%' } });
    }
    for (const [k, p] of plan.entries()) {
      const startedAt = Date.now();
      const trial = await runTrial(api, sim, pid, names, p.mode, p.strategy, ++seq, o, log);
      // Wall-clock bounds, to find the trial in a --profile of the server.
      if (o.profile) log(`  trial window: ${startedAt} .. ${Date.now()} (epoch ms)`);
      result.trials.push(trial);
      const done = trial.done.filter((v) => Number.isFinite(v)).length;
      log(
        `N=${n}: trial ${k + 1}/${plan.length} (${p.mode}, ${p.strategy.type}): ${trial.failure ? `FAILED: ${trial.failure}; ` : ''}` +
          `${done}/${n} in ${(trial.totalMs / 1000).toFixed(2)} s, p50 ${quantile(sortedOf(trial.done.filter(Number.isFinite)), 0.5).toFixed(0)} ms, ` +
          `p99 ${quantile(sortedOf(trial.done.filter(Number.isFinite)), 0.99).toFixed(0)} ms, ${trial.writes} writes, peak RSS ${trial.peakRssMiB.toFixed(0)} MiB`,
      );
      if (trial.failure) break;
      await new Promise((r) => setTimeout(r, 2_000));
    }
    // The connection floor's event: an instance as this server's watch sends it, after a rollout.
    event = JSON.stringify({ type: 'MODIFIED', object: await api.call('GET', `${NS}/haproxyinstances/${names[0]}`) });
  } catch (err) {
    result.failure = (err as Error).message;
    log(`N=${n}: FAILED: ${result.failure}`);
  } finally {
    result.serverTail = server.output().slice(-4000);
    if (o.profile || result.failure || result.trials.some((t) => t.failure)) {
      result.serverLog = join(o.profile ?? tmpdir(), `bench-fleet-server-${n}-${Date.now()}.log`);
      log(`N=${n}: the server's output is in ${result.serverLog}`);
      writeFileSync(result.serverLog, server.output());
    }
    if (o.profile) log(`  stopping the simulator at ${Date.now()} (epoch ms; its profile ends here)`);
    await sim.stop();
    api.close();
    if (o.profile) log(`  stopping the server at ${Date.now()} (epoch ms; its profile ends here)`);
    await server.stop();
    server.cleanup();
    process.off('exit', cleanup);
  }
  if (event !== undefined) {
    log(`N=${n}: connection floor: a bare Node HTTPS server holding ${n} watches`);
    try {
      result.floor = await connectionFloor(n, event);
      const f = result.floor;
      log(`N=${n}: connection floor: ${f.startMiB.toFixed(0)} MiB listening, ${f.openMiB.toFixed(0)} MiB with ${n} watches, ${f.afterEventMiB.toFixed(0)} MiB after one ${f.eventBytes}-byte event each`);
    } catch (err) {
      result.failure = `the connection floor failed: ${(err as Error).message}`;
      log(`N=${n}: FAILED: ${result.failure}`);
    }
  }
  return result;
}

async function measureIdle(api: Api, sim: Sim, pid: number, seconds: number): Promise<Idle> {
  const rv0 = await api.storeRevision();
  const c0 = await sim.call<FleetCounts>({ cmd: 'counts' });
  const cpu0 = processCpuMs(pid);
  const t0 = clock();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const elapsed = (clock() - t0) / 1000;
  const cpu = processCpuMs(pid) - cpu0;
  const rv1 = await api.storeRevision();
  const c1 = await sim.call<FleetCounts>({ cmd: 'counts' });
  const perSecond: Record<string, number> = {};
  for (const [k, v] of Object.entries(delta(c0.requests, c1.requests))) perSecond[k] = v / elapsed;
  return { seconds: elapsed, rssMiB: memory(pid).rss, cpuPercent: (cpu / 10) / elapsed, writesPerSecond: (rv1 - rv0) / elapsed, simRequestsPerSecond: perSecond };
}

async function runTrial(api: Api, sim: Sim, pid: number, names: string[], mode: Mode, strategy: Strategy, seq: number, o: Opts, log: (s: string) => void): Promise<Trial> {
  const current = await api.call('GET', `${NS}/haproxyconfigs/${CONFIG}`);
  const body = { ...current, spec: { ...current.spec, config: configText(seq), instanceSelector: selector(mode), strategy } };
  const rv0 = await api.storeRevision();
  const c0 = await sim.call<FleetCounts>({ cmd: 'counts' });
  const cpu0 = processCpuMs(pid);
  const simCpu0 = processCpuMs(sim.process.pid!);
  const stopSampling = sampleRss(pid);
  const t0 = clock();
  const updated = await api.call('PUT', `${NS}/haproxyconfigs/${CONFIG}`, body);
  const putMs = clock() - t0;
  const revision = `${CONFIG}-${updated.metadata.generation}`;
  let pinMs: number | undefined;
  if (mode === 'direct') {
    await pinAll(api, names, revision, 64);
    pinMs = clock() - t0;
  }
  let failure: string | undefined;
  try {
    await withProgress(sim, pid, `rolling out ${revision}`, log, sim.call({ cmd: 'done', revision, count: names.length, timeoutMs: o.timeoutMs }));
  } catch (err) {
    failure = (err as Error).message;
  }
  const totalMs = clock() - t0;
  const peakRssMiB = stopSampling();
  const serverCpuMs = processCpuMs(pid) - cpu0;
  const simCpuMs = processCpuMs(sim.process.pid!) - simCpu0;
  const rv1 = await api.storeRevision();
  const c1 = await sim.call<FleetCounts>({ cmd: 'counts' });
  const t = await sim.call<RevisionTimings>({ cmd: 'timings', revision });
  const done = t.doneAt.map((v) => v - t0);
  const seen = t.seenAt.map((v) => v - t0);
  const failed = t.ok.reduce((a, ok, i) => a + (Number.isFinite(t.doneAt[i]!) && !ok ? 1 : 0), 0);
  if (!failure && failed > 0) failure = `${failed} agent(s) reported a failed apply`;
  return {
    mode, strategy: strategy.type, revision, done, seen, putMs, pinMs, totalMs,
    writes: rv1 - rv0, requests: delta(c0.requests, c1.requests), errors: delta(c0.errors, c1.errors),
    serverCpuMs, simCpuMs, peakRssMiB, failure,
  };
}

/** Raw store write latency: update transactions of an instance-sized value, one at a time. */
async function storeFloor(count: number): Promise<{ p50: number; p99: number; opsPerSec: number; fs: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'hq-bench-fleet-'));
  const storage = openSqliteStorage({ path: join(dir, 'store.db') });
  try {
    const key = '/registry/haproxyhq.io/haproxyinstances/default/floor';
    const value = (i: number) => JSON.stringify({ apiVersion: 'haproxyhq.io/v1alpha1', kind: 'HAProxyInstance', metadata: { name: 'floor' }, seq: i, pad: 'x'.repeat(3000) });
    let [kv] = await storage.txn([{ type: 'create', key, value: value(0) }]);
    const lat = new Float64Array(count);
    const start = clock();
    for (let i = 0; i < count + 100; i++) {
      const t0 = clock();
      [kv] = await storage.txn([{ type: 'update', key, value: value(i + 1), expectedModRevision: kv!.modRevision }]);
      if (i >= 100) lat[i - 100] = clock() - t0; // the first 100 warm up
    }
    const wall = clock() - start;
    const sorted = sortedOf(lat);
    return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), opsPerSec: (count + 100) / (wall / 1000), fs: filesystemOf(dir) };
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}


// ---------------------------------------------------------------------------------------------
// Output

const GOALS: Record<number, { p99Ms?: number; rssMiB?: number }> = { 1000: { p99Ms: 1000 }, 10000: { p99Ms: 5000, rssMiB: 1024 } };

const fmtMs = (v: number) => (!Number.isFinite(v) ? 'n/a' : v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`);
const n0 = (v: number) => Math.round(v).toLocaleString('en-US');

interface Row {
  n: number;
  mode: string;
  trials: number;
  failedTrials: number;
  p50: number;
  p99: number;
  /** Time until all N reported: median and worst over trials. */
  allMedian: number;
  allWorst: number;
  seenP50: number;
  seenP99: number;
  writes: number;
  statusWrites: number;
  serverCpuS: number;
  simCpuS: number;
  peakRssMiB: number;
  goal: string;
}

function rows(results: SizeResult[]): Row[] {
  const out: Row[] = [];
  for (const r of results) {
    const groups = new Map<string, Trial[]>();
    for (const t of r.trials) {
      const key = t.mode === 'direct' ? 'direct (benchmark pins)' : `controller, ${t.strategy}${t.strategy === 'Rolling' ? ' (canary 1, 10 %)' : ''}`;
      groups.set(key, [...(groups.get(key) ?? []), t]);
    }
    for (const [mode, ts] of groups) {
      const done = sortedOf(ts.flatMap((t) => [...t.done].filter(Number.isFinite)));
      const seen = sortedOf(ts.flatMap((t) => [...t.seen].filter(Number.isFinite)));
      const all = sortedOf(ts.filter((t) => !t.failure).map((t) => t.totalMs));
      const mean = (f: (t: Trial) => number) => ts.reduce((a, t) => a + f(t), 0) / ts.length;
      const peak = Math.max(...ts.map((t) => t.peakRssMiB));
      const p99 = quantile(done, 0.99);
      const g = GOALS[r.n];
      const goals: string[] = [];
      if (g?.p99Ms !== undefined && ts[0]!.strategy === 'AllAtOnce') goals.push(`p99 ≤ ${fmtMs(g.p99Ms)}: ${p99 <= g.p99Ms && !ts.some((t) => t.failure) ? 'met' : 'missed'}`);
      if (g?.rssMiB !== undefined) goals.push(`RSS ≤ 1 GiB: ${peak <= g.rssMiB ? 'met' : 'missed'}`);
      out.push({
        n: r.n,
        mode,
        trials: ts.length,
        failedTrials: ts.filter((t) => t.failure).length,
        p50: quantile(done, 0.5),
        p99,
        allMedian: quantile(all, 0.5),
        allWorst: all.length ? all[all.length - 1]! : NaN,
        seenP50: quantile(seen, 0.5),
        seenP99: quantile(seen, 0.99),
        writes: mean((t) => t.writes),
        statusWrites: mean((t) => t.requests.status ?? 0),
        serverCpuS: mean((t) => t.serverCpuMs) / 1000,
        simCpuS: mean((t) => t.simCpuMs) / 1000,
        peakRssMiB: peak,
        goal: goals.join('; '),
      });
    }
  }
  return out;
}

const HEAD = ['N', 'path', 'trials', 'p50', 'p99', 'all N applied (median / worst)', 'watch saw it p50 / p99', 'store writes per rollout', 'server CPU per rollout (per agent)', 'simulator CPU', 'server peak RSS', 'goal'];
const cells = (r: Row) => [
  n0(r.n), r.mode, `${r.trials}${r.failedTrials ? ` (${r.failedTrials} failed)` : ''}`, fmtMs(r.p50), fmtMs(r.p99),
  `${fmtMs(r.allMedian)} / ${fmtMs(r.allWorst)}`, `${fmtMs(r.seenP50)} / ${fmtMs(r.seenP99)}`, n0(r.writes),
  `${r.serverCpuS.toFixed(2)} s (${((r.serverCpuS * 1000) / r.n).toFixed(2)} ms)`, `${r.simCpuS.toFixed(2)} s`, `${n0(r.peakRssMiB)} MiB`, r.goal,
];

const mdTable = (head: string[], body: string[][]) =>
  [head, head.map((_, i) => (i < 2 || i === head.length - 1 ? '---' : '---:')), ...body].map((row) => `| ${row.join(' | ')} |`).join('\n');

const SIZE_HEAD = ['N', 'server flags', 'server RSS at start', 'registration (all watching and reported)', 'server RSS idle with N watching', 'per watching agent', 'floor: bare HTTPS, N watches open / after one event each', 'idle server CPU', 'idle store writes/s', 'simulator memory per agent (RSS / JS heap)'];
function sizeCells(r: SizeResult): string[] {
  const idle = r.idle;
  const per = idle ? ((idle.rssMiB - r.baseRssMiB) * 1024) / r.n : NaN;
  return [
    n0(r.n),
    r.history ? `--history-revisions ${r.history}` : 'defaults',
    `${n0(r.baseRssMiB)} MiB`,
    Number.isFinite(r.registerSeconds) ? `${r.registerSeconds.toFixed(1)} s` : 'n/a',
    idle ? `${n0(idle.rssMiB)} MiB` : 'n/a',
    Number.isFinite(per) ? `${per.toFixed(1)} KiB` : 'n/a',
    r.floor ? `${n0(r.floor.openMiB)} / ${n0(r.floor.afterEventMiB)} MiB` : 'n/a',
    idle ? `${idle.cpuPercent.toFixed(1)} %` : 'n/a',
    idle ? `${idle.writesPerSecond.toFixed(0)}` : 'n/a',
    r.simMemory ? `${(r.simMemory.rss / 1024 / r.n).toFixed(1)} KiB / ${(r.simMemory.heapUsed / 1024 / r.n).toFixed(1)} KiB` : 'n/a',
  ];
}

const machine = machineFacts;

/** The untimed warm-up rollouts of each N, one line each. */
function warmups(results: SizeResult[]): string[] {
  const lines = results.flatMap((res) =>
    res.warmup.map((t, i) => {
      const times = sortedOf(t.done.filter(Number.isFinite));
      return `- N=${n0(res.n)}, warm-up ${i + 1} (${t.mode}): p50 ${fmtMs(quantile(times, 0.5))}, p99 ${fmtMs(quantile(times, 0.99))}, ` +
        `all applied in ${fmtMs(t.totalMs)}, server peak RSS ${n0(t.peakRssMiB)} MiB${t.failure ? `; failed: ${t.failure}` : ''}.`;
    }),
  );
  return lines.length > 0 ? ['Warm-up rollouts (not in the table):', '', ...lines, ''] : [];
}

/** The connection floor and what the API server needs above it. */
function floorLines(results: SizeResult[]): string[] {
  const measured = results.filter((r) => r.floor);
  if (measured.length === 0) return [];
  const lines = [
    'Connection floor, measured in the same run once each N\'s API server had stopped (`scripts/lib/connection-floor.ts`): a bare `node:https` server, started as ' +
      'the API server is (same Node, flags and environment; the same kind of certificate, from the server\'s own `ensureTls`), holds N watches, each on its own TLS ' +
      'connection from another process (headers sent, chunked, nothing else), then writes each of them one watch event: an instance as the API server\'s watch ' +
      'sent it after the trials. This is what Node\'s HTTPS alone keeps for N agents\' watches; the rest of the API server\'s RSS is its own. ' +
      'The API server is set beside the floor after the event even when idle: by then every watch has carried its instance at least once ' +
      '(registration moves each instance to the first revision).',
    '',
  ];
  for (const r of measured) {
    const f = r.floor!;
    const peak = Math.max(...r.trials.map((t) => t.peakRssMiB));
    const perEvent = ((f.afterEventMiB - f.openMiB) * 1024) / r.n;
    lines.push(
      `- N=${n0(r.n)}: floor ${n0(f.startMiB)} MiB listening, ${n0(f.openMiB)} MiB with the watches open, ${n0(f.afterEventMiB)} MiB after one ${n0(f.eventBytes)}-byte ` +
        `event each (${perEvent.toFixed(1)} KiB per connection for that one write). The API server above the floor after the event: ` +
        `${r.idle ? `${n0(r.idle.rssMiB - f.afterEventMiB)} MiB idle` : 'idle not measured'}` +
        `${Number.isFinite(peak) ? `, ${n0(peak - f.afterEventMiB)} MiB at its rollout peak` : ''}.`,
    );
  }
  lines.push('');
  return lines;
}

function breakdown(results: SizeResult[], floorP50: number): string[] {
  const lines: string[] = [];
  for (const r of results) {
    const t = r.trials.find((x) => !x.failure && x.mode === 'controller' && x.strategy === 'AllAtOnce') ?? r.trials.find((x) => !x.failure);
    if (!t) continue;
    const q = t.requests;
    const other = t.writes - (q.status ?? 0) - (q['status-stats'] ?? 0) - (q.event ?? 0) - (q.lease ?? 0) - (q['lease-create'] ?? 0);
    lines.push(
      `- N=${n0(r.n)} (${t.mode}, one trial): ${n0(t.writes)} store writes = ${n0(q.status ?? 0)} status writes + ${n0(q.event ?? 0)} Events (one per apply, as hq-agent) + ` +
        `${n0((q.lease ?? 0) + (q['lease-create'] ?? 0))} Lease renewals and ${n0(q['status-stats'] ?? 0)} stats rewrites that fell in the window + ` +
        `${n0(other)} by the server and the benchmark (the config and its ConfigRevision, ${t.mode === 'direct' ? 'the benchmark\'s pins' : 'the controller\'s instance moves and config status'}); ` +
        `${n0(q['revision-get'] ?? 0)} ConfigRevision GETs. PUT of the config: ${fmtMs(t.putMs)}${t.pinMs !== undefined ? `; all pins sent after ${fmtMs(t.pinMs)}` : ''}. ` +
        `At the store floor's p50, one transaction per write, the store alone needs ${fmtMs(t.writes * floorP50)} for these writes.`,
    );
  }
  return lines;
}

function section(results: SizeResult[], floor: Awaited<ReturnType<typeof storeFloor>>, m: Machine, o: Opts, date: string, seconds: number): string {
  const r = rows(results);
  const lines = [
    '<!-- bench:fleet:start -->',
    '## Fleet: rollout to N agents (issue 4)',
    '',
    `Reproduce with \`npm run bench:fleet\` (scripts/bench-fleet.ts; \`-- --help\` lists the options). Measured ${date}, in ${Math.round(seconds)} s, ` +
      `on ${m.cpu} × ${m.cores}, ${m.memGiB.toFixed(1)} GiB, ${m.os}, Node ${m.node}; 1-minute load average ${m.load.toFixed(2)} at the start.`,
    '',
    `Method. For each N, the real API server (\`api-server/src/main.ts\`, started as \`npm start\` starts it: ${Object.entries(SERVER_ENV).map(([k, v]) => `\`${k}=${v}\``).join(' ')} ${SERVER_NODE_FLAGS.map((f) => `\`${f}\``).join(' ')}, README "Configuration"; embedded store, fresh data dir, its rollout controller on, ${o.auditOmit ? `\`--audit-omit ${o.auditOmit}\`` : 'every write in the audit log'}) runs in one process and N simulated ` +
      'agents (`scripts/lib/fleet-sim.ts`) in another, so each has its own file descriptors and CPU accounting; both share the machine\'s ' +
      `${m.cores} cores. Each simulated agent does what hq-agent does on the wire: registers its HAProxyInstance, holds its own watch ` +
      '(`fieldSelector=metadata.name=…`, bookmarks, its own TLS connection), GETs each new ConfigRevision itself, records an Event per apply, writes its status ' +
      `through \`/status\` (conditions, applied revision and hash, a show-stat summary of ${o.statsServers} servers), renews a Lease every ${o.heartbeatSeconds} s and ` +
      `rewrites its stats every ${o.statsSeconds} s. An apply takes ${o.applyMs} ms ± 50 % (for a real HAProxy, \`haproxy -c\` plus a verified reload is 70-170 ms, see the agent section); ` +
      `the agents' coalescing window is ${o.coalesceMs} ms (hq-agent's default of 500 ms would add up to that to every number below). ` +
      'Other requests of the simulator share 128 keep-alive connections with at most 256 in flight.',
    '',
    'A trial PUTs a new generation of the one HAProxyConfig (as `hqctl apply` does; its selector matches all N) and measures, for every agent, the time from the start of that ' +
      'PUT to the successful answer to the agent\'s status write that shows the new revision applied. **controller** is the real path: the server\'s rollout controller ' +
      'moves the instances (AllAtOnce unless said). **direct** is a comparison: the config selects no instance and the benchmark pins `spec.configRevision` on every instance ' +
      'itself (merge patches, 64 in flight) right after the PUT. Latencies pool every agent of every trial of a row; "all N applied" is the time until the last agent reported. ' +
      `Before the trials of each N, ${o.warmup === 1 ? 'one rollout is' : `${o.warmup} rollouts are`} run untimed, as bench:api warms up every path: a server's first rollout also pays for ` +
      'JIT compilation and for the store\'s first pass through a new WAL file (reused after its first checkpoint); it is reported below the table, not pooled into it. ' +
      '"watch saw it" is when each agent\'s watch delivered the instance naming the new revision. Store writes per rollout is how far the store\'s revision moved from before ' +
      'the PUT to the last status write (every write moves it by one).',
    '',
    `Store floor, measured in the same run: an update transaction of an instance-sized value on the embedded store (openSqliteStorage in the benchmark process, ` +
      `WAL, each commit fdatasynced before it is answered, on ${floor.fs}), one at a time: p50 ${floor.p50.toFixed(2)} ms, p99 ${floor.p99.toFixed(2)} ms, ${n0(floor.opsPerSec)} writes/s. ` +
      'Writes per rollout × p50 is the time the store alone needs for a rollout when every write is its own transaction.',
    '',
    mdTable(HEAD, r.map(cells)),
    '',
    'Goals: p99 ≤ 1 s at 1,000 and ≤ 5 s at 10,000 (AllAtOnce); server RSS ≤ 1 GiB at 10,000.',
    '',
    ...warmups(results),
    mdTable(SIZE_HEAD, results.map(sizeCells)),
    '',
    'Per watching agent = (server RSS idle with N watching − RSS at start) ÷ N: its watch (TLS connection, request, store watcher, bookmark timer) and the controller\'s ' +
      'cached copies of its instance and Lease. Idle: one heartbeat interval, measured after start-up settled; its writes are Lease renewals and stats rewrites.',
    '',
    ...floorLines(results),
    'Where a rollout\'s writes go:',
    '',
    ...breakdown(results, floor.p50),
    '',
  ];
  lines.push(
    (results.every((r) => !r.history) ? 'Every N runs' : 'Every N without --history-revisions in its server flags runs') +
      ' on the server\'s default history: at least 10,000 revisions and at least the last 5 minutes (`--compaction-interval`), however many revisions ' +
      'that is. A count alone does not fit every fleet: 10,000 revisions are about 10 s of 10,000 agents\' Lease renewals, less than a loaded server takes to ' +
      'answer a re-list and open a watch, and watches then end in 410 over and over (measured while building this benchmark, before the time bound: 46 of 10,000 ' +
      'watching after 5 minutes).',
    '',
  );
  lines.push('`npm run bench:fleet -- --profile DIR` writes a CPU profile of each server and simulator (the trial windows are logged in epoch ms) to find where its time goes.', '');
  for (const res of results) {
    if (res.failure) lines.push(`**N=${n0(res.n)} failed:** ${res.failure}`, '');
    for (const t of res.trials) if (t.failure) lines.push(`**N=${n0(res.n)}, ${t.mode} ${t.strategy}, ${t.revision}:** ${t.failure}; errors seen by the simulator: ${JSON.stringify(t.errors)}`, '');
  }
  lines.push('<!-- bench:fleet:end -->');
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
        warmup: { type: 'string' },
        modes: { type: 'string' },
        'no-rolling': { type: 'boolean' },
        'apply-ms': { type: 'string' },
        'coalesce-ms': { type: 'string' },
        'heartbeat-seconds': { type: 'string' },
        'stats-seconds': { type: 'string' },
        'stats-servers': { type: 'string' },
        'timeout-seconds': { type: 'string' },
        'start-per-second': { type: 'string' },
        'history-revisions': { type: 'string' },
        'audit-omit': { type: 'string' },
        profile: { type: 'string' },
        'no-doc': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return undefined;
  const sizes = intListOption(values.sizes ?? '100,1000,10000', 'sizes', 1);
  const given = intListOption(values.trials ?? '5,5,3', 'trials', 1);
  const trials = sizes.map((n, i) => given[i] ?? given[given.length - 1] ?? (n >= 10_000 ? 3 : 5));
  if (values.trials && given.length === 1) trials.fill(given[0]!);
  const modes = (values.modes ?? 'controller,direct').split(',').map((s) => s.trim()) as Mode[];
  for (const m of modes) if (m !== 'controller' && m !== 'direct') throw new UsageError(`--modes: unknown mode ${JSON.stringify(m)}`);
  return {
    sizes,
    trials,
    warmup: intOption(values.warmup, 1, 'warmup', 0),
    modes,
    rolling: !values['no-rolling'],
    applyMs: intOption(values['apply-ms'], 50, 'apply-ms', 0),
    coalesceMs: intOption(values['coalesce-ms'], 0, 'coalesce-ms', 0),
    heartbeatSeconds: intOption(values['heartbeat-seconds'], 10, 'heartbeat-seconds', 1),
    statsSeconds: intOption(values['stats-seconds'], 60, 'stats-seconds', 1),
    statsServers: intOption(values['stats-servers'], 10, 'stats-servers', 0),
    timeoutMs: intOption(values['timeout-seconds'], 300, 'timeout-seconds', 1) * 1000,
    startPerSecond: intOption(values['start-per-second'], 0, 'start-per-second', 0),
    historyRevisions: values['history-revisions'] === undefined ? undefined : intOption(values['history-revisions'], 0, 'history-revisions', 100),
    auditOmit: values['audit-omit'],
    profile: values.profile,
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
  const m = machine();
  log(`${m.cpu} × ${m.cores}, ${m.memGiB.toFixed(1)} GiB, Node ${m.node}, load ${m.load.toFixed(2)}; sizes ${o.sizes.join(', ')}, trials ${o.trials.join(', ')}, modes ${o.modes.join(', ')}`);
  if (o.profile) mkdirSync(simProfileDir(o.profile), { recursive: true });
  log('store floor: openSqliteStorage update transactions in this process');
  const floor = await storeFloor(2000);
  const results: SizeResult[] = [];
  for (const [i, n] of o.sizes.entries()) results.push(await benchSize(n, o.trials[i]!, o, log));
  const seconds = (clock() - started) / 1000;

  const r = rows(results);
  process.stdout.write(`\nStore floor (update txn, one at a time, ${floor.fs}): p50 ${floor.p50.toFixed(2)} ms, p99 ${floor.p99.toFixed(2)} ms, ${n0(floor.opsPerSec)} writes/s\n\n`);
  process.stdout.write(textTable(HEAD, r.map(cells)) + '\n\n');
  process.stdout.write(textTable(SIZE_HEAD, results.map(sizeCells)) + '\n\n');
  for (const l of breakdown(results, floor.p50)) process.stdout.write(`${l}\n`);
  const failures = results.filter((x) => x.failure || x.trials.some((t) => t.failure));
  for (const f of failures) {
    process.stdout.write(`\nN=${f.n}: ${f.failure ?? f.trials.find((t) => t.failure)!.failure}\n--- last server output (all of it in ${f.serverLog}) ---\n${f.serverTail}\n`);
  }
  process.stdout.write(`\nTotal: ${Math.round(seconds)} s\n`);
  if (!process.argv.includes('--no-doc')) {
    writeDocSection('fleet', section(results, floor, m, o, new Date().toISOString().replace(/\.\d+Z$/, 'Z'), seconds));
    process.stdout.write(`Wrote ${DOC}\n`);
  }
  if (failures.length > 0) process.exitCode = 1;
}

if (process.argv.includes('--sim-child')) simChild();
else {
  // Ctrl-C: exit through 'exit' hooks, which kill the server child and remove its data dir.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  runMain('bench-fleet', USAGE, main);

}
