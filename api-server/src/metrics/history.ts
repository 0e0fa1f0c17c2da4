/**
 * A bounded in-memory history of every instance's traffic, for the console's charts: per
 * instance, samples of current connections, session rate and request rate, and per backend
 * current sessions, session rate and request rate, over the last `windowMs`.
 *
 * The samples come from the statuses agents write (status.haproxy and status.stats), as seen on
 * the server's watch (feed.ts), so every replica holds the same history. Nothing is stored: a
 * restarted server starts with an empty chart that fills as agents report.
 *
 * Bounds, so that a fleet of 10,000 instances at the agents' default rate costs tens of MiB:
 * - samples older than the window are dropped (on write, on read, and by sweep());
 * - at most one sample per series in each `intervalMs` slot of the clock (10 s): a later one in
 *   the same slot replaces it, so a chatty agent cannot grow a series past window/interval + 1;
 * - at most `maxBackends` (64) backend series per instance; the backends past that are not kept
 *   at all (the response says how many);
 * - an instance's series go when it is deleted, or when its samples have all aged out.
 *
 * Layout: one row per sample time, shared by the instance and its backends (they come from the
 * same status write), in two typed arrays per instance: the times (Float64Array, ms) and the
 * values (Uint32Array, row-major: the instance's 3 columns, then 3 per backend, 0xffffffff for
 * "not reported"). Arrays grow by doubling up to the bound and shrink in sweep().
 *
 * Measured (node 24.21, --expose-gc, heap plus array buffers after gc, 10,000 instances x 60
 * samples x 4 backends named like "be_app_0"): 52.1 MiB (41.5 MiB of arrays, 10.6 MiB of heap);
 * memoryBytes() says 52.0 MiB; record() takes about 4.5 us. Sixty samples is an hour of the
 * agent's default --stats-seconds 60. An agent reporting every 10 s or faster fills every slot:
 * 361 rows an hour, 240 MiB for the same fleet. The worst case per instance is
 * (window / 10 s + 1) x (20 + 12 x backends) bytes: 287 KiB for an hour of 64 backends.
 */
import type { BackendSeries, InstanceSeries } from '@haproxyhq/schemas';

/** One sample per series per this many milliseconds (the latest in each slot wins). */
export const DEFAULT_INTERVAL_MS = 10_000;
/** Backend series kept per instance; the rest are dropped (and counted in the response). */
export const DEFAULT_MAX_BACKENDS = 64;

/** A value the agent did not report. Real values are clamped below it. */
const MISSING = 0xffff_ffff;
const INSTANCE_COLUMNS = 3;
const BACKEND_COLUMNS = 3;
const INITIAL_ROWS = 8;
/**
 * What memoryBytes() adds per instance for what is not array data: the entry object, two typed
 * arrays and their buffers, the map slot and the key string (calibrated against the measurement
 * above), and per backend its name and last-seen slot.
 */
const ENTRY_OVERHEAD_BYTES = 800;
const BACKEND_OVERHEAD_BYTES = 64;

/** What one status report contributes to the history. */
export interface Observation {
  /** Sample time, ms: status.heartbeatTime, else the time it was received; never in the future. */
  t: number;
  currentConnections: number | undefined;
  sessionRate: number | undefined;
  /** Sum of the frontends' requestRate; undefined when none reports one. */
  requestRate: number | undefined;
  backends: { name: string; currentSessions: number | undefined; sessionRate: number | undefined; requestRate: number | undefined }[];
  /** Whether HAProxy answered the agent (HAProxyRunning is not False/Unknown): otherwise the stats are stale. */
  running: boolean;
  /** Fingerprint of the traffic numbers (status.haproxy's and status.stats' frontends and backends). */
  statsKey: number;
  /** Fingerprint of the rest of the status, less the fields every report changes (heartbeat, uptime). */
  otherKey: number;
}

/** What record() did with an observation (for tests and debugging). */
export type RecordResult = 'added' | 'replaced' | 'no-values' | 'not-running' | 'expired' | 'not-newer' | 'carried-over';

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const obj = (v: unknown): Record<string, unknown> | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
const rows = (v: unknown): Record<string, unknown>[] => (Array.isArray(v) ? v.map(obj).filter((r) => r !== undefined) : []);

/** 32-bit FNV-1a: a cheap fingerprint, so each instance keeps two numbers instead of its last status. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Extract an Observation from an HAProxyInstance's status (as stored: validated on write, but
 * read defensively), or undefined when there is no status.
 */
export function observe(status: unknown, receivedAt: number): Observation | undefined {
  const s = obj(status);
  if (!s) return undefined;
  const haproxy = obj(s.haproxy) ?? {};
  const stats = obj(s.stats) ?? {};
  const frontends = rows(stats.frontends);
  const backendRows = rows(stats.backends);
  let requestRate: number | undefined;
  for (const f of frontends) {
    const r = num(f.requestRate);
    if (r !== undefined) requestRate = (requestRate ?? 0) + r;
  }
  const heartbeat = typeof s.heartbeatTime === 'string' ? Date.parse(s.heartbeatTime) : NaN;
  // An agent's clock ahead of ours must not put samples in the future (they would hide the
  // next ones, which must be newer); behind is fine.
  const t = Number.isNaN(heartbeat) ? receivedAt : Math.min(heartbeat, receivedAt);
  const running = !(Array.isArray(s.conditions) && s.conditions.some((c) => obj(c)?.type === 'HAProxyRunning' && obj(c)?.status !== 'True'));
  const { heartbeatTime: _h, stats: _s, haproxy: _p, ...rest } = s;
  const { uptimeSeconds: _u, currentConnections: _c, sessionRate: _r, ...proc } = haproxy;
  return {
    t,
    currentConnections: num(haproxy.currentConnections),
    sessionRate: num(haproxy.sessionRate),
    requestRate,
    backends: backendRows
      .filter((b) => typeof b.name === 'string')
      .map((b) => ({ name: b.name as string, currentSessions: num(b.currentSessions), sessionRate: num(b.sessionRate), requestRate: num(b.requestRate) })),
    running,
    statsKey: fnv1a(JSON.stringify([haproxy.currentConnections, haproxy.sessionRate, frontends, backendRows])),
    otherKey: fnv1a(JSON.stringify([rest, proc])),
  };
}

const store = (v: number | undefined): number => (v === undefined ? MISSING : Math.min(Math.max(0, Math.round(v)), MISSING - 1));
const load = (v: number): number | null => (v === MISSING ? null : v);

/** The history of one instance. */
class Entry {
  backendNames: string[] = [];
  /** When each backend was last reported (ms), to drop its columns once that leaves the window. */
  backendSeen: number[] = [];
  /** Backends of the latest sample that have no series (past the cap). */
  truncated = 0;
  t: Float64Array;
  v: Uint32Array;
  /** Rows in use are start .. start+count-1. */
  start = 0;
  count = 0;
  /** Fingerprints of the last report (recorded or not): a report is compared with the one before it. */
  statsKey: number | undefined;
  otherKey: number | undefined;

  constructor(rows: number) {
    this.t = new Float64Array(rows);
    this.v = new Uint32Array(rows * INSTANCE_COLUMNS).fill(MISSING);
  }

  get stride(): number {
    return INSTANCE_COLUMNS + BACKEND_COLUMNS * this.backendNames.length;
  }

  get lastT(): number | undefined {
    return this.count > 0 ? this.t[this.start + this.count - 1] : undefined;
  }

  /** Drop the rows older than `cutoff` (rows are in time order). */
  trim(cutoff: number): void {
    while (this.count > 0 && this.t[this.start]! < cutoff) {
      this.start++;
      this.count--;
    }
    if (this.count === 0) this.start = 0;
  }

  /** Re-lay the rows into `rows` rows and the given backend columns (`keep[i]`: old column group of new backend i, or -1). */
  relayout(rows: number, names: string[], keep: number[]): void {
    const oldStride = this.stride;
    const stride = INSTANCE_COLUMNS + BACKEND_COLUMNS * names.length;
    const t = new Float64Array(rows);
    const v = new Uint32Array(rows * stride).fill(MISSING);
    const n = Math.min(this.count, rows);
    const first = this.start + this.count - n;
    for (let r = 0; r < n; r++) {
      const from = (first + r) * oldStride;
      const to = r * stride;
      t[r] = this.t[first + r]!;
      v.set(this.v.subarray(from, from + INSTANCE_COLUMNS), to);
      for (let b = 0; b < keep.length; b++) {
        const k = keep[b]!;
        if (k < 0) continue;
        const src = from + INSTANCE_COLUMNS + k * BACKEND_COLUMNS;
        v.set(this.v.subarray(src, src + BACKEND_COLUMNS), to + INSTANCE_COLUMNS + b * BACKEND_COLUMNS);
      }
    }
    this.t = t;
    this.v = v;
    this.start = 0;
    this.count = n;
    this.backendNames = names;
  }

  /** Room for one more row at the end: move the rows to the front, or grow (at most to maxRows). */
  makeRoom(maxRows: number): void {
    const capacity = this.t.length;
    if (this.start + this.count < capacity) return;
    if (this.start > 0) {
      const stride = this.stride;
      this.t.copyWithin(0, this.start, this.start + this.count);
      this.v.copyWithin(0, this.start * stride, (this.start + this.count) * stride);
      this.start = 0;
      return;
    }
    if (capacity < maxRows) {
      this.relayout(Math.min(capacity * 2, maxRows), this.backendNames, this.backendNames.map((_, i) => i));
      return;
    }
    // Full at the bound (the slot rule makes this unreachable after trim): drop the oldest row.
    this.start++;
    this.count--;
    this.makeRoom(maxRows);
  }
}

export interface MetricsHistoryOptions {
  /** How far back samples are kept (--metrics-history-minutes). */
  windowMs: number;
  /** At most one sample per series per slot of this length (default 10 s). */
  intervalMs?: number;
  /** Backend series per instance (default 64). */
  maxBackends?: number;
  now?: () => number;
}

/** The samples of one instance in a time range, in the response's shape. */
export interface InstanceSamples {
  instance: InstanceSeries;
  backends: BackendSeries[];
  truncatedBackends?: number;
}

/** A bounded in-memory store of every instance's recent traffic samples. */
export class MetricsHistory {
  readonly windowMs: number;
  readonly intervalMs: number;
  readonly maxBackends: number;
  /** Rows a series can need: one per interval slot in the window, plus the slot the window starts in. */
  readonly maxRows: number;
  private readonly now: () => number;
  private readonly entries = new Map<string, Entry>();

  constructor(o: MetricsHistoryOptions) {
    if (!(o.windowMs > 0)) throw new Error('MetricsHistory needs a window longer than 0');
    this.windowMs = o.windowMs;
    this.intervalMs = o.intervalMs ?? DEFAULT_INTERVAL_MS;
    this.maxBackends = o.maxBackends ?? DEFAULT_MAX_BACKENDS;
    this.maxRows = Math.ceil(this.windowMs / this.intervalMs) + 1;
    this.now = o.now ?? Date.now;
  }

  /** How many instances have samples (or a fingerprint of their last report). */
  get size(): number {
    return this.entries.size;
  }

  /** Add the sample an instance's status carries, if it is new; see RecordResult for why one is not. */
  record(namespace: string, name: string, status: unknown): RecordResult {
    const now = this.now();
    const o = observe(status, now);
    const key = `${namespace}/${name}`;
    let e = this.entries.get(key);
    if (!o || (o.currentConnections === undefined && o.sessionRate === undefined && o.requestRate === undefined && o.backends.length === 0)) {
      if (e && o) [e.statsKey, e.otherKey] = [o.statsKey, o.otherKey];
      return 'no-values';
    }
    if (!e) {
      e = new Entry(Math.min(INITIAL_ROWS, this.maxRows));
      this.entries.set(key, e);
    }
    // The agent rewrites its status with the stats it last read when something else changed (a
    // condition, an apply) before its stats are due again (agent/src/status.ts, reconcile.ts
    // report()): same numbers, new heartbeatTime. Plotting them at the new time would be a
    // made-up point. A report that changed nothing but the heartbeat is a periodic stats report,
    // fresh even when the numbers did not move (an idle HAProxy), and is kept.
    const carried = e.statsKey === o.statsKey && e.otherKey !== undefined && e.otherKey !== o.otherKey;
    [e.statsKey, e.otherKey] = [o.statsKey, o.otherKey];
    // While HAProxy does not answer, the agent keeps sending the last stats it read.
    if (!o.running) return 'not-running';
    const cutoff = now - this.windowMs;
    if (o.t < cutoff) return 'expired';
    const last = e.lastT;
    // Server-side rewrites (a lapsed Lease marks the agent lost) keep the agent's heartbeatTime.
    if (last !== undefined && o.t <= last) return 'not-newer';
    if (carried) return 'carried-over';
    e.trim(cutoff);

    // Each reported backend's column group: its own, a new one while under the cap, or none.
    let truncated = 0;
    const cols: number[] = [];
    const names = [...e.backendNames];
    for (const b of o.backends) {
      let i = names.indexOf(b.name);
      if (i < 0 && names.length < this.maxBackends) i = names.push(b.name) - 1;
      if (i < 0) truncated++;
      cols.push(i);
    }
    if (names.length > e.backendNames.length) {
      const added = names.length - e.backendNames.length;
      e.relayout(e.t.length, names, names.map((_, i) => (i < e.backendNames.length ? i : -1)));
      for (let k = 0; k < added; k++) e.backendSeen.push(o.t);
    }
    e.truncated = truncated;

    let result: RecordResult;
    let row: number;
    const sameSlot = e.count > 0 && Math.floor(o.t / this.intervalMs) === Math.floor(e.lastT! / this.intervalMs);
    if (sameSlot) {
      row = e.start + e.count - 1;
      result = 'replaced';
    } else {
      e.makeRoom(this.maxRows);
      row = e.start + e.count;
      e.count++;
      result = 'added';
    }
    const stride = e.stride;
    const base = row * stride;
    e.t[row] = o.t;
    e.v.fill(MISSING, base, base + stride);
    e.v[base] = store(o.currentConnections);
    e.v[base + 1] = store(o.sessionRate);
    e.v[base + 2] = store(o.requestRate);
    o.backends.forEach((b, k) => {
      const i = cols[k]!;
      if (i < 0) return;
      const at = base + INSTANCE_COLUMNS + i * BACKEND_COLUMNS;
      e.v[at] = store(b.currentSessions);
      e.v[at + 1] = store(b.sessionRate);
      e.v[at + 2] = store(b.requestRate);
      e.backendSeen[i] = o.t;
    });
    return result;
  }

  /** Forget an instance (it was deleted). */
  drop(namespace: string, name: string): void {
    this.entries.delete(`${namespace}/${name}`);
  }

  /** Forget every instance not in `keep` ("namespace/name"): those deleted while the watch was down. */
  retain(keep: ReadonlySet<string>): void {
    for (const key of this.entries.keys()) if (!keep.has(key)) this.entries.delete(key);
  }

  /** The samples of one instance from the last `sinceMs` (at most the window), oldest first. */
  query(namespace: string, name: string, sinceMs: number = this.windowMs): InstanceSamples {
    const e = this.entries.get(`${namespace}/${name}`);
    const out: InstanceSamples = { instance: { t: [], currentConnections: [], sessionRate: [], requestRate: [] }, backends: [] };
    if (!e) return out;
    const cutoff = this.now() - Math.min(sinceMs, this.windowMs);
    const stride = e.stride;
    const backends: BackendSeries[] = e.backendNames.map((name) => ({ name, t: [], currentSessions: [], sessionRate: [], requestRate: [] }));
    for (let r = e.start; r < e.start + e.count; r++) {
      const t = e.t[r]!;
      if (t < cutoff) continue;
      const base = r * stride;
      out.instance.t.push(t);
      out.instance.currentConnections.push(load(e.v[base]!));
      out.instance.sessionRate.push(load(e.v[base + 1]!));
      out.instance.requestRate.push(load(e.v[base + 2]!));
      for (let b = 0; b < backends.length; b++) {
        const at = base + INSTANCE_COLUMNS + b * BACKEND_COLUMNS;
        const cs = e.v[at]!;
        const sr = e.v[at + 1]!;
        const rr = e.v[at + 2]!;
        // Not reported in this sample: no point (a gap), rather than a row of nulls.
        if (cs === MISSING && sr === MISSING && rr === MISSING) continue;
        const s = backends[b]!;
        s.t.push(t);
        s.currentSessions.push(load(cs));
        s.sessionRate.push(load(sr));
        s.requestRate.push(load(rr));
      }
    }
    out.backends = backends.filter((b) => b.t.length > 0);
    if (e.truncated > 0) out.truncatedBackends = e.truncated;
    return out;
  }

  /**
   * Drop what has left the window: old rows, backends no longer reported, instances with no
   * samples; and give back array space a series no longer needs. Run it every minute or so.
   */
  sweep(): void {
    const cutoff = this.now() - this.windowMs;
    for (const [key, e] of this.entries) {
      e.trim(cutoff);
      if (e.count === 0) {
        this.entries.delete(key);
        continue;
      }
      const live = e.backendNames.map((_, i) => i).filter((i) => e.backendSeen[i]! >= cutoff);
      let rows = e.t.length;
      while (rows > INITIAL_ROWS && rows >= e.count * 4) rows = Math.ceil(rows / 2);
      if (live.length < e.backendNames.length || rows < e.t.length) {
        e.relayout(Math.max(rows, e.count), live.map((i) => e.backendNames[i]!), live);
        e.backendSeen = live.map((i) => e.backendSeen[i]!);
      }
    }
  }

  /** An estimate of the memory the history holds, in bytes (array data exact, the rest estimated). */
  memoryBytes(): number {
    let bytes = 0;
    for (const [key, e] of this.entries) {
      bytes += e.t.byteLength + e.v.byteLength + ENTRY_OVERHEAD_BYTES + key.length;
      for (const name of e.backendNames) bytes += BACKEND_OVERHEAD_BYTES + name.length;
    }
    return bytes;
  }
}
