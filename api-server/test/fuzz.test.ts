/**
 * A fuzz test of the whole API: thousands of random and mutated requests (bodies, headers,
 * paths, query strings, framing) against every route. Oracles: no answer is a 5xx, every error
 * body is a Kubernetes Status whose code is the HTTP status, a request without a valid token
 * gets 401 wherever a token is needed, the process never crashes, a watch opened at the start
 * sees only well-formed events that add up to what is stored, and at the end every stored
 * object is valid against its schema and consistent with its key.
 *
 * Deterministic by seed (fixed by default; HQ_FUZZ_SEED=random explores): HQ_FUZZ_SEED=N reproduces a run (the seed is printed), HQ_FUZZ_CASES=N
 * runs more (or fewer) cases. Most cases go through inject() for speed; a fifth go over a real
 * socket with hand-written HTTP, so framing problems (Content-Length, chunking) surface.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  API_VERSION,
  APITokenListSchema,
  APITokenSchema,
  AuditEventListSchema,
  DNS1123_LABEL,
  EnrollmentSchema,
  InstanceMetricsSchema,
  JoinTokenListSchema,
  JoinTokenSchema,
  RESOURCES,
  RenderedConfigSchema,
  SessionInfoSchema,
  UserListSchema,
  UserSchema,
  revisionName,
  type ResourceDescriptor,
} from '@haproxyhq/schemas';
import type { TObject } from '@sinclair/typebox';
import { isConsolePath, loadConsole, type StaticFile } from '../src/routes/console.ts';
import { PUBLIC_PATHS } from '../src/routes/discovery.ts';
import { ENROLL_PATH } from '../src/routes/tokens.ts';
import { StoredTokenAuthenticator, generateToken } from '../src/auth.ts';
import { deepEqual } from '../src/registry/patch.ts';
import { STRATEGIES } from '../src/registry/strategies.ts';
import { metadataCauses, schemaCauses } from '../src/registry/validation.ts';
import { buildTestApp, type TestApp } from './support/app.ts';
import { BASE, configFixture, instanceFixture, ns } from './support/fixtures.ts';
import {
  KINDS,
  NAMESPACED,
  PLURALS,
  Rng,
  describeCase,
  generateCase,
  learn,
  newState,
  objectsOf,
  validObject,
  type FuzzCase,
  type FuzzState,
  type Plural,
} from './support/fuzz.ts';
import { until } from './support/until.ts';

// A fixed seed by default, so a run that passed passes again (CI must not turn red on an unrelated
// change); HQ_FUZZ_SEED=random explores new cases, and prints the seed to reproduce what it finds.
const SEED_TEXT = process.env.HQ_FUZZ_SEED ?? '20261124';
const SEED = SEED_TEXT === 'random' ? (Date.now() ^ (process.pid << 16)) >>> 0 : Number(SEED_TEXT) >>> 0;
const CASES = process.env.HQ_FUZZ_CASES ? Number(process.env.HQ_FUZZ_CASES) : 4000;
/** A fifth over a real socket: slower per case, but the only way to send broken framing. */
const SOCKET_CASES = Math.round(CASES / 5);
const INJECT_CASES = CASES - SOCKET_CASES;
const LIMITS = { maxBodyBytes: 256 * 1024, maxObjectBytes: 128 * 1024 };
/** A single request slower than this is reported (a hang or an accidentally quadratic path). */
const SLOW_MS = 2000;
/** What reproduces a run: the same seed and case count give the same cases. */
const REPRO = `HQ_FUZZ_SEED=${SEED} HQ_FUZZ_CASES=${CASES}`;
/** Generous: a loaded 2-core machine runs the default 4,000 cases in 10-20 s. */
const PHASE_TIMEOUT_MS = Math.max(120_000, CASES * 40);
const FAILURES_FILE = join(tmpdir(), `hq-fuzz-${SEED}-failures.jsonl`);

const DESCRIPTORS = new Map<string, ResourceDescriptor>(RESOURCES.map((d) => [d.plural, d]));
/** [resource, namespace ('' when cluster-wide), name]. */
const SEEDED: [Plural, string, string][] = [
  ['haproxyinstances', 'default', 'edge-1'],
  ['haproxyinstances', 'default', 'edge-2'],
  ['haproxyinstances', 'fuzz', 'edge-1'],
  ['haproxyconfigs', 'default', 'web'],
  ['haproxyconfigs', 'default', 'tpl'],
  ['haproxyconfigs', 'fuzz', 'web'],
  ['events', 'default', 'ev-1'],
  ['leases', 'default', 'edge-1'],
  ['roles', 'default', 'viewer'],
  ['rolebindings', 'default', 'viewers'],
  ['rolebindings', 'fuzz', 'fuzz-viewer'],
  ['clusterroles', '', 'viewer'],
  ['clusterrolebindings', '', 'viewers'],
];

let t: TestApp;
let consoleDir: string;
let consoleFiles: Map<string, StaticFile>;
let port: number;
let state: FuzzState;
/** The admin's token, then the second user's. */
let tokens: string[];
const failures: { c: FuzzCase; problems: string[]; replayed?: boolean }[] = [];
const statusCounts = new Map<string, number>();
/** Cases per kind and transport, and how many of them succeeded (2xx). */
const kindCounts = new Map<string, { inject: number; socket: number; ok: number }>();
const slow: { c: FuzzCase; ms: number }[] = [];
const slowest: { c: FuzzCase; ms: number }[] = [];
const watches: Recorder[] = [];
/** What the server logged at level error, and how many lines so far (cases run four at a time share the window). */
const serverErrors: string[] = [];
let loggedCount = 0;
/** The store's revision when the watches opened: their first events, up to it, are the state then. */
let startRevision = 0;

beforeAll(async () => {
  rmSync(FAILURES_FILE, { force: true });
  console.log(`fuzz: ${REPRO} (${INJECT_CASES} by inject, ${SOCKET_CASES} over a socket)`);
  consoleDir = mkdtempSync(join(tmpdir(), 'hq-fuzz-console-'));
  mkdirSync(join(consoleDir, 'assets'));
  writeFileSync(join(consoleDir, 'index.html'), '<!doctype html><title>HAProxyHQ</title><script type="module" src="/assets/index-abc.js"></script>');
  writeFileSync(join(consoleDir, 'assets', 'index-abc.js'), 'console.log(1)');
  writeFileSync(join(consoleDir, 'favicon.svg'), '<svg/>');
  consoleFiles = loadConsole(consoleDir);
  // The server's error log: a 5xx is reported with the stack the server logged for it.
  const stream = {
    write: (line: string) => {
      serverErrors.push(line);
      if (serverErrors.length > 1000) serverErrors.splice(0, 500);
      loggedCount++;
    },
  };
  t = await buildTestApp({ ...LIMITS, rbac: true, bookmarkIntervalMs: 100, metricsHistoryMinutes: 5, consoleFiles, logger: { level: 'error', stream } });
  // A second user, who may only read (a RoleBinding in namespace fuzz, seeded below): RBAC's 403s get fuzzed too.
  const viewer = generateToken();
  await new StoredTokenAuthenticator(t.storage).register(viewer, { name: 'fuzz-viewer', groups: [] }, 'fuzz');
  tokens = [t.token, viewer];
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  port = (t.app.server.address() as { port: number }).port;
  state = newState(LIMITS, [...consoleFiles.keys()]);
  // Opened before the fuzz writes anything, without a resourceVersion: what exists (the built-in
  // roles) comes as ADDED events, then every change, so replaying them gives what is stored.
  startRevision = await t.storage.currentRevision();
  for (const p of PLURALS) watches.push(await recordWatch(p));
  await seed();
});

afterAll(async () => {
  await t?.close();
  if (consoleDir) rmSync(consoleDir, { recursive: true, force: true });
});

/** The seeds every case may aim at: recreated when a case deleted them. */
async function seed(): Promise<void> {
  const body = (p: Plural, name: string): unknown => {
    switch (p) {
      case 'haproxyinstances':
        return instanceFixture({ metadata: { name, labels: { role: 'edge', env: 'prod' } }, spec: { configRevision: name === 'edge-2' ? 'tpl-1' : 'web-1', values: { maxconn: '200' } } });
      case 'haproxyconfigs':
        return name === 'tpl'
          ? configFixture({ metadata: { name }, spec: { template: true, config: 'global\n    maxconn {{ values.maxconn }}\n# {{ labels.env | default "x" }}\n' } })
          : configFixture({ metadata: { name } });
      case 'rolebindings':
        if (name === 'fuzz-viewer') {
          return { ...validObject(new Rng(0), p, name), subjects: [{ kind: 'User', name: 'fuzz-viewer' }], roleRef: { kind: 'ClusterRole', name: 'viewer' } };
        }
        return validObject(new Rng(0), p, name);
      default:
        return validObject(new Rng(0), p, name);
    }
  };
  for (const [p, namespace, name] of SEEDED) {
    if (objectsOf(state, p).has(`${namespace}/${name}`)) continue;
    const collection = namespace ? ns(p, namespace) : `${BASE}/${p}`;
    const existing = await t.app.inject({ method: 'GET', url: `${collection}/${name}`, headers: t.headers });
    const res = existing.statusCode === 200
      ? existing
      : await t.app.inject({ method: 'POST', url: collection, headers: t.headers, payload: body(p, name) as object });
    if (res.statusCode >= 300) throw new Error(`seeding ${p} ${namespace}/${name}: ${res.body}`);
    learn(state, 'GET', '', res.statusCode, res.json());
  }
}

// ---------------------------------------------------------------------------------------------
// Oracles

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** Set when the bytes on the wire were not a well-formed HTTP response. */
  framingError?: string;
}

const header = (a: Answer, name: string) => {
  const v = a.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
};

/** A path the router refuses before any hook runs (bad percent-encoding, a segment over the param limit). */
function malformedUrl(url: string): boolean {
  const path = url.split('?')[0]!;
  try {
    decodeURIComponent(path);
  } catch {
    return true;
  }
  // Raw bytes outside printable ASCII (an emoji included) never reach a route over a socket.
  return path.split('/').some((s) => s.length > 1024) || /[^\x21-\x7e]|#/u.test(path);
}

/** The path as the server sees it: inject() resolves dot segments, a socket sends them as they are. */
function pathOf(c: FuzzCase, socket: boolean): string {
  const raw = c.url.split('?')[0]!;
  if (socket) return raw;
  try {
    return new URL(c.url, 'http://x').pathname;
  } catch {
    return raw;
  }
}

/** Whether the request needs a bearer token (what app.ts's onRequest hook decides). */
function needsToken(c: FuzzCase, socket: boolean): boolean {
  const path = pathOf(c, socket);
  if (PUBLIC_PATHS.has(path) || (path === ENROLL_PATH && c.method === 'POST')) return false;
  return !(c.method !== 'POST' && isConsolePath(path, consoleFiles));
}

function checkStatus(body: unknown, code: number): string | undefined {
  if (typeof body !== 'object' || body === null) return 'the error body is not a JSON object';
  const s = body as Record<string, unknown>;
  if (s.kind !== 'Status' || s.apiVersion !== 'v1' || s.status !== 'Failure') return `the error body is not a Status: ${JSON.stringify(body).slice(0, 300)}`;
  if (s.code !== code) return `Status.code ${String(s.code)} differs from the HTTP status ${code}`;
  if (typeof s.reason !== 'string' || s.reason === '' || typeof s.message !== 'string') return 'Status without reason or message';
  if (/node_modules|\.ts:\d|\n\s+at /.test(s.message)) return `Status.message leaks internals: ${s.message.slice(0, 300)}`;
  return undefined;
}

/** Problems with a stored or served object of `plural`; [] when it is well-formed. */
function objectProblems(plural: string, obj: unknown, where: string): string[] {
  const d = DESCRIPTORS.get(plural);
  if (!d) return [`${where}: unknown resource ${plural}`];
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return [`${where}: not an object`];
  const o = obj as { apiVersion?: unknown; kind?: unknown; metadata?: Record<string, unknown> };
  const problems: string[] = [];
  if (o.apiVersion !== API_VERSION) problems.push(`${where}: apiVersion ${JSON.stringify(o.apiVersion)}`);
  if (o.kind !== d.kind) problems.push(`${where}: kind ${JSON.stringify(o.kind)}`);
  const causes = [...schemaCauses(d.schema, obj)];
  if (causes.length === 0) {
    causes.push(...metadataCauses(o.metadata as never), ...(STRATEGIES[plural]?.validate?.(obj as never, undefined) ?? []));
  }
  for (const cause of causes) problems.push(`${where}: ${cause.field ?? ''} ${cause.message}`);
  const meta = o.metadata ?? {};
  if (typeof meta.generation !== 'number' || !Number.isInteger(meta.generation) || meta.generation < 1) problems.push(`${where}: generation ${JSON.stringify(meta.generation)}`);
  if (typeof meta.uid !== 'string' || !/^[0-9a-f-]{36}$/.test(meta.uid)) problems.push(`${where}: uid ${JSON.stringify(meta.uid)}`);
  if (d.namespaced ? typeof meta.namespace !== 'string' || !new RegExp(DNS1123_LABEL).test(meta.namespace) : meta.namespace !== undefined) {
    problems.push(`${where}: namespace ${JSON.stringify(meta.namespace)} on a ${d.namespaced ? 'namespaced' : 'cluster-wide'} object`);
  }
  if (typeof meta.creationTimestamp !== 'string' || Number.isNaN(Date.parse(meta.creationTimestamp))) problems.push(`${where}: creationTimestamp ${JSON.stringify(meta.creationTimestamp)}`);
  return problems;
}

/** The answers that are not registry objects, by kind: each must fit its schema. */
const OTHER_KINDS: Record<string, TObject> = {
  User: UserSchema,
  UserList: UserListSchema,
  APIToken: APITokenSchema,
  APITokenList: APITokenListSchema,
  JoinToken: JoinTokenSchema,
  JoinTokenList: JoinTokenListSchema,
  AuditEventList: AuditEventListSchema,
  Session: SessionInfoSchema,
  Enrollment: EnrollmentSchema,
  RenderedConfig: RenderedConfigSchema,
  InstanceMetrics: InstanceMetricsSchema,
};

/** What is wrong with a 2xx body: objects, lists and tables must be well-formed. */
function successProblems(c: FuzzCase, body: unknown): string[] {
  if (typeof body !== 'object' || body === null) return [];
  const b = body as { kind?: string; items?: unknown[]; metadata?: { resourceVersion?: unknown }; rows?: unknown; columnDefinitions?: unknown };
  const plural = PLURALS.find((p) => KINDS[p] === b.kind);
  const problems: string[] = [];
  const rv = b.metadata?.resourceVersion;
  if (rv !== undefined && (typeof rv !== 'string' || !/^\d+$/.test(rv))) problems.push(`resourceVersion ${JSON.stringify(rv)}`);
  if (plural && c.method !== 'DELETE') problems.push(...objectProblems(plural, body, 'response'));
  const list = PLURALS.find((p) => `${KINDS[p]}List` === b.kind);
  if (list) {
    if (!Array.isArray(b.items)) problems.push('list without items');
    else b.items.forEach((item, i) => problems.push(...objectProblems(list, item, `items[${i}]`)));
  }
  if (b.kind === 'Table' && !Array.isArray(b.rows)) problems.push('Table without rows');
  const other = b.kind === undefined ? undefined : OTHER_KINDS[b.kind];
  if (other) for (const cause of schemaCauses(other, body)) problems.push(`${b.kind}: ${cause.field ?? ''} ${cause.message}`);
  return problems;
}

/** Every oracle that applies to one answer. */
function check(c: FuzzCase, a: Answer, socket: boolean): string[] {
  const problems: string[] = [];
  if (a.framingError) problems.push(`malformed HTTP response: ${a.framingError}`);
  if (a.status >= 500) problems.push(`answered ${a.status}`);
  const head = c.method === 'HEAD' || a.status === 304 || a.status === 204;
  const cl = header(a, 'content-length');
  if (cl !== undefined && !head && Number(cl) !== a.body.length) problems.push(`Content-Length ${cl} but ${a.body.length} body bytes`);
  // Without a valid token: 401, unless the request never got as far as the routes (a path the
  // router refuses, or bytes Node's HTTP parser refuses: broken framing, a header too large).
  const refusedEarly = malformedUrl(c.url) || (socket && (c.framing !== 'ok' || c.rawHeaderLines !== undefined || c.headers['transfer-encoding'] !== undefined));
  const earlyStatus = a.status === 400 || (socket && a.status === 431);
  if (!c.authValid && needsToken(c, socket) && a.status !== 401 && !(earlyStatus && (refusedEarly || a.status === 431))) {
    problems.push(`a request without a valid token got ${a.status}, not 401`);
  }
  const type = header(a, 'content-type') ?? '';
  let parsed: unknown;
  if (!head && /json/.test(type) && a.body.length > 0 && !(c.kind === 'watch' && a.status === 200)) {
    try {
      parsed = JSON.parse(a.body.toString('utf8'));
    } catch (err) {
      problems.push(`the ${type} body does not parse: ${(err as Error).message}`);
    }
  }
  if (a.status >= 400 && !head) {
    const bad = checkStatus(parsed, a.status);
    if (bad) problems.push(bad);
  } else if (a.status >= 200 && a.status < 300 && parsed !== undefined) {
    problems.push(...successProblems(c, parsed));
  }
  if (c.kind === 'watch' && a.status === 200 && !head) problems.push(...watchStreamProblems(a.body));
  return problems;
}

/** The complete lines of a watch stream: each one a well-formed event. */
function watchStreamProblems(body: Buffer): string[] {
  const problems: string[] = [];
  const lines = body.toString('utf8').split('\n');
  lines.pop(); // the last one may have been cut off when we hung up
  for (const line of lines) {
    if (line.trim() === '') continue;
    problems.push(...eventProblems(line, undefined));
  }
  return problems;
}

function eventProblems(line: string, plural: string | undefined): string[] {
  let e: { type?: unknown; object?: { kind?: string; metadata?: { resourceVersion?: unknown } } };
  try {
    e = JSON.parse(line) as typeof e;
  } catch {
    return [`watch line is not JSON: ${line.slice(0, 200)}`];
  }
  if (e.type === 'ERROR') {
    const bad = checkStatus(e.object, (e.object as { code?: number } | undefined)?.code ?? -1);
    return bad ? [`watch ERROR: ${bad}`] : [];
  }
  if (e.type !== 'ADDED' && e.type !== 'MODIFIED' && e.type !== 'DELETED' && e.type !== 'BOOKMARK') return [`watch event type ${JSON.stringify(e.type)}`];
  // as=Table: each event carries a Table of one row, whose object has the metadata.
  if (e.object?.kind === 'Table') return Array.isArray((e.object as { rows?: unknown }).rows) ? [] : ['watch Table event without rows'];
  const rv = e.object?.metadata?.resourceVersion;
  if (typeof rv !== 'string' || !/^\d+$/.test(rv)) return [`watch ${String(e.type)} event with resourceVersion ${JSON.stringify(rv)}`];
  if (e.type === 'BOOKMARK') return [];
  const p = plural ?? PLURALS.find((x) => KINDS[x] === e.object?.kind);
  if (!p) return [`watch event for kind ${JSON.stringify(e.object?.kind)}`];
  return objectProblems(p, e.object, `watch ${String(e.type)}`);
}

// ---------------------------------------------------------------------------------------------
// Transports

async function viaInject(c: FuzzCase): Promise<Answer> {
  const res = await t.app.inject({
    method: c.method as 'GET',
    url: c.url,
    headers: c.headers,
    ...(c.body !== undefined ? { payload: c.body } : {}),
  });
  return { status: res.statusCode, headers: res.headers as Answer['headers'], body: res.rawPayload };
}

/** Bytes of a request head and body as `c` asks, framing mistakes included. */
function rawRequest(c: FuzzCase): Buffer {
  const lines = [`${c.method} ${c.url} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close'];
  for (const [k, v] of Object.entries(c.headers)) lines.push(`${k}: ${v}`);
  lines.push(...(c.rawHeaderLines ?? []));
  const body = c.body ?? Buffer.alloc(0);
  let payload = body;
  const chunked = (b: Buffer) => Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n0\r\n\r\n')]);
  switch (c.framing) {
    case 'ok':
      if (c.body !== undefined) lines.push(`Content-Length: ${body.length}`);
      break;
    case 'content-length-short':
      lines.push(`Content-Length: ${Math.floor(body.length / 2)}`);
      break;
    case 'content-length-long':
      lines.push(`Content-Length: ${body.length + 17}`);
      break;
    case 'content-length-junk':
      lines.push(`Content-Length: ${body.length}x`);
      break;
    case 'two-content-lengths':
      lines.push(`Content-Length: ${body.length}`, `Content-Length: ${body.length + 1}`);
      break;
    case 'chunked':
      lines.push('Transfer-Encoding: chunked');
      payload = chunked(body);
      break;
    case 'bad-chunked':
      lines.push('Transfer-Encoding: chunked');
      payload = Buffer.concat([Buffer.from('zz\r\n'), body, Buffer.from('\r\n')]);
      break;
    case 'chunked-and-length':
      lines.push('Transfer-Encoding: chunked', `Content-Length: ${body.length}`);
      payload = chunked(body);
      break;
  }
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), payload]);
}

/**
 * Send `c` over a fresh connection and read the first response, checking its framing. Watches
 * are cut after `watchMs`; a request whose Content-Length promises more than it sends gets no
 * answer, and that is fine.
 */
function viaSocket(c: FuzzCase, watchMs = 400): Promise<Answer | undefined> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const limit = c.kind === 'watch' || c.framing === 'content-length-long' ? watchMs : 10_000;
    let cut = false;
    const timer = setTimeout(() => {
      cut = true;
      sock.destroy();
    }, limit);
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('error', () => {}); // a reset after the server's answer is how a refused request ends
    sock.on('close', () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks);
      if (all.length === 0) {
        if (cut && (c.framing === 'content-length-long' || c.kind === 'watch')) return resolve(undefined);
        return reject(new Error(cut ? `no answer within ${limit} ms` : 'the server closed the connection without an answer'));
      }
      try {
        resolve(parseResponse(all, cut, c));
      } catch (err) {
        reject(err as Error);
      }
    });
    sock.write(rawRequest(c));
  });
}

function parseResponse(all: Buffer, cut: boolean, c: FuzzCase): Answer {
  let at = 0;
  for (;;) {
    const end = all.indexOf('\r\n\r\n', at);
    // Only "100 Continue" before we hung up: the server was still waiting for the body promised.
    if (end < 0 && at > 0 && at === all.length && cut) return { status: 100, headers: {}, body: Buffer.alloc(0) };
    if (end < 0) return { status: 0, headers: {}, body: Buffer.alloc(0), framingError: `no end of headers in ${JSON.stringify(all.subarray(at, at + 200).toString('latin1'))}` };
    const head = all.subarray(at, end).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.1 (\d{3}) /.exec(head[0]!);
    if (!m) return { status: 0, headers: {}, body: Buffer.alloc(0), framingError: `status line ${JSON.stringify(head[0])}` };
    const status = Number(m[1]);
    const headers: Record<string, string> = {};
    for (const line of head.slice(1)) {
      const i = line.indexOf(':');
      headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    at = end + 4;
    if (status === 100) continue; // Expect: 100-continue
    const rest = all.subarray(at);
    // Bytes the server could not frame (a short Content-Length, Transfer-Encoding: identity) are
    // read as a second request, whose answer may follow the first.
    const framed = c.framing !== 'content-length-short' && c.headers['transfer-encoding'] === undefined;
    // A request the HTTP parser refused gets a body even for HEAD: the server never read the method.
    const refused = headers['content-length'] !== undefined && Number(headers['content-length']) === rest.length && headers.connection === 'close';
    if ((c.method === 'HEAD' && !refused) || status === 304 || status === 204) {
      return { status, headers, body: Buffer.alloc(0), ...(rest.length && framed ? { framingError: `${rest.length} bytes after a bodiless response` } : {}) };
    }
    if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      if (headers['content-length'] !== undefined) return { status, headers, body: rest, framingError: 'both Content-Length and chunked' };
      const body: Buffer[] = [];
      let p = 0;
      for (;;) {
        const nl = rest.indexOf('\r\n', p);
        if (nl < 0) {
          return { status, headers, body: Buffer.concat(body), ...(cut ? {} : { framingError: 'chunked body ends without its last chunk' }) };
        }
        const size = parseInt(rest.subarray(p, nl).toString('latin1'), 16);
        if (Number.isNaN(size)) return { status, headers, body: Buffer.concat(body), framingError: 'bad chunk size' };
        if (size === 0) {
          const after = rest.length - (nl + 4);
          return { status, headers, body: Buffer.concat(body), ...(after > 0 && framed ? { framingError: `${after} bytes after the last chunk` } : {}) };
        }
        if (rest.length < nl + 2 + size + 2) return { status, headers, body: Buffer.concat([...body, rest.subarray(nl + 2)]), ...(cut ? {} : { framingError: 'chunk cut short' }) };
        body.push(rest.subarray(nl + 2, nl + 2 + size));
        p = nl + 2 + size + 2;
      }
    }
    const cl = headers['content-length'];
    if (cl !== undefined) {
      const n = Number(cl);
      if (rest.length < n) return { status, headers, body: rest, framingError: `Content-Length ${n} but the connection closed after ${rest.length} bytes` };
      const extra = rest.length - n;
      // Framing errors by the client leave bytes the server reads as a second request: its answer follows.
      return { status, headers: { ...headers, 'content-length': String(n) }, body: rest.subarray(0, n), ...(extra > 0 && framed && c.framing === 'ok' ? { framingError: `${extra} bytes after the body` } : {}) };
    }
    return { status, headers, body: rest };
  }
}

// ---------------------------------------------------------------------------------------------
// The watch opened before the fuzz starts

interface Recorder {
  plural: Plural;
  lines: string[];
  status: number;
  close(): void;
}

function recordWatch(plural: Plural): Promise<Recorder> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `http://127.0.0.1:${port}/apis/haproxyhq.io/v1alpha1/${plural}?watch=true&allowWatchBookmarks=true`,
      { headers: t.headers },
      (res) => {
        const rec: Recorder = { plural, lines: [], status: res.statusCode ?? 0, close: () => req.destroy() };
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          buf += d;
          let i: number;
          while ((i = buf.indexOf('\n')) >= 0) {
            rec.lines.push(buf.slice(0, i));
            buf = buf.slice(i + 1);
          }
        });
        res.on('error', () => {});
        resolve(rec);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Replay a watch's events into name -> object, checking each event on the way. */
function replay(rec: Recorder, problems: string[]): Map<string, unknown> {
  const objects = new Map<string, unknown>();
  let last = 0;
  for (const line of rec.lines) {
    const bad = eventProblems(line, rec.plural);
    if (bad.length) {
      problems.push(...bad.map((b) => `${rec.plural} watch: ${b}`));
      continue;
    }
    const e = JSON.parse(line) as { type: string; object: { metadata: { namespace?: string; name: string; resourceVersion: string } } };
    if (e.type === 'ERROR') {
      problems.push(`${rec.plural} watch: ERROR ${line.slice(0, 300)}`);
      continue;
    }
    const rv = Number(e.object.metadata.resourceVersion);
    if (rv <= startRevision && last <= startRevision) {
      // The state when the watch opened: ADDED events, in any order.
      if (e.type !== 'ADDED' && e.type !== 'BOOKMARK') problems.push(`${rec.plural} watch: ${e.type} at ${rv} before the watch's start revision ${startRevision}`);
    } else if (e.type === 'BOOKMARK' ? rv < last : rv <= last) problems.push(`${rec.plural} watch: resourceVersion ${rv} after ${last}`);
    last = Math.max(last, rv);
    const key = `${e.object.metadata.namespace ?? ''}/${e.object.metadata.name}`;
    if (e.type === 'DELETED') objects.delete(key);
    else if (e.type !== 'BOOKMARK') objects.set(key, e.object);
  }
  return objects;
}

// ---------------------------------------------------------------------------------------------

async function runCase(c: FuzzCase, socket: boolean): Promise<void> {
  const started = performance.now();
  const logFrom = loggedCount;
  let answer: Answer | undefined;
  try {
    answer = socket ? await viaSocket(c) : await viaInject(c);
  } catch (err) {
    // inject() parses the URL itself and refuses some that a socket carries to the server.
    if (!socket && (err as { code?: string }).code === 'ERR_INVALID_URL') {
      statusCounts.set('not injectable', (statusCounts.get('not injectable') ?? 0) + 1);
      return;
    }
    failures.push({ c, problems: [`the request failed: ${(err as Error).message}`] });
    return;
  }
  const ms = performance.now() - started;

  const waits = c.kind === 'watch' || c.framing === 'content-length-long';
  if (!waits) {
    slowest.push({ c, ms });
    slowest.sort((a, b) => b.ms - a.ms).splice(5);
    if (ms > SLOW_MS) slow.push({ c, ms });
  }
  if (!answer) {
    statusCounts.set('no answer', (statusCounts.get('no answer') ?? 0) + 1);
    return;
  }
  statusCounts.set(String(answer.status), (statusCounts.get(String(answer.status)) ?? 0) + 1);
  const counts = kindCounts.get(c.kind) ?? { inject: 0, socket: 0, ok: 0 };
  counts[socket ? 'socket' : 'inject']++;
  if (answer.status < 300) counts.ok++;
  kindCounts.set(c.kind, counts);
  const problems = check(c, answer, socket);
  if (answer.status >= 500) {
    // Lines logged while this case ran; with cases in flight together, maybe a neighbour's too.
    problems.push(...serverErrors.slice(serverErrors.length - (loggedCount - logFrom)).map((l) => `server log: ${errorOf(l)}`));
  }
  if (problems.length) failures.push({ c, problems });
  if (answer.status < 300 && /json/.test(header(answer, 'content-type') ?? '') && c.kind !== 'watch' && c.method !== 'HEAD') {
    try {
      learn(state, c.method, c.url, answer.status, JSON.parse(answer.body.toString('utf8')));
    } catch {
      // already reported by check()
    }
  }
}

/** The message and top of the stack of a logged error line. */
function errorOf(line: string): string {
  try {
    const e = (JSON.parse(line) as { err?: { type?: string; message?: string; stack?: string } }).err;
    return `${e?.type}: ${e?.message} ${e?.stack?.split('\n').slice(1, 5).join(' <') ?? ''}`;
  } catch {
    return line.slice(0, 500);
  }
}

/** Send each failing request again, alone, and attach what the server logged for it. */
async function replayFailures(socket: boolean): Promise<void> {
  for (const f of failures.filter((x) => !x.replayed).slice(0, 15)) {
    if (!f.problems.some((p) => /^answered 5/.test(p))) continue;
    f.replayed = true;
    serverErrors.splice(0);
    try {
      const again = socket ? await viaSocket(f.c) : await viaInject(f.c);
      f.problems.push(`sent again alone: ${again ? again.status : 'no answer'}${serverErrors.map((l) => `; server log: ${errorOf(l)}`).join('')}`);
    } catch (err) {
      f.problems.push(`sent again alone: ${(err as Error).message}`);
    }
  }
}

/** The failures from `from` on, the first 15 in full; all of them go to a file (bodies in base64). */
function report(from: number): string {
  const mine = failures.slice(from);
  const lines = mine.slice(0, 15).map(({ c, problems }) => `${describeCase(c, REPRO)}\n  problems: ${problems.join(' | ')}`);
  if (mine.length > 15) lines.push(`... and ${mine.length - 15} more`);
  if (failures.length) {
    writeFileSync(FAILURES_FILE, failures.map(({ c, problems }) => JSON.stringify({ ...c, body: c.body?.toString('base64'), problems })).join('\n') + '\n');
    lines.push(`every failing request, body in base64: ${FAILURES_FILE}`);
  }
  return lines.join('\n\n');
}

describe(`API fuzz (${REPRO})`, () => {
  it('opens a watch on every resource before the fuzz starts', () => {
    expect(watches.map((w) => w.status)).toEqual(PLURALS.map(() => 200));
  });

  it(`answers ${INJECT_CASES} random requests (inject) with no 5xx and a Status for every error`, async () => {
    const started = performance.now();
    const before = failures.length;
    // Four at a time, so races between writers (patch retries, revision records) happen too.
    for (let i = 0; i < INJECT_CASES; i += 4) {
      if (i % 200 === 0) await seed();
      const batch = [];
      for (let j = i; j < Math.min(i + 4, INJECT_CASES); j++) batch.push(generateCase(SEED, j, state, tokens, false));
      await Promise.all(batch.map((c) => runCase(c, false)));
    }
    console.log(`fuzz: ${INJECT_CASES} inject cases in ${Math.round(performance.now() - started)} ms`);
    await replayFailures(false);
    expect(failures.length - before, report(before)).toBe(0);
  }, PHASE_TIMEOUT_MS);

  it(`answers ${SOCKET_CASES} random requests over a real socket, framing mistakes included`, async () => {
    const started = performance.now();
    const before = failures.length;
    for (let i = INJECT_CASES; i < CASES; i += 16) {
      if ((i - INJECT_CASES) % 160 === 0) await seed();
      const batch = [];
      for (let j = i; j < Math.min(i + 16, CASES); j++) batch.push(generateCase(SEED, j, state, tokens, true));
      await Promise.all(batch.map((c) => runCase(c, true)));
    }
    console.log(`fuzz: ${SOCKET_CASES} socket cases in ${Math.round(performance.now() - started)} ms`);
    await replayFailures(true);
    expect(failures.length - before, report(before)).toBe(0);
  }, PHASE_TIMEOUT_MS);

  it('is still alive and serving afterwards', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    // No __proto__ or constructor key in any body reached a prototype.
    expect(Object.keys(Object.prototype)).toEqual([]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const res = await t.app.inject({ method: 'POST', url: ns('haproxyinstances'), headers: t.headers, payload: instanceFixture({ metadata: { name: 'after-fuzz' } }) });
    expect(res.statusCode, res.body).toBe(201);
    const counts = [...kindCounts].sort().map(([k, n]) => `${k} ${n.inject}+${n.socket} (${n.ok} 2xx)`).join(', ');
    const statuses = [...statusCounts].sort().map(([k, n]) => `${k}: ${n}`).join(', ');
    console.log(`fuzz: cases by kind (inject+socket): ${counts}\nfuzz: answers by status: ${statuses}`);
    console.log(`fuzz: slowest: ${slowest.map(({ c, ms }) => `${Math.round(ms)} ms case ${c.index} ${c.kind} ${c.method} ${c.url.slice(0, 100)} (${c.body?.length ?? 0} bytes; ${c.notes.join('; ').slice(0, 200)})`).join('\n  ')}`);
    if (slow.length) console.log(`fuzz: slow requests:\n${slow.map(({ c, ms }) => `${Math.round(ms)} ms: ${describeCase(c, REPRO)}`).join('\n')}`);
    expect(slow.map(({ c, ms }) => `${Math.round(ms)} ms: ${describeCase(c, REPRO)}`)).toEqual([]);
  });

  it('stored nothing malformed: every key is a valid object of its resource, named by its key', async () => {
    const problems: string[] = [];
    const page = await t.storage.list('/');
    let objects = 0;
    const stored = new Map<string, Record<string, unknown>>();
    for (const kv of page.items) {
      let value: unknown;
      try {
        value = JSON.parse(kv.value);
      } catch {
        problems.push(`${kv.key}: the value is not JSON`);
        continue;
      }
      const m = /^\/registry\/haproxyhq\.io\/([^/]+)\/([^/]*)\/([^/]+)$/.exec(kv.key);
      if (!m) {
        if (!kv.key.startsWith('/haproxyhq/')) problems.push(`${kv.key}: a key outside the registry and the server's own prefix`);
        continue;
      }
      objects++;
      const [, plural, namespace, name] = m as unknown as [string, string, string, string];
      stored.set(kv.key, value as Record<string, unknown>);
      problems.push(...objectProblems(plural, value, kv.key));
      const meta = (value as { metadata?: Record<string, unknown> }).metadata ?? {};
      if (meta.name !== name) problems.push(`${kv.key}: metadata.name ${JSON.stringify(meta.name)}`);
      if ((meta.namespace ?? '') !== namespace) problems.push(`${kv.key}: metadata.namespace ${JSON.stringify(meta.namespace)}`);
      if ((namespace === '') !== (NAMESPACED[plural] === false)) problems.push(`${kv.key}: stored ${namespace ? 'in a namespace' : 'without one'}`);
      if ('resourceVersion' in meta) problems.push(`${kv.key}: resourceVersion stored (it is the store's modRevision)`);
      if ('deletionTimestamp' in meta) problems.push(`${kv.key}: deletionTimestamp stored`);
      if (Buffer.byteLength(kv.value) > LIMITS.maxObjectBytes) problems.push(`${kv.key}: ${Buffer.byteLength(kv.value)} bytes, over the per-object limit`);
      if (kv.modRevision < kv.createRevision) problems.push(`${kv.key}: modRevision ${kv.modRevision} before createRevision ${kv.createRevision}`);
      if (plural === 'configrevisions') {
        const spec = (value as { spec?: { configName?: string; revision?: number } }).spec;
        if (spec && name !== revisionName(spec.configName ?? '', spec.revision ?? 0)) problems.push(`${kv.key}: named unlike its config and revision`);
      }
    }
    // A config's current generation is recorded, with its spec, by a revision it owns.
    for (const [key, config] of stored) {
      const m = /^\/registry\/haproxyhq\.io\/haproxyconfigs\/([^/]+)\/([^/]+)$/.exec(key);
      if (!m) continue;
      const meta = config.metadata as { uid: string; generation: number };
      const rev = stored.get(`/registry/haproxyhq.io/configrevisions/${m[1]}/${revisionName(m[2]!, meta.generation)}`) as { metadata: { ownerReferences?: { uid: string }[] }; spec: { config: unknown } } | undefined;
      if (rev && rev.metadata.ownerReferences?.[0]?.uid === meta.uid && !deepEqual(rev.spec.config, config.spec)) {
        problems.push(`${key}: generation ${meta.generation} differs from its ConfigRevision's spec`);
      }
    }
    console.log(`fuzz: ${page.items.length} keys in the store, ${objects} objects, all checked`);
    expect(problems).toEqual([]);
    expect(objects).toBeGreaterThan(SEEDED.length);
  });

  it('the watches opened at the start saw only well-formed events, and they add up to what is stored', async () => {
    const problems: string[] = [];
    for (const rec of watches) {
      const reg = t.app.getDecorator<Map<string, { list(ns: undefined, q: object): Promise<{ items: { metadata: { namespace?: string; name?: string } }[] }> }>>('registries').get(rec.plural)!;
      // The stream may lag the last writes by a moment: wait until it has caught up.
      let differ: string[] = [];
      await until(`the ${rec.plural} watch to catch up`, async () => {
        const list = await reg.list(undefined, {});
        const seen = replay(rec, []);
        const want = new Map(list.items.map((o) => [`${o.metadata.namespace ?? ''}/${o.metadata.name}`, o]));
        differ = [...new Set([...seen.keys(), ...want.keys()])].filter((k) => !deepEqual(seen.get(k), want.get(k)));
        return differ.length === 0;
      }, { ms: 10_000, context: () => `${rec.lines.length} events; differs from the store at ${differ.slice(0, 10).join(', ')}` }).catch((err: Error) => problems.push(err.message));
      replay(rec, problems);
      rec.close();
    }
    expect(problems).toEqual([]);
  });
});
