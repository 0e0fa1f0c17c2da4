/**
 * A fleet of simulated agents in one process, for benchmarks and end-to-end tests of the API
 * server at fleet scale (`startFleet`). Each simulated agent does on the wire what hq-agent does
 * (agent/src/reconcile.ts, client.ts, status.ts), against a real server:
 *
 * - registers its HAProxyInstance (create; on 409 or when it exists, adopt it, adding missing labels);
 * - watches only its own instance (`fieldSelector=metadata.name=X`, `allowWatchBookmarks`),
 *   resuming from the last resourceVersion it saw, reconnecting with the agent's jittered
 *   backoff (0.5 s doubling to 30 s, ±50 %); on 410 it reads its instance again and resumes from
 *   there: by default with a list (`fieldSelector=metadata.name=X`), whose resourceVersion is the
 *   store's current one, as client-go's reflector re-lists; `onGone: 'get'` re-GETs the object and
 *   resumes from the object's own resourceVersion, as hq-agent does today (which can itself be
 *   compacted when other objects are written often: then every watch ends in 410 again at once);
 * - when `spec.configRevision` names a revision it has not applied (nor failed), GETs that
 *   ConfigRevision, renders it for itself when `spec.config.template` is true (a placeholder it
 *   cannot fill is a RenderFailed rejection), "applies" it (waits `applyMs` ± jitter; fails when
 *   `fails(name, revision)` says so, or at `failureRate`; the same bytes under a new name are
 *   recorded without a reload, as the agent's applier does), records an Event as the agent does,
 *   then writes its status through `/status` (merge patch):
 *   conditions with reasons and transition times, observedGeneration, appliedRevision, appliedHash
 *   (sha256 of `contentHashInput` of what it applied), lastApplyError with an HAProxy-like message
 *   and line, heartbeatTime, a `show info` summary and, with `statsServers`, a `show stat`
 *   summary of that many servers;
 * - renews its Lease every `heartbeatSeconds` (merge patch, created on 404), and rewrites its
 *   status without a significant change at most every `statsSeconds`;
 * - ends a watch that heard nothing, not even a BOOKMARK, for `watchSilenceMs` (hq-agent's 3
 *   minutes) and resumes it, as the agent does.
 *
 * What differs from N real agents, on purpose: requests other than watches share one keep-alive
 * pool (`poolSockets`) under one cap (`maxInFlight`), so a start of 10,000 does not open 10,000
 * more connections at once (a real agent keeps one or two); each watch has its own connection,
 * as a real agent's does, and does not queue behind other requests (at most `maxWatchOpens`
 * connect at once). `startPerSecond` staggers the start as hosts booting would. Timers are one
 * shared tick, not timers per agent. The first Lease
 * renewal and the first stats rewrite after registration fall at a random phase, as they would
 * across independent hosts. Answers are checked by status code; bodies are parsed only where the
 * simulator needs them (watch events, instances, the first copy of each revision) and not
 * validated against the schemas as the agent's client does: the server is what is measured.
 * Memory per agent stays small: agents are plain records, parsed revisions are shared by name
 * (they are immutable), and no closure per agent outlives a request.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { dirname, isAbsolute, join } from 'node:path';
import { load } from 'js-yaml';
import { TemplateError, contentHashInput, renderConfig } from '@haproxyhq/schemas';
import { WATCH_SILENCE_MS } from '../../agent/src/client.ts';

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
export const clock = () => performance.timeOrigin + performance.now();

const API = '/apis/haproxyhq.io/v1alpha1';
const HAPROXY_VERSION = '2.6.12-1+deb12u3';

export interface FleetOptions {
  /** API server URL (https://host:port). */
  server: string;
  /** Bearer token. */
  token: string;
  /** PEM of the CA that signed the server's certificate. */
  ca?: string;
  namespace?: string;
  /** How many agents. */
  count: number;
  /** Instance names are `<namePrefix>-<index, 5 digits>` (default "sim"). */
  namePrefix?: string;
  /** Index of the first agent (default 0): two fleets can share a server. */
  firstIndex?: number;
  /** Labels every agent registers with (as `hq-agent run --labels`). */
  labels?: Record<string, string>;
  /** How long an apply takes (default 50 ms), ± `applyJitter` of it (default 0.5). */
  applyMs?: number;
  applyJitter?: number;
  /** Fraction of applies that fail at random (default 0). */
  failureRate?: number;
  /** Deterministic failures: an apply of `revision` by `name` fails when this returns true. */
  fails?: (name: string, revision: string) => boolean;
  /** Changes within this window share one pass (the agent's --coalesce-ms; default 500). */
  coalesceMs?: number;
  /** Lease renewal interval (the agent's --heartbeat-seconds; default 10). */
  heartbeatSeconds?: number;
  /** Status rewritten without a significant change at most this often (--stats-seconds; default 60). */
  statsSeconds?: number;
  /** Servers in the `show stat` summary of status (default 0: no stats). */
  statsServers?: number;
  /** Record an Event per apply, as the agent does (default true). */
  events?: boolean;
  /**
   * Fetch each ConfigRevision once for the whole fleet instead of once per agent (default false:
   * every agent issues its own GET, as real agents do, so the wire load is real).
   */
  shareRevisions?: boolean;
  /** Keep-alive sockets for requests other than watches (default 128). */
  poolSockets?: number;
  /** Requests other than watches in flight at once (default 256); the rest queue here. */
  maxInFlight?: number;
  /** Watches being set up (TLS handshake to response headers) at once (default 64). */
  maxWatchOpens?: number;
  /** Agents started per second (default 0: all at once, under the caps above). */
  startPerSecond?: number;
  /** How a 410 is recovered from: re-list by name (default), or re-GET the object as hq-agent does. */
  onGone?: 'list' | 'get';
  /**
   * A watch that hears nothing, not even a BOOKMARK, for this long is ended and resumed from its
   * resourceVersion, as hq-agent's (default its WATCH_SILENCE_MS, 3 minutes): a connection
   * dropped without a FIN otherwise leaves the agent deaf until TCP notices.
   */
  watchSilenceMs?: number;
  log?: (message: string) => void;
}

export type RequestKind =
  | 'instance-get'
  | 'instance-list'
  | 'instance-create'
  | 'instance-patch'
  | 'status'
  | 'status-stats'
  | 'revision-get'
  | 'event'
  | 'lease'
  | 'lease-create'
  | 'watch';

export interface FleetCounts {
  agents: number;
  registered: number;
  watching: number;
  /** Agents whose first status write succeeded. */
  reported: number;
  /** Agents whose last outcome written to status is this revision, applied; by revision. */
  applied: Record<string, number>;
  /** The same, failed. */
  failed: Record<string, number>;
  /** Requests sent, by kind (watch: connections opened; status-stats: status rewrites with no significant change). */
  requests: Record<string, number>;
  /** Requests that failed (transport error, 5xx, unexpected 4xx), by kind. */
  errors: Record<string, number>;
  /** Instances this fleet created (adoptions are not counted). */
  creates: number;
  watchReconnects: number;
  /** Watches ended by 410 Gone (the agent re-gets its instance). */
  gone: number;
  /** Watches ended because they heard nothing for watchSilenceMs. */
  silent: number;
  inFlight: number;
  queued: number;
  maxQueued: number;
}

export interface RevisionTimings {
  /** Per agent (by index): when its watch delivered the instance naming the revision (epoch ms; NaN if not). */
  seenAt: Float64Array;
  /** Per agent: when its status write reporting its outcome for the revision succeeded (epoch ms; NaN if not). */
  doneAt: Float64Array;
  /** Per agent: 1 when that outcome was "applied", 0 when it failed or is not in yet. */
  ok: Uint8Array;
}

export interface Fleet {
  readonly names: readonly string[];
  counts(): FleetCounts;
  /** Resolves when every agent has registered, is watching and has written its first status. */
  ready(timeoutMs?: number): Promise<void>;
  /** Resolves when `count` agents (default all) have written an outcome for `revision` to status. */
  done(revision: string, count?: number, timeoutMs?: number): Promise<void>;
  timings(revision: string): RevisionTimings;
  stop(): Promise<void>;
}

/** Server, token, CA and namespace of a kubeconfig's current context. */
export function readKubeconfig(path: string): { server: string; token: string; ca?: string; namespace: string } {
  const doc = load(readFileSync(path, 'utf8')) as {
    'current-context'?: string;
    contexts?: { name?: string; context?: { cluster?: string; user?: string; namespace?: string } }[];
    clusters?: { name?: string; cluster?: { server?: string; 'certificate-authority-data'?: string; 'certificate-authority'?: string } }[];
    users?: { name?: string; user?: { token?: string; tokenFile?: string } }[];
  } | undefined;
  const ctx = doc?.contexts?.find((c) => c.name === doc['current-context'])?.context ?? doc?.contexts?.[0]?.context;
  const cluster = (doc?.clusters?.find((c) => c.name === ctx?.cluster) ?? doc?.clusters?.[0])?.cluster;
  const user = (doc?.users?.find((u) => u.name === ctx?.user) ?? doc?.users?.[0])?.user;
  const rel = (p: string) => (isAbsolute(p) ? p : join(dirname(path), p));
  const token = user?.token ?? (user?.tokenFile ? readFileSync(rel(user.tokenFile), 'utf8').trim() : undefined);
  if (!cluster?.server || !token) throw new Error(`${path}: no server URL or bearer token in its current context`);
  const ca = cluster['certificate-authority-data']
    ? Buffer.from(cluster['certificate-authority-data'], 'base64').toString('utf8')
    : cluster['certificate-authority'] ? readFileSync(rel(cluster['certificate-authority']), 'utf8') : undefined;
  return { server: cluster.server, token, ca, namespace: ctx?.namespace ?? 'default' };
}

/** An answer that was not what the request wanted, with the server's Status reason. */
export class HttpError extends Error {
  readonly code: number;
  readonly reason: string;
  constructor(code: number, reason: string, message: string) {
    super(message);
    this.name = 'HttpError';
    this.code = code;
    this.reason = reason;
  }
}

function statusError(code: number, text: string, what: string): HttpError {
  let reason = 'Unknown';
  let message = `${what}: HTTP ${code}`;
  try {
    const s = JSON.parse(text) as { reason?: unknown; message?: unknown };
    if (typeof s.reason === 'string') reason = s.reason;
    if (typeof s.message === 'string') message = `${what}: ${code} ${s.message}`;
  } catch {
    // not a Status
  }
  return new HttpError(code, reason, message);
}

/** FIFO cap on requests in flight. */
class Limiter {
  readonly max: number;
  inFlight = 0;
  maxQueued = 0;
  private readonly queue: (() => void)[] = [];
  constructor(max: number) {
    this.max = max;
  }
  get queued(): number {
    return this.queue.length;
  }
  acquire(): Promise<void> {
    if (this.inFlight < this.max) {
      this.inFlight++;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.queue.push(resolve);
      if (this.queue.length > this.maxQueued) this.maxQueued = this.queue.length;
    });
  }
  release(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.inFlight--;
  }
  /** Wake everything queued (at stop; the requests then fail fast). */
  drain(): void {
    for (const next of this.queue.splice(0)) next();
  }
}

/** What the fleet keeps of a ConfigRevision: one copy, shared by every agent that runs it. */
interface Revision {
  name: string;
  config: { config: string; files?: { path: string; content: string }[]; template?: boolean };
  /** sha256 of the stored (unrendered) content. */
  hash: string;
  lines: number;
}

type Outcome = 'applied' | 'rejected' | undefined;

const CONDITION_TYPES = ['AgentConnected', 'HAProxyRunning', 'ConfigApplied', 'Drifted', 'Ready'] as const;

/** One simulated agent: a plain record; the fleet's methods act on it. */
class SimAgent {
  readonly index: number;
  readonly name: string;
  labels: Record<string, string>;
  values: Record<string, string> | undefined;
  uid = '';
  /** Watch resume point: the last resourceVersion seen. */
  rv = '0';
  generation: number | undefined;
  want: string | undefined;
  registered = false;
  // What this "host" runs.
  applied: string | undefined;
  appliedHash: string | undefined;
  /** A revision that failed: not retried until spec.configRevision changes (the agent's failedHash). */
  failed: string | undefined;
  outcome: Outcome;
  missing: string | undefined;
  error: { revision: string; message: string; file: string; line: number; time: string; render: boolean } | undefined;
  reloads = 0;
  workerPid: number;
  readonly pid: number;
  readonly startedAt: number;
  // Status reporting: condition states (one letter each) and transition times, as last written.
  condState = '';
  condSince: string[] = [];
  /** appliedRevision as last written. */
  writtenRevision: string | undefined;
  sig = '';
  statsDueAt = 0;
  firstReport = true;
  // Lease.
  leaseAt = Infinity;
  leaseBusy = false;
  leaseRenewals = 0;
  // Watch.
  req: ClientRequest | undefined;
  buf = '';
  watchFails = 0;
  watching = false;
  watchRetryAt = 0;
  watchError: Error | undefined;
  /** When the open watch last sent anything (its headers, an event, a BOOKMARK). */
  heardAt = 0;
  // Passes.
  busy = false;
  again = false;
  pending: NodeJS.Timeout | undefined;
  retryAt = 0;
  passFails = 0;
  // Timings (epoch ms) for benchmarks.
  seenRevision: string | undefined;
  seenAt = NaN;
  doneRevision: string | undefined;
  doneAt = NaN;
  doneOk = false;

  constructor(index: number, name: string, labels: Record<string, string>) {
    this.index = index;
    this.name = name;
    this.labels = labels;
    this.pid = 1000 + index;
    this.workerPid = 100_000 + index * 10;
    this.startedAt = clock();
  }
}

const stamp = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

/** The agent's backoff: 0.5 s doubling to 30 s, ±50 %, so a fleet does not reconnect in lockstep. */
const backoff = (attempt: number) => Math.round(Math.min(30_000, 500 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random()));

const sameLabels = (a: Record<string, string> | undefined, b: Record<string, string>) => {
  if (!a) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const k of keys) if (a[k] !== b[k]) return false;
  return true;
};

const sha256 = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;

type Resolved = Required<Omit<FleetOptions, 'fails' | 'ca' | 'log'>> & Pick<FleetOptions, 'fails' | 'ca' | 'log'>;

function withDefaults(o: FleetOptions): Resolved {
  const given = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as FleetOptions;
  return {
    namespace: 'default',
    namePrefix: 'sim',
    firstIndex: 0,
    labels: {},
    applyMs: 50,
    applyJitter: 0.5,
    failureRate: 0,
    coalesceMs: 500,
    heartbeatSeconds: 10,
    statsSeconds: 60,
    statsServers: 0,
    events: true,
    shareRevisions: false,
    poolSockets: 128,
    maxInFlight: 256,
    maxWatchOpens: 64,
    startPerSecond: 0,
    onGone: 'list',
    watchSilenceMs: WATCH_SILENCE_MS,
    ...given,
  };
}

/** Start `options.count` simulated agents; they register, watch, apply and report until `stop()`. */
export function startFleet(options: FleetOptions): Fleet {
  return new FleetImpl(withDefaults(options));
}

/** A pass for `a` (setTimeout's callback: no closure per agent). */
function runPass(fleet: FleetImpl, a: SimAgent): void {
  a.pending = undefined;
  if (a.busy) {
    a.again = true;
    return;
  }
  a.busy = true;
  void fleet.pass(a).finally(() => {
    a.busy = false;
    if (a.again) {
      a.again = false;
      fleet.schedule(a);
    }
  });
}

/** Placeholder for a watch whose request waits for a slot. */
const PENDING = {} as ClientRequest;

class FleetImpl implements Fleet {
  readonly names: string[] = [];
  private readonly o: Resolved;
  private readonly agents: SimAgent[] = [];
  private readonly url: URL;
  private readonly request: typeof httpsRequest;
  private readonly pool: HttpsAgent | HttpAgent;
  private readonly watchPool: HttpsAgent | HttpAgent;
  private readonly limiter: Limiter;
  private readonly watchLimiter: Limiter;
  private readonly headers: Record<string, string>;
  private readonly base: string;
  private readonly revisions = new Map<string, Revision>();
  private readonly tick: NodeJS.Timeout;
  /** Agents by the revision of their last outcome written to status. */
  private readonly outcomes = new Map<string, { ok: number; failed: number }>();
  private stopped = false;
  private readonly requests: Record<string, number> = {};
  private readonly errors: Record<string, number> = {};
  private creates = 0;
  private reconnects = 0;
  private silent = 0;
  private gone = 0;
  private watchingCount = 0;
  private registeredCount = 0;
  private reportedCount = 0;

  constructor(o: Resolved) {
    this.o = o;
    this.url = new URL(o.server);
    const https = this.url.protocol === 'https:';
    this.request = https ? httpsRequest : (httpRequest as unknown as typeof httpsRequest);
    const tls = https && o.ca ? { ca: o.ca } : {};
    this.pool = https
      ? new HttpsAgent({ keepAlive: true, maxSockets: o.poolSockets, maxFreeSockets: o.poolSockets, ...tls })
      : new HttpAgent({ keepAlive: true, maxSockets: o.poolSockets, maxFreeSockets: o.poolSockets });
    // A watch holds its connection for as long as it lasts: one each, never pooled.
    this.watchPool = https ? new HttpsAgent({ keepAlive: false, maxSockets: Infinity, ...tls }) : new HttpAgent({ keepAlive: false });
    this.limiter = new Limiter(o.maxInFlight);
    this.watchLimiter = new Limiter(o.maxWatchOpens);
    this.headers = { authorization: `Bearer ${o.token}`, accept: 'application/json' };
    this.base = `${API}/namespaces/${o.namespace}`;
    for (let i = 0; i < o.count; i++) {
      const name = `${o.namePrefix}-${String(o.firstIndex + i).padStart(5, '0')}`;
      this.names.push(name);
      this.agents.push(new SimAgent(i, name, o.labels));
    }
    this.tick = setInterval(() => this.onTick(), 100);
    if (o.startPerSecond > 0) {
      // Every 100 ms, the next tenth of a second's worth.
      let next = 0;
      const starter = setInterval(() => {
        const until = Math.min(this.agents.length, next + Math.max(1, Math.round(o.startPerSecond / 10)));
        for (; next < until && !this.stopped; next++) void this.start(this.agents[next]!);
        if (next >= this.agents.length || this.stopped) clearInterval(starter);
      }, 100);
    } else for (const a of this.agents) void this.start(a);
  }

  // -------------------------------------------------------------------------------------------
  // HTTP

  private fail(kind: RequestKind): void {
    this.errors[kind] = (this.errors[kind] ?? 0) + 1;
  }

  /** One request through the pool; resolves with the status code and body text. */
  private async send(kind: RequestKind, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ code: number; text: string }> {
    await this.limiter.acquire();
    if (this.stopped) {
      this.limiter.release();
      throw new Error('fleet stopped');
    }
    this.requests[kind] = (this.requests[kind] ?? 0) + 1;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    try {
      return await new Promise((resolve, reject) => {
        const req = this.request(
          {
            host: this.url.hostname,
            port: this.url.port,
            method,
            path,
            agent: this.pool,
            headers: payload === undefined ? this.headers : { ...this.headers, 'content-type': contentType, 'content-length': Buffer.byteLength(payload) },
          } as RequestOptions,
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => (text += d));
            res.on('end', () => resolve({ code: res.statusCode ?? 0, text }));
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end(payload);
      });
    } catch (err) {
      this.fail(kind);
      throw err;
    } finally {
      this.limiter.release();
    }
  }

  /** A request that must answer 2xx (or one of `allowed`); anything else is an HttpError. */
  private async call(kind: RequestKind, method: string, path: string, body?: unknown, contentType?: string, allowed: number[] = []) {
    const r = await this.send(kind, method, path, body, contentType);
    if ((r.code < 200 || r.code >= 300) && !allowed.includes(r.code)) {
      this.fail(kind);
      throw statusError(r.code, r.text, `${method} ${path}`);
    }
    return r;
  }

  // -------------------------------------------------------------------------------------------
  // Registration

  private async start(a: SimAgent): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        await this.register(a);
        break;
      } catch (err) {
        if (this.stopped) return;
        this.o.log?.(`${a.name}: register failed (${(err as Error).message}); retrying`);
        await new Promise((r) => setTimeout(r, backoff(attempt)));
      }
    }
    if (this.stopped) return;
    this.openWatch(a);
    a.leaseAt = 0;
    this.schedule(a);
  }

  private async register(a: SimAgent): Promise<void> {
    const path = `${this.base}/haproxyinstances/${a.name}`;
    const got = await this.call('instance-get', 'GET', path, undefined, undefined, [404]);
    let obj: WireInstance;
    if (got.code === 404) {
      const body = { apiVersion: 'haproxyhq.io/v1alpha1', kind: 'HAProxyInstance', metadata: { name: a.name, labels: this.o.labels }, spec: {} };
      const created = await this.call('instance-create', 'POST', `${this.base}/haproxyinstances`, body, undefined, [409]);
      // Created meanwhile (another start of this agent): adopt it.
      if (created.code === 409) return this.register(a);
      this.creates++;
      obj = JSON.parse(created.text) as WireInstance;
    } else {
      obj = JSON.parse(got.text) as WireInstance;
      // Adopt: add the labels it lacks; never remove a person's.
      const missing = Object.entries(this.o.labels).filter(([k, v]) => obj.metadata?.labels?.[k] !== v);
      if (missing.length) {
        const patched = await this.call('instance-patch', 'PATCH', path, { metadata: { labels: Object.fromEntries(missing) } }, 'application/merge-patch+json');
        obj = JSON.parse(patched.text) as WireInstance;
      }
      // What an earlier run left applied on this "host" (the real agent reads its manifest).
      const st = obj.status;
      if (st?.appliedRevision && a.applied === undefined) {
        a.applied = st.appliedRevision;
        a.appliedHash = st.appliedHash;
        a.outcome = 'applied';
      }
      for (const c of st?.conditions ?? []) {
        const i = CONDITION_TYPES.indexOf(c.type as (typeof CONDITION_TYPES)[number]);
        if (i < 0 || !c.status || !c.lastTransitionTime) continue;
        const state = a.condState.padEnd(CONDITION_TYPES.length, '-').split('');
        state[i] = c.status[0]!;
        a.condState = state.join('');
        a.condSince[i] = c.lastTransitionTime;
      }
    }
    this.readInstance(a, obj);
    if (!a.registered) {
      a.registered = true;
      this.registeredCount++;
    }
  }

  /** Take what the agent uses from an instance: resourceVersion, generation, desired revision, labels. */
  private readInstance(a: SimAgent, obj: WireInstance): void {
    const m = obj.metadata;
    if (typeof m?.resourceVersion === 'string') a.rv = m.resourceVersion;
    if (typeof m?.uid === 'string') a.uid = m.uid;
    a.generation = typeof m?.generation === 'number' ? m.generation : undefined;
    a.labels = sameLabels(m?.labels, this.o.labels) ? this.o.labels : (m?.labels ?? {});
    a.values = obj.spec?.values;
    const want = typeof obj.spec?.configRevision === 'string' && obj.spec.configRevision ? obj.spec.configRevision : undefined;
    if (want !== a.want) {
      a.want = want;
      if (want) {
        a.seenRevision = want;
        a.seenAt = clock();
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Watch

  private openWatch(a: SimAgent): void {
    if (this.stopped || a.req) return;
    a.watchRetryAt = 0;
    a.watchError = undefined;
    const path =
      `${this.base}/haproxyinstances?watch=true&allowWatchBookmarks=true` +
      `&fieldSelector=${encodeURIComponent(`metadata.name=${a.name}`)}&resourceVersion=${a.rv}`;
    // Taken at once, so the tick does not open a second watch while this one waits for a slot.
    a.req = PENDING;
    void this.watchLimiter.acquire().then(() => {
      if (this.stopped) {
        this.watchLimiter.release();
        return;
      }
      this.requests.watch = (this.requests.watch ?? 0) + 1;
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        this.watchLimiter.release();
      };
      const req = this.request(
        { host: this.url.hostname, port: this.url.port, method: 'GET', path, agent: this.watchPool, headers: this.headers } as RequestOptions,
        (res: IncomingMessage) => {
          release();
          if (res.statusCode !== 200) {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => (text += d));
            res.on('end', () => {
              a.watchError = statusError(res.statusCode ?? 0, text, 'watch');
              this.fail('watch');
              this.watchClosed(a, req);
            });
            return;
          }
          a.watching = true;
          a.heardAt = clock();
          this.watchingCount++;
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => this.onWatchData(a, req, chunk));
          res.on('end', () => this.watchClosed(a, req));
          res.on('error', (err) => {
            a.watchError ??= err;
            this.watchClosed(a, req);
          });
          res.on('close', () => {
            a.watchError ??= new Error('watch connection lost');
            this.watchClosed(a, req);
          });
          // (Re)connected: a pass catches up on anything missed (level-driven).
          this.schedule(a);
        },
      );
      req.on('error', (err) => {
        release();
        this.fail('watch');
        a.watchError ??= err;
        this.watchClosed(a, req);
      });
      a.req = req;
      req.end();
    });
  }

  private onWatchData(a: SimAgent, req: ClientRequest, chunk: string): void {
    if (a.req !== req) return;
    a.heardAt = clock();
    a.buf += chunk;
    let nl: number;
    while ((nl = a.buf.indexOf('\n')) >= 0) {
      const line = a.buf.slice(0, nl);
      a.buf = a.buf.slice(nl + 1);
      if (line.trim() === '') continue;
      let ev: { type?: string; object?: WireInstance & { code?: number; reason?: string; message?: string } };
      try {
        ev = JSON.parse(line) as typeof ev;
      } catch {
        a.watchError = new Error('the watch sent a line that is not JSON');
        req.destroy();
        return;
      }
      const obj = ev.object;
      if (ev.type === 'ERROR') {
        a.watchError = new HttpError(Number(obj?.code) || 500, String(obj?.reason ?? 'Unknown'), String(obj?.message ?? 'watch error'));
        req.destroy();
        return;
      }
      a.watchFails = 0;
      const rv = obj?.metadata?.resourceVersion;
      if (typeof rv === 'string') a.rv = rv;
      if (ev.type === 'BOOKMARK' || !obj) continue;
      if (ev.type === 'DELETED') {
        // Deleted by a person: register again (a fresh, unassigned instance), as the agent does.
        if (a.registered) this.registeredCount--;
        a.registered = false;
        a.want = undefined;
      } else {
        this.readInstance(a, obj);
        // Someone else rewrote our status (the server marks an agent lost when its Lease
        // lapses): the agent puts the truth back at once, not at the next stats interval.
        if (a.sig && this.overwritten(a, obj)) a.sig = '';
      }
      this.schedule(a);
    }
  }

  /** Whether the status in `obj` differs from what this agent last wrote (conditions' states, applied revision). */
  private overwritten(a: SimAgent, obj: WireInstance): boolean {
    const st = obj.status;
    if (!st) return true;
    if ((st.appliedRevision ?? undefined) !== a.writtenRevision) return true;
    for (const c of st.conditions ?? []) {
      const i = CONDITION_TYPES.indexOf(c.type as (typeof CONDITION_TYPES)[number]);
      if (i >= 0 && a.condState[i] !== c.status?.[0]) return true;
    }
    return false;
  }

  private watchClosed(a: SimAgent, req: ClientRequest): void {
    if (a.req !== req) return;
    const err = a.watchError;
    a.req = undefined;
    a.buf = '';
    if (a.watching) {
      a.watching = false;
      this.watchingCount--;
    }
    req.destroy();
    if (this.stopped) return;
    this.reconnects++;
    if (err instanceof HttpError && err.code === 410) {
      // Our resourceVersion is gone from history: read the current state and go on from it.
      this.gone++;
      const path = this.o.onGone === 'get'
        ? `${this.base}/haproxyinstances/${a.name}`
        : `${this.base}/haproxyinstances?fieldSelector=${encodeURIComponent(`metadata.name=${a.name}`)}`;
      void this.call(this.o.onGone === 'get' ? 'instance-get' : 'instance-list', 'GET', path).then(
        (r) => {
          const body = JSON.parse(r.text) as WireInstance & { items?: WireInstance[] };
          if (this.o.onGone === 'get') this.readInstance(a, body);
          else {
            const obj = body.items?.[0];
            if (obj) this.readInstance(a, obj);
            // Resume from the list's revision (the store's current one), not the object's.
            if (typeof body.metadata?.resourceVersion === 'string') a.rv = body.metadata.resourceVersion;
            if (!obj) {
              // Deleted while we were away: register again.
              if (a.registered) this.registeredCount--;
              a.registered = false;
              a.want = undefined;
            }
          }
          this.schedule(a);
          this.openWatch(a);
        },
        () => {
          a.watchRetryAt = clock() + backoff(a.watchFails++);
        },
      );
      return;
    }
    // A normal end (the server's watch timeout) reconnects at once; a failure backs off.
    a.watchRetryAt = err ? clock() + backoff(a.watchFails++) : clock();
  }

  // -------------------------------------------------------------------------------------------
  // Reconcile

  schedule(a: SimAgent): void {
    if (this.stopped || a.pending) return;
    a.pending = setTimeout(runPass, this.o.coalesceMs, this, a);
  }

  /** One pass: desired against actual, apply if needed, report. A failed pass retries with backoff. */
  async pass(a: SimAgent): Promise<void> {
    if (this.stopped) return;
    try {
      if (!a.registered) await this.register(a);
      const want = a.want;
      if (want && want !== a.applied && want !== a.failed) {
        const rev = await this.revision(want);
        if (!rev) a.missing = want;
        else await this.apply(a, want, rev);
      } else if (want && want === a.applied && a.outcome === 'rejected') {
        // Pointed back at what runs: the agent's applier answers "unchanged".
        a.outcome = 'applied';
        a.failed = undefined;
      }
      if (want !== a.missing) a.missing = undefined;
      if (this.stopped) return;
      await this.report(a);
      a.passFails = 0;
      a.retryAt = 0;
    } catch (err) {
      if (this.stopped) return;
      a.retryAt = clock() + backoff(a.passFails++);
      this.o.log?.(`${a.name}: pass failed (${(err as Error).message}); retrying`);
    }
  }

  private async apply(a: SimAgent, want: string, rev: Revision): Promise<void> {
    a.missing = undefined;
    let hash: string | undefined;
    let failure: { message: string; file: string; line: number; render: boolean } | undefined;
    try {
      hash = this.render(rev, a);
    } catch (err) {
      if (!(err instanceof TemplateError)) throw err;
      // Nothing on the host changes: like a `haproxy -c` failure, but found before staging.
      failure = { message: err.message, file: err.file, line: err.line, render: true };
    }
    if (hash !== undefined && hash === a.appliedHash) {
      // Same bytes under another revision name: recorded, HAProxy untouched, no Event.
      a.applied = want;
      a.failed = undefined;
      a.outcome = 'applied';
      a.error = undefined;
      return;
    }
    const t0 = clock();
    const ms = failure ? 0 : this.o.applyMs * (1 + this.o.applyJitter * (2 * Math.random() - 1));
    if (ms > 0) await new Promise((r) => setTimeout(r, ms));
    if (this.stopped) return;
    if (!failure && (this.o.fails?.(a.name, want) || (this.o.failureRate > 0 && Math.random() < this.o.failureRate))) {
      // What `haproxy -c` says about an unknown keyword, on a line of this config.
      const line = 1 + (parseInt(sha256(a.name + want).slice(7, 15), 16) % rev.lines);
      failure = { message: `config : parsing [haproxy.cfg:${line}] : unknown keyword 'simulated-failure' in 'backend' section`, file: 'haproxy.cfg', line, render: false };
    }
    if (failure) {
      a.failed = want;
      a.outcome = 'rejected';
      a.error = { revision: want, ...failure, time: stamp(Date.now()) };
    } else {
      a.applied = want;
      a.appliedHash = hash;
      a.failed = undefined;
      a.outcome = 'applied';
      a.error = undefined;
      a.reloads++;
      a.workerPid++;
    }
    if (this.o.events) await this.event(a, clock() - t0);
  }

  /** The revision's content. Each agent issues its own GET unless shareRevisions. */
  private async revision(name: string): Promise<Revision | undefined> {
    const cached = this.revisions.get(name);
    if (cached && this.o.shareRevisions) return cached;
    const r = await this.call('revision-get', 'GET', `${this.base}/configrevisions/${name}`, undefined, undefined, [404]);
    if (r.code === 404) return undefined;
    // Immutable: every agent reads the whole body (the wire load), the fleet parses it once.
    if (cached) return cached;
    const obj = JSON.parse(r.text) as { spec?: { config?: Revision['config'] } };
    const config = obj.spec?.config;
    if (!config || typeof config.config !== 'string') throw new Error(`ConfigRevision ${name} has no spec.config.config`);
    const rev: Revision = { name, config, hash: sha256(contentHashInput(config)), lines: config.config.split('\n').length };
    this.revisions.set(name, rev);
    if (this.revisions.size > 64) this.revisions.delete(this.revisions.keys().next().value!);
    return rev;
  }

  /** The appliedHash of what this agent runs from a revision: rendered for it when a template. */
  private render(rev: Revision, a: SimAgent): string {
    if (!rev.config.template) return rev.hash;
    const stored = { config: rev.config.config, files: (rev.config.files ?? []).map((f) => ({ path: f.path, content: f.content })), template: true };
    const rendered = renderConfig(stored, { metadata: { name: a.name, namespace: this.o.namespace, labels: a.labels }, spec: { values: a.values } });
    return sha256(contentHashInput(rendered));
  }

  private conditions(a: SimAgent): [type: string, status: string, reason: string, message: string][] {
    let applied: [string, string, string, string];
    if (!a.want) applied = ['ConfigApplied', 'Unknown', 'NoRevisionAssigned', 'spec.configRevision is not set'];
    else if (a.missing) applied = ['ConfigApplied', 'False', 'RevisionNotFound', `ConfigRevision ${a.missing} does not exist`];
    else if (a.outcome === 'rejected' && a.error) {
      // A template error's message already starts with file:line:column.
      const e = a.error;
      applied = ['ConfigApplied', 'False', e.render ? 'RenderFailed' : 'ConfigRejected', `${e.revision}${e.render ? '' : ` (${e.file}:${e.line})`}: ${e.message}`];
    } else if (a.applied) applied = ['ConfigApplied', 'True', 'Applied', `running ${a.applied}`];
    else applied = ['ConfigApplied', 'Unknown', 'Pending', 'not applied yet'];
    const ready = applied[1] === 'True';
    return [
      ['AgentConnected', 'True', 'Connected', `agent on ${a.name}`],
      ['HAProxyRunning', 'True', 'Running', `master ${a.pid}, worker ${a.workerPid}`],
      applied,
      ['Drifted', 'False', 'InSync', 'local files match the applied revision'],
      ['Ready', ready ? 'True' : 'False', ready ? 'Ready' : applied[2], ready ? 'HAProxy runs the desired revision' : 'see the other conditions'],
    ];
  }

  /** Write status when something significant changed, or when the stats are due (the agent's report()). */
  private async report(a: SimAgent): Promise<void> {
    const now = clock();
    const conds = this.conditions(a);
    // What status.ts's significant() compares: a change here is written at once.
    const sig = `${a.generation}|${conds.map((c) => `${c[1]}${c[2]}${c[3]}`).join('|')}|${a.applied}|${a.appliedHash}|${a.error?.message}|${a.reloads}`;
    if (sig === a.sig && now < a.statsDueAt) return;
    const at = stamp(Date.now());
    const state = conds.map((c) => c[1][0]).join('');
    const since = conds.map((c, i) => (a.condState[i] === c[1][0] && a.condSince[i] ? a.condSince[i]! : at));
    const upTime = Math.round((now - a.startedAt) / 1000);
    const status = {
      ...(a.generation !== undefined ? { observedGeneration: a.generation } : {}),
      conditions: conds.map((c, i) => ({
        type: c[0],
        status: c[1],
        reason: c[2],
        message: c[3],
        lastTransitionTime: since[i],
        ...(a.generation !== undefined ? { observedGeneration: a.generation } : {}),
      })),
      ...(a.applied ? { appliedRevision: a.applied, appliedHash: a.appliedHash } : {}),
      // A merge patch keeps what it does not mention: a fixed error is cleared explicitly.
      lastApplyError: a.outcome === 'rejected' && a.error
        ? { revision: a.error.revision, message: a.error.message, file: a.error.file, line: a.error.line, time: a.error.time }
        : null,
      heartbeatTime: at,
      agent: { version: 'fleet-sim', hostname: a.name },
      haproxy: {
        version: HAPROXY_VERSION,
        pid: a.pid,
        workerPid: a.workerPid,
        uptimeSeconds: upTime,
        reloads: a.reloads,
        failedReloads: 0,
        currentConnections: (a.index * 7 + upTime) % 500,
        sessionRate: (a.index + upTime) % 50,
      },
      ...(this.o.statsServers > 0 ? { stats: this.stats(a, upTime) } : {}),
    };
    const shows = a.outcome === 'rejected' ? a.failed : a.applied;
    // A rewrite with nothing significant changed (stats, heartbeat) is counted apart.
    const kind = sig === a.sig ? 'status-stats' : 'status';
    await this.call(kind, 'PATCH', `${this.base}/haproxyinstances/${a.name}/status`, { status }, 'application/merge-patch+json');
    const after = clock();
    a.sig = sig;
    a.writtenRevision = a.applied;
    a.condState = state;
    a.condSince = since;
    a.statsDueAt = after + this.o.statsSeconds * 1000 * (a.firstReport ? Math.random() : 1);
    if (a.firstReport) {
      a.firstReport = false;
      this.reportedCount++;
    }
    if (shows && shows === a.want && shows !== a.doneRevision) {
      if (a.doneRevision) this.tally(a.doneRevision, a.doneOk, -1);
      a.doneRevision = shows;
      a.doneAt = after;
      a.doneOk = a.outcome === 'applied';
      this.tally(shows, a.doneOk, 1);
    }
  }

  private tally(revision: string, ok: boolean, delta: number): void {
    const t = this.outcomes.get(revision) ?? { ok: 0, failed: 0 };
    if (ok) t.ok += delta;
    else t.failed += delta;
    if (t.ok === 0 && t.failed === 0) this.outcomes.delete(revision);
    else this.outcomes.set(revision, t);
  }

  /** A `show stat` summary: one frontend, one backend, `statsServers` servers, counters that move. */
  private stats(a: SimAgent, upTime: number) {
    const servers = [];
    for (let k = 0; k < this.o.statsServers; k++) {
      servers.push({
        name: `s${k}`,
        backend: 'be_app',
        status: 'UP',
        currentSessions: (k + upTime) % 20,
        maxSessions: 40,
        totalSessions: upTime * 10 + k,
        sessionRate: (a.index + k) % 10,
        weight: 1,
        checkStatus: 'L4OK',
      });
    }
    const total = upTime * 10 * this.o.statsServers;
    return {
      frontends: [{ name: 'fe', status: 'OPEN', currentSessions: upTime % 100, maxSessions: 200, totalSessions: total, sessionRate: 10 }],
      backends: [{ name: 'be_app', status: 'UP', currentSessions: upTime % 100, maxSessions: 200, totalSessions: total, sessionRate: 10 }],
      servers,
    };
  }

  private async event(a: SimAgent, applyMs: number): Promise<void> {
    const at = stamp(Date.now());
    const ok = a.outcome === 'applied';
    try {
      await this.call('event', 'POST', `${this.base}/events`, {
        apiVersion: 'haproxyhq.io/v1alpha1',
        kind: 'Event',
        metadata: { generateName: `${a.name}-` },
        involvedObject: { apiVersion: 'haproxyhq.io/v1alpha1', kind: 'HAProxyInstance', name: a.name, namespace: this.o.namespace, ...(a.uid ? { uid: a.uid } : {}) },
        type: ok ? 'Normal' : 'Warning',
        reason: ok ? 'ConfigApplied' : 'ConfigRejected',
        message: ok ? `applied ${a.applied} in ${Math.round(applyMs)} ms` : `${a.error!.revision} at haproxy.cfg:${a.error!.line}: ${a.error!.message}`,
        count: 1,
        firstTimestamp: at,
        lastTimestamp: at,
        source: { component: 'hq-agent', host: a.name },
      });
    } catch {
      // The agent logs it and goes on: an Event is not worth failing a pass for.
    }
  }

  private async renewLease(a: SimAgent): Promise<void> {
    a.leaseBusy = true;
    // The first renewal at once, the second at a random phase, then every heartbeat on that phase,
    // as hq-agent's setInterval keeps it: a slow answer (a busy server) or this process's own
    // late tick delays one renewal, not the ones after it. (Rescheduled from when it ran, a
    // fleet's renewals delayed by one rollout fell due together in a burst ten seconds later.)
    const period = this.o.heartbeatSeconds * 1000;
    const now = clock();
    if (a.leaseRenewals === 0) a.leaseAt = now + period * Math.random();
    else a.leaseAt = a.leaseAt + period > now ? a.leaseAt + period : now + period;
    const at = stamp(Date.now());
    const spec = { holderIdentity: a.name, leaseDurationSeconds: this.o.heartbeatSeconds * 4, renewTime: at };
    try {
      const r = await this.call('lease', 'PATCH', `${this.base}/leases/${a.name}`, { spec }, 'application/merge-patch+json', [404]);
      if (r.code === 404) {
        await this.call('lease-create', 'POST', `${this.base}/leases`, {
          apiVersion: 'haproxyhq.io/v1alpha1',
          kind: 'Lease',
          metadata: { name: a.name, labels: { 'haproxyhq.io/instance': a.name } },
          spec: { ...spec, acquireTime: at, leaseTransitions: 0 },
        }, undefined, [409]);
      }
      a.leaseRenewals++;
    } catch {
      // Counted as an error; the next heartbeat tries again.
    } finally {
      a.leaseBusy = false;
    }
  }

  private onTick(): void {
    if (this.stopped) return;
    const now = clock();
    for (const a of this.agents) {
      if (!a.registered) continue;
      if (!a.req && a.watchRetryAt && now >= a.watchRetryAt) this.openWatch(a);
      if (a.watching && a.req && a.req !== PENDING && now - a.heardAt > this.o.watchSilenceMs) {
        a.watchError = new Error(`the watch heard nothing for ${Math.round(this.o.watchSilenceMs / 1000)} s`);
        this.silent++;
        a.req.destroy();
      }
      if (!a.leaseBusy && now >= a.leaseAt) void this.renewLease(a);
      if (!a.busy && !a.pending && ((a.retryAt && now >= a.retryAt) || (!a.firstReport && now >= a.statsDueAt))) this.schedule(a);
    }
  }

  // -------------------------------------------------------------------------------------------
  // What the caller sees

  counts(): FleetCounts {
    const applied: Record<string, number> = {};
    const failed: Record<string, number> = {};
    for (const [rev, t] of this.outcomes) {
      if (t.ok) applied[rev] = t.ok;
      if (t.failed) failed[rev] = t.failed;
    }
    return {
      agents: this.agents.length,
      registered: this.registeredCount,
      watching: this.watchingCount,
      reported: this.reportedCount,
      applied,
      failed,
      requests: { ...this.requests },
      errors: { ...this.errors },
      creates: this.creates,
      watchReconnects: this.reconnects,
      gone: this.gone,
      silent: this.silent,
      inFlight: this.limiter.inFlight,
      queued: this.limiter.queued,
      maxQueued: this.limiter.maxQueued,
    };
  }

  private waitUntil(missing: () => string | undefined, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const started = clock();
      const check = () => {
        const what = missing();
        if (what === undefined) {
          clearInterval(timer);
          resolve();
        } else if (this.stopped || clock() - started > timeoutMs) {
          clearInterval(timer);
          reject(new Error(`fleet: ${this.stopped ? 'stopped' : `timed out after ${timeoutMs} ms`}: ${what}`));
        }
      };
      const timer = setInterval(check, 10);
      check();
    });
  }

  ready(timeoutMs = 120_000): Promise<void> {
    const n = this.agents.length;
    return this.waitUntil(() => {
      if (this.registeredCount === n && this.watchingCount === n && this.reportedCount === n) return undefined;
      return `registered ${this.registeredCount}/${n}, watching ${this.watchingCount}/${n}, reported ${this.reportedCount}/${n}`;
    }, timeoutMs);
  }

  done(revision: string, count = this.agents.length, timeoutMs = 120_000): Promise<void> {
    return this.waitUntil(() => {
      const t = this.outcomes.get(revision);
      const n = t ? t.ok + t.failed : 0;
      return n >= count ? undefined : `${n}/${count} agents wrote an outcome for ${revision} to status`;
    }, timeoutMs);
  }

  timings(revision: string): RevisionTimings {
    const n = this.agents.length;
    const t: RevisionTimings = { seenAt: new Float64Array(n).fill(NaN), doneAt: new Float64Array(n).fill(NaN), ok: new Uint8Array(n) };
    for (const a of this.agents) {
      if (a.seenRevision === revision) t.seenAt[a.index] = a.seenAt;
      if (a.doneRevision === revision) {
        t.doneAt[a.index] = a.doneAt;
        t.ok[a.index] = a.doneOk ? 1 : 0;
      }
    }
    return t;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.tick);
    for (const a of this.agents) {
      if (a.pending) clearTimeout(a.pending);
      a.pending = undefined;
      if (a.req && a.req !== PENDING) a.req.destroy();
      a.req = undefined;
    }
    this.limiter.drain();
    this.watchLimiter.drain();
    this.pool.destroy();
    this.watchPool.destroy();
  }
}

/** The parts of an HAProxyInstance the simulator reads. */
interface WireInstance {
  metadata?: { name?: string; uid?: string; resourceVersion?: string; generation?: number; labels?: Record<string, string> };
  spec?: { configRevision?: string; values?: Record<string, string> };
  status?: {
    appliedRevision?: string;
    appliedHash?: string;
    conditions?: { type?: string; status?: string; reason?: string; lastTransitionTime?: string }[];
  };
}
