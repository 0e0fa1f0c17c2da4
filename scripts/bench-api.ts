/**
 * API server benchmark (`npm run bench:api`, part of `npm run bench`; `npm run bench:api -- --help` for options).
 *
 * For each storage backend (embedded SQLite, etcd) it starts the real API server process and
 * drives it over HTTPS with keep-alive connections, then measures the floor beneath it in the
 * same run: the raw store doing the least work the same operation needs.
 *
 *   create          POST a new HAProxyInstance                     floor: txn([create])
 *   update (PUT)    PUT the whole object with its resourceVersion  floor: txn([update, CAS on modRevision])
 *   status patch    PATCH /status, merge patch                     floor: get + txn([update, CAS])
 *   watch delivery  write start -> event read off the watch stream  floor: write start -> store watch event
 *
 * Each write operation runs sequentially (one request at a time: latency) and with 16 in flight
 * (throughput). Every write must change the object (its resourceVersion is checked to move), every
 * response must be a 2xx: anything else stops the run with a non-zero exit, so a failure is never
 * counted as a fast operation. Timing uses process.hrtime.bigint() after a warm-up of every path.
 *
 * Results go to stdout and to docs/benchmarks.md, between the markers of its "API server" section;
 * the rest of that file (other benchmarks' sections) is kept as it is.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DOC, UsageError, machineFacts, type Machine as BaseMachine, filesystemOf, hr, memory, msSince, processCpuMs, runMain, textTable, writeDocSection, intOption } from './lib/bench.ts';
import { Etcd3 } from 'etcd3';
import { openSqliteStorage } from '../api-server/src/storage/sqlite-storage.ts';
import type { KeyValue, Storage } from '../api-server/src/storage/types.ts';
import { startServer, type ServerProcess } from '../api-server/test/support/server.ts';
import { BenchApi, type Obj } from './lib/api-client.ts';

const START_MARK = '<!-- bench:api:start -->';
const END_MARK = '<!-- bench:api:end -->';
const BASE = '/apis/haproxyhq.io/v1alpha1';

const USAGE = `Usage: npm run bench:api -- [options]

  --n N                 objects per create phase, writes per update/patch phase (default 2000)
  --watch-writes N      timed writes for watch delivery latency (default 500)
  --concurrency N       requests in flight in the concurrent phases (default 16)
  --backends LIST       embedded,etcd (default both)
  --profile DIR         run the server under --cpu-prof, writing .cpuprofile files to DIR
  --no-doc              print only; leave docs/benchmarks.md alone
`;

// ---------------------------------------------------------------------------------------------
// Measurements

interface Stats {
  ops: number;
  opsPerSec: number;
  p50: number;
  p99: number;
  mean: number;
  max: number;
  /** CPU time (user + system) per operation of the API server process, and of this client. */
  serverCpuMs?: number;
  clientCpuMs?: number;
}



/** Run a measurement and attach the CPU each side spent per operation. */
async function withCpu(serverPid: number, run: () => Promise<Stats>): Promise<Stats> {
  const s0 = processCpuMs(serverPid);
  const c0 = process.cpuUsage();
  const st = await run();
  const c = process.cpuUsage(c0);
  st.serverCpuMs = (processCpuMs(serverPid) - s0) / st.ops;
  st.clientCpuMs = (c.user + c.system) / 1000 / st.ops;
  return st;
}

function stats(latenciesMs: Float64Array, wallMs: number): Stats {
  const sorted = Float64Array.from(latenciesMs).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    ops: sorted.length,
    opsPerSec: sorted.length / (wallMs / 1000),
    p50: at(0.5),
    p99: at(0.99),
    mean: sum / sorted.length,
    max: sorted[sorted.length - 1]!,
  };
}

/** Run op(0..count-1) with `concurrency` in flight; each op's latency is its own await. */
async function measure(count: number, concurrency: number, op: (i: number) => Promise<void>): Promise<Stats> {
  const lat = new Float64Array(count);
  let next = 0;
  const start = hr();
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      const t0 = hr();
      await op(i);
      lat[i] = msSince(t0);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return stats(lat, msSince(start));
}

/** Watch delivery: `write(i)` starts a write; `arrived(i)` resolves when its event is read. */
async function measureDelivery(
  count: number,
  write: (i: number) => Promise<void>,
  arrival: (i: number) => Promise<bigint>,
): Promise<Stats> {
  const lat = new Float64Array(count);
  const start = hr();
  for (let i = 0; i < count; i++) {
    const seen = arrival(i);
    const t0 = hr();
    await write(i);
    lat[i] = Number((await seen) - t0) / 1e6;
  }
  return stats(lat, msSince(start));
}

/** Resolvers for events still expected, keyed by sequence number; fails on a wait past `ms`. */
class Arrivals {
  private readonly waiting = new Map<number, { resolve: (t: bigint) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private readonly early = new Map<number, bigint>();
  private failure: Error | undefined;
  private readonly what: string;

  constructor(what: string) {
    this.what = what;
  }

  expect(seq: number, ms = 10_000): Promise<bigint> {
    if (this.failure) return Promise.reject(this.failure);
    const t = this.early.get(seq);
    if (t !== undefined) {
      this.early.delete(seq);
      return Promise.resolve(t);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(seq);
        reject(new Error(`${this.what}: the event of write #${seq} did not arrive within ${ms} ms`));
      }, ms);
      this.waiting.set(seq, { resolve, reject, timer });
    });
  }

  arrived(seq: number, t: bigint): void {
    const w = this.waiting.get(seq);
    if (!w) {
      this.early.set(seq, t);
      return;
    }
    this.waiting.delete(seq);
    clearTimeout(w.timer);
    w.resolve(t);
  }

  fail(err: Error): void {
    this.failure ??= err;
    for (const w of this.waiting.values()) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    this.waiting.clear();
  }
}

// ---------------------------------------------------------------------------------------------
// The API client: HTTPS with keep-alive, failing loudly on anything but the expected status.


class Api extends BenchApi {
  /**
   * Open a watch; each event line is stamped with the time its last byte was read, before
   * parsing. Resolves once the server has answered 200 (the watch is registered by then).
   */
  watch(path: string, onEvent: (type: string, obj: Obj, at: bigint) => void, onFail: (err: Error) => void): Promise<{ close(): void }> {
    return new Promise((resolve, reject) => {
      const agent = new Agent({ keepAlive: false, ca: this.server.ca });
      let closing = false;
      const req = httpsRequest(
        {
          host: this.url.hostname,
          port: this.url.port,
          method: 'GET',
          path,
          agent,
          headers: { authorization: `Bearer ${this.server.token}`, accept: 'application/json' },
        },
        (res) => {
          if (res.statusCode !== 200) {
            let text = '';
            res.on('data', (d: Buffer) => (text += d.toString()));
            res.on('end', () => reject(new Error(`GET ${path} answered ${res.statusCode}: ${text.slice(0, 600)}`)));
            return;
          }
          let buf = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            const at = hr();
            buf += chunk;
            let nl: number;
            while ((nl = buf.indexOf('\n')) >= 0) {
              const line = buf.slice(0, nl);
              buf = buf.slice(nl + 1);
              if (!line.trim()) continue;
              const ev = JSON.parse(line) as { type: string; object: Obj };
              if (ev.type === 'ERROR') onFail(new Error(`watch ${path} sent an ERROR event: ${line.slice(0, 600)}`));
              else onEvent(ev.type, ev.object, at);
            }
          });
          res.on('end', () => {
            if (!closing) onFail(new Error(`watch ${path} ended early`));
          });
          res.on('error', (err) => {
            if (!closing) onFail(err);
          });
          resolve({
            close: () => {
              closing = true;
              req.destroy();
              agent.destroy();
            },
          });
        },
      );
      req.on('error', (err) => {
        if (closing) return;
        reject(err);
        onFail(err);
      });
      req.end();
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Workloads

const instanceBody = (name: string) => ({
  apiVersion: 'haproxyhq.io/v1alpha1',
  kind: 'HAProxyInstance',
  metadata: { name, labels: { role: 'edge', site: 'bench', 'haproxyhq.io/config': 'web' } },
  spec: {
    configRevision: 'web-1',
    paused: false,
    servers: [
      { backend: 'be_app', server: 'app1', state: 'ready', weight: 100 },
      { backend: 'be_app', server: 'app2', state: 'ready', weight: 100 },
    ],
  },
});

/** What an agent's heartbeat looks like: a merge patch of part of status. */
const statusPatch = (seq: number) => ({
  status: {
    observedGeneration: seq,
    heartbeatTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    haproxy: { version: '3.0.5', pid: 4242, workerPid: 4300 + (seq % 100), currentConnections: seq % 1000, sessionRate: seq % 50 },
  },
});

/** A stored value of about the size the server writes for an instance. */
const storedValue = (name: string, seq: number) =>
  JSON.stringify({
    ...instanceBody(name),
    metadata: {
      ...instanceBody(name).metadata,
      namespace: 'bench',
      uid: '6f1c2a9e-3b44-4d1f-9c1e-2f4a5b6c7d8e',
      creationTimestamp: '2025-01-01T00:00:00Z',
      generation: 1,
    },
    ...statusPatch(seq),
  });

interface Row {
  op: string;
  api: Stats;
  floor: Stats;
  /** For etcd: the project's storage layer (openEtcdStorage) between the two. */
  layer?: Stats;
}

interface BackendResult {
  backend: 'embedded' | 'etcd';
  title: string;
  floorName: string;
  layerName?: string;
  rows: Row[];
  rssMiB: number;
  hwmMiB: number;
  seconds: number;
  notes: string[];
}

interface Opts {
  n: number;
  watchWrites: number;
  concurrency: number;
  env: Record<string, string>;
}

const pad = (i: number) => String(i).padStart(6, '0');
/** Operations of each kind run untimed first (creates: twice this, sequential and concurrent). */
const warmCount = (n: number) => Math.max(50, Math.min(300, Math.floor(n / 8)));
const nsPath = (ns: string) => `${BASE}/namespaces/${ns}/haproxyinstances`;

function checkMoved(before: string, after: Obj, what: string): void {
  if (!(Number(after.metadata.resourceVersion) > Number(before))) {
    throw new Error(`${what}: resourceVersion did not move (${before} -> ${after.metadata.resourceVersion}); the write was a no-op`);
  }
}

interface ApiResults {
  createSeq: Stats;
  createConc: Stats;
  updateSeq: Stats;
  updateConc: Stats;
  patchSeq: Stats;
  patchConc: Stats;
  watch: Stats;
}

/** Every API measurement against one running server. */
async function benchApi(api: Api, o: Opts, log: (s: string) => void): Promise<ApiResults> {
  const C = o.concurrency;
  const pid = api.server.child.pid!;
  const m = (count: number, c: number, op: (i: number) => Promise<void>) => withCpu(pid, () => measure(count, c, op));
  let seq = 0;

  const phases = async (ns: string, count: number) => {
    const path = nsPath(ns);
    const seqObjs: Obj[] = new Array(count);
    const conObjs: Obj[] = new Array(count);
    const createSeq = await m(count, 1, async (i) => {
      seqObjs[i] = await api.call('POST', path, instanceBody(`seq-${pad(i)}`));
    });
    const createConc = await m(count, C, async (i) => {
      conObjs[i] = await api.call('POST', path, instanceBody(`con-${pad(i)}`));
    });
    const put = (objs: Obj[]) => async (i: number) => {
      const old = objs[i]!;
      const next = { ...old, spec: { ...old.spec, configRevision: `bench-${++seq}` } };
      const res = await api.call('PUT', `${path}/${old.metadata.name}`, next);
      checkMoved(old.metadata.resourceVersion, res, `PUT ${old.metadata.name}`);
      objs[i] = res;
    };
    const updateSeq = await m(count, 1, put(seqObjs));
    const updateConc = await m(count, C, put(conObjs));
    const patch = (objs: Obj[]) => async (i: number) => {
      const old = objs[i]!;
      const res = await api.call('PATCH', `${path}/${old.metadata.name}/status`, statusPatch(++seq), 'application/merge-patch+json');
      checkMoved(old.metadata.resourceVersion, res, `PATCH ${old.metadata.name}/status`);
      objs[i] = res;
    };
    const patchSeq = await m(count, 1, patch(seqObjs));
    const patchConc = await m(count, C, patch(conObjs));
    return { createSeq, createConc, updateSeq, updateConc, patchSeq, patchConc };
  };

  const watchDelivery = async (ns: string, warm: number, count: number) => {
    const path = nsPath(ns);
    let obj = await api.call('POST', path, instanceBody('watched'));
    const arrivals = new Arrivals('API watch');
    const w = await api.watch(
      `${path}?watch=true&resourceVersion=${obj.metadata.resourceVersion}`,
      (type, ev, at) => {
        if (type !== 'MODIFIED') return;
        const g = (ev.status as { observedGeneration?: number } | undefined)?.observedGeneration;
        if (typeof g === 'number') arrivals.arrived(g, at);
      },
      (err) => arrivals.fail(err),
    );
    try {
      const write = async (i: number) => {
        const res = await api.call('PATCH', `${path}/watched/status`, statusPatch(i), 'application/merge-patch+json');
        checkMoved(obj.metadata.resourceVersion, res, 'PATCH watched/status');
        obj = res;
      };
      // Sequence numbers must be unique per stream: warm-up uses 1..warm, timing the rest.
      await measureDelivery(warm, (i) => write(i + 1), (i) => arrivals.expect(i + 1));
      return await withCpu(pid, () => measureDelivery(count, (i) => write(warm + 1 + i), (i) => arrivals.expect(warm + 1 + i)));
    } finally {
      w.close();
    }
  };

  // Warm-up: every path (connections, TLS sessions, JIT on both sides), not timed.
  const warm = warmCount(o.n);
  log(`  warm-up (${warm} of each operation)`);
  await phases('bench-warmup', warm);
  log(`  API: create, update, status patch (${o.n} each, sequential and ${C} in flight)`);
  const p = await phases('bench', o.n);
  log(`  API: watch delivery (${o.watchWrites} writes)`);
  const watch = await watchDelivery('bench-watch', 50, o.watchWrites);
  return { ...p, watch };
}

type FloorResults = ApiResults;

/** The same operations on a Storage in this process (the SQLite floor, and etcd's storage layer). */
async function benchStorage(s: Storage, o: Opts, prefix: string): Promise<FloorResults> {
  const C = o.concurrency;
  let seq = 0;
  const phases = async (ns: string, count: number) => {
    const p = `${prefix}${ns}/`;
    const seqKv: KeyValue[] = new Array(count);
    const conKv: KeyValue[] = new Array(count);
    const create = (kvs: KeyValue[], tag: string) => async (i: number) => {
      const key = `${p}${tag}-${pad(i)}`;
      const [kv] = await s.txn([{ type: 'create', key, value: storedValue(`${tag}-${pad(i)}`, ++seq) }]);
      kvs[i] = kv!;
    };
    const createSeq = await measure(count, 1, create(seqKv, 'seq'));
    const createConc = await measure(count, C, create(conKv, 'con'));
    const update = (kvs: KeyValue[]) => async (i: number) => {
      const old = kvs[i]!;
      const [kv] = await s.txn([{ type: 'update', key: old.key, value: storedValue(old.key, ++seq), expectedModRevision: old.modRevision }]);
      if (!(kv!.modRevision > old.modRevision)) throw new Error(`floor update of ${old.key}: modRevision did not move`);
      kvs[i] = kv!;
    };
    const updateSeq = await measure(count, 1, update(seqKv));
    const updateConc = await measure(count, C, update(conKv));
    // A merge patch needs the current object: read, then CAS-write.
    const patch = (kvs: KeyValue[]) => async (i: number) => {
      const old = await s.get(kvs[i]!.key);
      if (!old) throw new Error(`floor patch: ${kvs[i]!.key} is gone`);
      const [kv] = await s.txn([{ type: 'update', key: old.key, value: storedValue(old.key, ++seq), expectedModRevision: old.modRevision }]);
      kvs[i] = kv!;
    };
    const patchSeq = await measure(count, 1, patch(seqKv));
    const patchConc = await measure(count, C, patch(conKv));
    return { createSeq, createConc, updateSeq, updateConc, patchSeq, patchConc };
  };
  const watchDelivery = async (warm: number, count: number) => {
    const key = `${prefix}bench-watch/watched`;
    let [kv] = await s.txn([{ type: 'create', key, value: JSON.stringify({ seq: 0 }) }]);
    const arrivals = new Arrivals('store watch');
    const w = await s.watch(`${prefix}bench-watch/`, kv!.modRevision, {
      onEvent: (e) => {
        const at = hr();
        if (e.type === 'put') arrivals.arrived((JSON.parse(e.kv.value) as { seq: number }).seq, at);
      },
      onError: (err) => arrivals.fail(err),
    });
    try {
      const write = async (i: number) => {
        [kv] = await s.txn([{ type: 'update', key, value: JSON.stringify({ seq: i, pad: storedValue('watched', i) }), expectedModRevision: kv!.modRevision }]);
      };
      await measureDelivery(warm, (i) => write(i + 1), (i) => arrivals.expect(i + 1));
      return await measureDelivery(count, (i) => write(warm + 1 + i), (i) => arrivals.expect(warm + 1 + i));
    } finally {
      w.close();
    }
  };
  const warm = warmCount(o.n);
  await phases('bench-warmup', warm);
  const p = await phases('bench', o.n);
  const watch = await watchDelivery(50, o.watchWrites);
  return { ...p, watch };
}

/** The same operations with the etcd3 client straight to etcd: compare-and-put transactions. */
async function benchEtcdRaw(client: Etcd3, o: Opts, prefix: string): Promise<FloorResults> {
  const C = o.concurrency;
  let seq = 0;
  const casPut = async (key: string, value: string, target: 'Create' | 'Mod', rev: number): Promise<number> => {
    const res = await client.if(key, target, '==', rev).then(client.put(key).value(value)).commit();
    if (!res.succeeded) throw new Error(`raw etcd txn on ${key} (${target} == ${rev}) did not succeed`);
    return Number(res.header.revision);
  };
  const phases = async (ns: string, count: number) => {
    const p = `${prefix}${ns}/`;
    const seqRev: number[] = new Array(count);
    const conRev: number[] = new Array(count);
    const key = (tag: string, i: number) => `${p}${tag}-${pad(i)}`;
    const create = (revs: number[], tag: string) => async (i: number) => {
      revs[i] = await casPut(key(tag, i), storedValue(`${tag}-${pad(i)}`, ++seq), 'Create', 0);
    };
    const createSeq = await measure(count, 1, create(seqRev, 'seq'));
    const createConc = await measure(count, C, create(conRev, 'con'));
    const update = (revs: number[], tag: string) => async (i: number) => {
      revs[i] = await casPut(key(tag, i), storedValue(key(tag, i), ++seq), 'Mod', revs[i]!);
    };
    const updateSeq = await measure(count, 1, update(seqRev, 'seq'));
    const updateConc = await measure(count, C, update(conRev, 'con'));
    const patch = (revs: number[], tag: string) => async (i: number) => {
      const got = await client.get(key(tag, i)).exec();
      const kv = got.kvs[0];
      if (!kv) throw new Error(`raw etcd get ${key(tag, i)}: not found`);
      revs[i] = await casPut(key(tag, i), storedValue(key(tag, i), ++seq), 'Mod', Number(kv.mod_revision));
    };
    const patchSeq = await measure(count, 1, patch(seqRev, 'seq'));
    const patchConc = await measure(count, C, patch(conRev, 'con'));
    return { createSeq, createConc, updateSeq, updateConc, patchSeq, patchConc };
  };
  const watchDelivery = async (warm: number, count: number) => {
    const key = `${prefix}bench-watch/watched`;
    let rev = await casPut(key, JSON.stringify({ seq: 0 }), 'Create', 0);
    const arrivals = new Arrivals('raw etcd watch');
    const watcher = await client.watch().prefix(`${prefix}bench-watch/`).startRevision(String(rev + 1)).create();
    watcher.on('put', (kv) => {
      const at = hr();
      arrivals.arrived((JSON.parse(kv.value.toString()) as { seq: number }).seq, at);
    });
    watcher.on('error', (err: Error) => arrivals.fail(err));
    try {
      const write = async (i: number) => {
        rev = await casPut(key, JSON.stringify({ seq: i, pad: storedValue('watched', i) }), 'Mod', rev);
      };
      await measureDelivery(warm, (i) => write(i + 1), (i) => arrivals.expect(i + 1));
      return await measureDelivery(count, (i) => write(warm + 1 + i), (i) => arrivals.expect(warm + 1 + i));
    } finally {
      await watcher.cancel();
    }
  };
  const warm = warmCount(o.n);
  await phases('bench-warmup', warm);
  const p = await phases('bench', o.n);
  const watch = await watchDelivery(50, o.watchWrites);
  return { ...p, watch };
}

function rows(api: ApiResults, floor: FloorResults, layer: FloorResults | undefined, c: number): Row[] {
  const r = (op: string, k: keyof ApiResults): Row => ({ op, api: api[k], floor: floor[k], ...(layer ? { layer: layer[k] } : {}) });
  return [
    r('create, sequential', 'createSeq'),
    r(`create, ${c} in flight`, 'createConc'),
    r('update (PUT), sequential', 'updateSeq'),
    r(`update (PUT), ${c} in flight`, 'updateConc'),
    r('status merge patch, sequential', 'patchSeq'),
    r(`status merge patch, ${c} in flight`, 'patchConc'),
    r('watch delivery (write start → event)', 'watch'),
  ];
}


async function withServer<T>(o: Opts, extraArgs: string[], fn: (server: ServerProcess) => Promise<T>): Promise<T> {
  const server = await startServer({ args: extraArgs, env: o.env });
  try {
    return await fn(server);
  } catch (err) {
    const out = server.output();
    throw new Error(`${(err as Error).message}\n--- last server output ---\n${out.slice(-3000)}`, { cause: err });
  } finally {
    await server.stop();
    server.cleanup();
  }
}

/** The API phases through a real server started with `args`, and the server's memory after them. */
function apiThroughServer(o: Opts, args: string[], log: (s: string) => void): Promise<{ api: ApiResults; mem: { rss: number; hwm: number } }> {
  return withServer(o, args, async (server) => {
    const client = new Api(server, o.concurrency);
    try {
      return { api: await benchApi(client, o, log), mem: memory(server.child.pid!) };
    } finally {
      client.close();
    }
  });
}

async function benchEmbedded(o: Opts, log: (s: string) => void): Promise<BackendResult> {
  const t0 = hr();
  log('embedded (SQLite): starting the API server');
  const { api, mem } = await apiThroughServer(o, [], log);
  log('  floor: openSqliteStorage in this process (WAL, each commit fdatasynced before it is answered)');
  const dir = mkdtempSync(join(tmpdir(), 'hq-bench-sqlite-'));
  const storage = openSqliteStorage({ path: join(dir, 'store.db') });
  let floor: FloorResults;
  try {
    floor = await benchStorage(storage, o, '/registry/haproxyhq.io/haproxyinstances/');
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    backend: 'embedded',
    title: 'Embedded store (SQLite)',
    floorName: 'openSqliteStorage txn() in-process, same disk, each commit fdatasynced before it is answered',
    rows: rows(api, floor, undefined, o.concurrency),
    rssMiB: mem.rss,
    hwmMiB: mem.hwm,
    seconds: msSince(t0) / 1000,
    notes: [
      `The server's store and the floor's database file are on ${filesystemOf(tmpdir())} (the temp dir), ` +
        'so both pay a real fsync per commit.',
    ],
  };
}

async function benchEtcd(o: Opts, log: (s: string) => void): Promise<BackendResult> {
  const t0 = hr();
  log('etcd: starting etcd');
  // Loaded only here, so an embedded-only run needs neither etcd nor its helpers.
  const { startEtcd } = await import('../api-server/test/support/etcd.ts');
  const etcd = await startEtcd({ onDisk: true });
  const endpoint = etcd.endpoints[0]!;
  const etcdFs = filesystemOf(etcd.dataDirs[0]!);
  try {
    log(`etcd: starting the API server on etcd at ${endpoint}`);
    const { api, mem } = await apiThroughServer(o, ['--storage', 'etcd', '--etcd-endpoints', endpoint, '--etcd-prefix', '/bench-api'], log);
    log('  floor: etcd3 client straight to etcd (compare + put transactions)');
    const raw = new Etcd3({ hosts: endpoint });
    let floor: FloorResults;
    try {
      floor = await benchEtcdRaw(raw, o, '/bench-raw/');
    } finally {
      raw.close();
    }
    log('  storage layer: openEtcdStorage in this process');
    const { openEtcdStorage } = await import('../api-server/src/storage/etcd-storage.ts');
    const storage = await openEtcdStorage({ endpoints: [endpoint], prefix: '/bench-layer' });
    let layer: FloorResults;
    try {
      layer = await benchStorage(storage, o, '/registry/haproxyhq.io/haproxyinstances/');
    } finally {
      await storage.close();
    }
    return {
      backend: 'etcd',
      title: `etcd (${etcdVersion()}, one member on this machine)`,
      floorName: 'etcd3 client → etcd, a compare + put txn per write (what the storage layer sends)',
      layerName: 'openEtcdStorage in-process (the project\'s storage layer over etcd3)',
      rows: rows(api, floor, layer, o.concurrency),
      rssMiB: mem.rss,
      hwmMiB: mem.hwm,
      seconds: msSince(t0) / 1000,
      notes: [
        `etcd's data dir is on ${etcdFs} (chosen by api-server/test/support/etcd.ts)` +
          (/^tmpfs /.test(etcdFs) ? ': its WAL fsyncs cost nothing there, unlike the embedded store\'s on disk, so these numbers are etcd without disk latency.' : '.'),
      ],
    };
  } finally {
    await etcd.stop();
  }
}


function etcdVersion(): string {
  try {
    const out = execFileSync('etcd', ['--version'], { encoding: 'utf8' });
    return out.match(/etcd Version:\s*(\S+)/)?.[1] ? `etcd ${out.match(/etcd Version:\s*(\S+)/)![1]}` : out.split('\n')[0]!;
  } catch {
    return 'etcd not installed';
  }
}

// ---------------------------------------------------------------------------------------------
// Output

const f = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toFixed(3));
const rate = (s: Stats) => Math.round(s.opsPerSec).toLocaleString('en-US');
const trio = (s: Stats) => [rate(s), f(s.p50), f(s.p99)];
function overhead(r: Row): string {
  const d = r.api.p50 - r.floor.p50;
  const ratio = r.floor.opsPerSec / r.api.opsPerSec;
  return `${d >= 0 ? '+' : ''}${f(d)} ms p50; floor ${ratio.toFixed(1)}× the ops/s`;
}

function headers(b: BackendResult): string[] {
  return [
    'operation',
    'API ops/s', 'API p50 ms', 'API p99 ms', 'server CPU ms/op', 'client CPU ms/op',
    ...(b.layerName ? ['layer ops/s', 'layer p50', 'layer p99'] : []),
    'floor ops/s', 'floor p50', 'floor p99',
    'overhead vs floor',
  ];
}

function cells(b: BackendResult, r: Row): string[] {
  const cpu = (v: number | undefined) => (v === undefined ? '' : f(v));
  return [r.op, ...trio(r.api), cpu(r.api.serverCpuMs), cpu(r.api.clientCpuMs), ...(r.layer ? trio(r.layer) : []), ...trio(r.floor), overhead(r)];
}

function textTableOf(b: BackendResult): string {
  return textTable(headers(b), b.rows.map((r) => cells(b, r)), (i, n) => i === 0 || i === n - 1);
}

function mdTable(b: BackendResult): string {
  const h = headers(b);
  const align = h.map((_, i) => (i === 0 || i === h.length - 1 ? '---' : '---:'));
  return [h, align, ...b.rows.map((r) => cells(b, r))].map((row) => `| ${row.join(' | ')} |`).join('\n');
}

type Machine = BaseMachine & { etcd: string };

const machine = (): Machine => ({ ...machineFacts(), etcd: etcdVersion() });

function section(results: BackendResult[], m: Machine, o: Opts, date: string, totalSeconds: number): string {
  const lines: string[] = [
    START_MARK,
    '## API server (issue 2)',
    '',
    `Reproduce with \`npm run bench:api\` (scripts/bench-api.ts; \`npm run bench:api -- --help\` lists the options). ` +
      `Measured ${date}, in ${totalSeconds.toFixed(0)} s, on ${m.cpu} × ${m.cores}, ${m.memGiB.toFixed(1)} GiB, ${m.os}, ` +
      `Node ${m.node}, ${m.etcd}; 1-minute load average ${m.load.toFixed(2)} at the start.`,
    '',
    `Each run starts the real API server process (\`api-server/src/main.ts\`, default flags, info-level request logging to a pipe read by the benchmark; for etcd \`--storage etcd --etcd-endpoints URL\`) ` +
      `with a fresh data dir and drives it from one client process over HTTPS on loopback with keep-alive connections ` +
      `(node:https Agent, the server's CA from its kubeconfig, bearer token). ${o.n} HAProxyInstances are created one at a time ` +
      `and ${o.n} more with ${o.concurrency} requests in flight; each set is then updated with ${o.n} PUTs (whole object with its ` +
      `resourceVersion, changing spec) and ${o.n} merge patches of /status (an agent-style heartbeat). Every write is checked to ` +
      `have moved the resourceVersion, and any non-2xx answer stops the run. Every path is warmed up (not timed) first.`,
    '',
    '- **ops/s**: operations completed ÷ wall time of the phase; for sequential rows that is 1 ÷ mean latency.',
    '- **p50 / p99**: per-operation latency from just before the request is sent to the parsed response ' +
      '(TLS, HTTP, server, store, client parsing; connection set-up is excluded by keep-alive and warm-up). ' +
      'With requests in flight it includes queueing behind the others.',
    `- **watch delivery**: a watch is open on the collection (\`?watch=true&resourceVersion=<rv>\`); ${o.watchWrites} status ` +
      'patches of one object are sent one at a time; each number is the time from the patch\'s request start to its ' +
      'MODIFIED event\'s last byte read off the watch stream, so it includes the write\'s own commit. ops/s there is writes ' +
      'per second with each waiting for its event.',
    '- **floor**: the least store work the same operation needs, measured in the same run from the benchmark process: ' +
      'create = one create txn; PUT = one compare-and-swap update txn; merge patch = a get, then a CAS update txn ' +
      '(a patch must read the object); watch = time from the write\'s start to the store\'s watch event. ' +
      'The server itself does a get before every PUT as well.',
    '- **server / client CPU ms/op**: CPU time (user + system) the API server process (from /proc/PID/stat) and the ' +
      'benchmark client spent during the phase, divided by its operations.',
    '- **layer** (etcd only): the same operations through the project\'s storage layer (openEtcdStorage) in the ' +
      'benchmark process, between the raw client and the API.',
    '- **overhead**: API p50 minus floor p50, and how many times the API\'s ops/s the floor does.',
    `- Client, server${results.some((r) => r.backend === 'etcd') ? ' and etcd' : ''} share the machine\'s ${m.cores} cores, ` +
      'so concurrent rows measure the client\'s TLS work too.',
    '',
  ];
  for (const b of results) {
    lines.push(`### ${b.title}`, '');
    lines.push(`Floor: ${b.floorName}.${b.layerName ? ` Storage layer: ${b.layerName}.` : ''}`, '');
    lines.push(mdTable(b), '');
    lines.push(
      `API server RSS after the run: ${b.rssMiB.toFixed(0)} MiB (peak ${b.hwmMiB.toFixed(0)} MiB), ` +
        `holding ${2 * o.n + 2 * warmCount(o.n) + 1} HAProxyInstances. This backend took ${b.seconds.toFixed(0)} s.`,
      '',
    );
    for (const n of b.notes) lines.push(n, '');
  }
  lines.push(END_MARK);
  return lines.join('\n');
}


// ---------------------------------------------------------------------------------------------


async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        n: { type: 'string' },
        'watch-writes': { type: 'string' },
        concurrency: { type: 'string' },
        backends: { type: 'string' },
        profile: { type: 'string' },
        'no-doc': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const backends = (values.backends ?? 'embedded,etcd').split(',').map((s) => s.trim()).filter(Boolean);
  for (const b of backends) if (b !== 'embedded' && b !== 'etcd') throw new UsageError(`--backends: unknown backend ${JSON.stringify(b)}`);
  const o: Opts = {
    n: intOption(values.n, 2000, 'n', 10),
    watchWrites: intOption(values['watch-writes'], 500, 'watch-writes', 10),
    concurrency: intOption(values.concurrency, 16, 'concurrency', 1),
    env: values.profile ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${values.profile}` } : {},
  };
  const started = hr();
  const log = (s: string) => process.stderr.write(`[${(msSince(started) / 1000).toFixed(1).padStart(5)} s] ${s}\n`);
  const m = machine();
  log(`${m.cpu} × ${m.cores}, ${m.memGiB.toFixed(1)} GiB, Node ${m.node}, ${m.etcd}, load ${m.load.toFixed(2)}; n=${o.n}, watch writes=${o.watchWrites}, concurrency=${o.concurrency}`);

  const results: BackendResult[] = [];
  for (const b of backends) results.push(b === 'embedded' ? await benchEmbedded(o, log) : await benchEtcd(o, log));
  const total = msSince(started) / 1000;

  for (const b of results) {
    process.stdout.write(`\n${b.title}\nfloor: ${b.floorName}\n${b.layerName ? `storage layer: ${b.layerName}\n` : ''}\n`);
    process.stdout.write(textTableOf(b) + '\n');
    process.stdout.write(`API server RSS after the run: ${b.rssMiB.toFixed(0)} MiB (peak ${b.hwmMiB.toFixed(0)} MiB); ${b.seconds.toFixed(0)} s\n`);
    for (const n of b.notes) process.stdout.write(`${n}\n`);
  }
  process.stdout.write(`\nTotal: ${total.toFixed(0)} s\n`);
  if (!values['no-doc']) {
    const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    writeDocSection('api', section(results, m, o, date, total));
    process.stdout.write(`Wrote ${DOC}\n`);
  }
}

runMain('bench-api', USAGE, main);
