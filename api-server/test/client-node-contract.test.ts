/**
 * The official JavaScript client (@kubernetes/client-node v2) against a real server process,
 * loading the kubeconfig the server writes: KubernetesObjectApi CRUD with its error contract
 * (409 AlreadyExists / Conflict as ApiException with a Status body), an informer receiving
 * add/update/delete, and the informer's recovery from a 410: its watch drops (the server is
 * killed), the store compacts past the informer's resourceVersion while it is away, and on
 * restart the informer's watch gets the ERROR 410 Expired event, re-lists, and converges.
 */
import {
  ApiException,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  ListWatch,
  PatchStrategy,
  Watch,
  makeInformer,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, startServer, type ServerProcess } from './support/server.ts';

const GROUP = 'haproxyhq.io';
const VERSION = 'v1alpha1';
const API_VERSION = `${GROUP}/${VERSION}`;
const KIND = 'HAProxyInstance';
const PLURAL = 'haproxyinstances';
const BASE = `/apis/${API_VERSION}`;

interface Instance extends KubernetesObject {
  spec?: { paused?: boolean; configRevision?: string };
  status?: unknown;
}

const instance = (name: string, namespace: string, labels: Record<string, string> = { role: 'edge' }): Instance => ({
  apiVersion: API_VERSION,
  kind: KIND,
  metadata: { name, namespace, labels },
  spec: { paused: false },
});
const header = (name: string, namespace: string) => ({ apiVersion: API_VERSION, kind: KIND, metadata: { name, namespace } });

/** The ApiException a call failed with, and its Status body parsed. */
async function failure(p: Promise<unknown>): Promise<{ code: number; status: any }> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err, 'the call should have failed').toBeInstanceOf(ApiException);
  const e = err as ApiException<unknown>;
  const status = typeof e.body === 'string' ? JSON.parse(e.body) : e.body;
  return { code: e.code, status };
}

/** Polls until `check` returns true, failing with `describe()` after the timeout. */
async function until(check: () => boolean, describe: () => string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${describe()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const names = (objs: readonly KubernetesObject[]) => objs.map((o) => o.metadata!.name!).sort();

let server: ServerProcess;
let kc: KubeConfig;
let api: KubernetesObjectApi;

beforeAll(async () => {
  server = await startServer();
  kc = new KubeConfig();
  kc.loadFromFile(server.kubeconfig);
  api = KubernetesObjectApi.makeApiClient(kc);
});

afterAll(async () => {
  await server?.stop();
  server?.cleanup();
});

describe('KubernetesObjectApi against HAProxyInstance', () => {
  const ns = 'crud';

  it('create, read, merge patch, strategic patch, replace and delete round-trip through the client', async () => {
    const created = await api.create<Instance>(instance('crud-1', ns));
    expect(created.kind).toBe(KIND);
    expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.metadata?.generation).toBe(1);
    expect(created.metadata?.resourceVersion).toMatch(/^\d+$/);
    // The client turns timestamps into Dates.
    expect(created.metadata?.creationTimestamp).toBeInstanceOf(Date);

    const read = await api.read<Instance>(header('crud-1', ns));
    expect(read.metadata?.uid).toBe(created.metadata?.uid);
    expect(read.metadata?.resourceVersion).toBe(created.metadata?.resourceVersion);
    expect(read.spec).toEqual({ paused: false });

    // v2 picks the patch Content-Type from the PatchStrategy argument (default: strategic merge).
    const merged = await api.patch<Instance>(
      { ...header('crud-1', ns), spec: { paused: true } },
      undefined,
      undefined,
      undefined,
      undefined,
      PatchStrategy.MergePatch,
    );
    expect(merged.spec).toEqual({ paused: true });
    expect(merged.metadata?.generation).toBe(2);
    expect(merged.metadata?.labels).toEqual({ role: 'edge' });

    const strategic = await api.patch<Instance>({ ...header('crud-1', ns), metadata: { name: 'crud-1', namespace: ns, labels: { tier: 'front' } } });
    expect(strategic.metadata?.labels).toEqual({ role: 'edge', tier: 'front' });
    expect(strategic.metadata?.generation).toBe(2); // metadata only: generation stays

    const current = await api.read<Instance>(header('crud-1', ns));
    const replaced = await api.replace<Instance>({ ...current, spec: { paused: false, configRevision: 'web-3' } });
    expect(replaced.spec).toEqual({ paused: false, configRevision: 'web-3' });
    expect(replaced.metadata?.generation).toBe(3);
    expect(Number(replaced.metadata?.resourceVersion)).toBeGreaterThan(Number(current.metadata?.resourceVersion));
    expect(replaced.metadata?.uid).toBe(created.metadata?.uid);

    const listed = await api.list<Instance>(API_VERSION, KIND, ns);
    expect(names(listed.items)).toEqual(['crud-1']);
    expect(listed.metadata?.resourceVersion).toMatch(/^\d+$/);

    await api.delete(header('crud-1', ns));
    const { code, status } = await failure(api.read(header('crud-1', ns)));
    expect(code).toBe(404);
    expect(status).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'NotFound', code: 404 });
  });

  it('create of an existing name fails with 409 and a Status with reason AlreadyExists', async () => {
    await api.create(instance('dup-1', ns));
    const { code, status } = await failure(api.create(instance('dup-1', ns)));
    expect(code).toBe(409);
    expect(status).toMatchObject({
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      reason: 'AlreadyExists',
      code: 409,
      details: { name: 'dup-1', group: GROUP },
    });
    expect(status.message).toMatch(/"dup-1" already exists/);
  });

  it('replace with a stale resourceVersion fails with 409 and a Status with reason Conflict', async () => {
    await api.create(instance('stale-1', ns));
    const stale = await api.read<Instance>(header('stale-1', ns));
    await api.patch({ ...header('stale-1', ns), spec: { paused: true } }, undefined, undefined, undefined, undefined, PatchStrategy.MergePatch);
    const { code, status } = await failure(api.replace<Instance>({ ...stale, spec: { paused: false, configRevision: 'lost-update' } }));
    expect(code).toBe(409);
    expect(status).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Conflict', code: 409 });
    expect(status.message).toMatch(/has been modified/);
    // The stale write did not land.
    expect((await api.read<Instance>(header('stale-1', ns))).spec).toEqual({ paused: true });
  });

  it('an invalid object fails with 422 and a Status naming the field', async () => {
    const bad = { ...instance('invalid-1', ns), spec: { paused: false, bogus: 1 } } as Instance;
    const { code, status } = await failure(api.create(bad));
    expect(code).toBe(422);
    expect(status).toMatchObject({ reason: 'Invalid', code: 422 });
    expect(status.details.causes.map((c: { field: string }) => c.field)).toContain('spec.bogus');
  });
});

describe('informer (makeInformer: list, then watch)', () => {
  it('receives add, update and delete for changes made after it starts', async () => {
    const ns = 'informed';
    await api.create(instance('pre-1', ns));
    const path = `${BASE}/namespaces/${ns}/${PLURAL}`;
    const informer = makeInformer<Instance>(kc, path, () => api.list<Instance>(API_VERSION, KIND, ns));
    const seen: string[] = [];
    const errors: unknown[] = [];
    informer.on('add', (o) => seen.push(`add ${o.metadata!.name}`));
    informer.on('update', (o) => seen.push(`update ${o.metadata!.name} paused=${o.spec?.paused}`));
    informer.on('delete', (o) => seen.push(`delete ${o.metadata!.name}`));
    informer.on('error', (e) => errors.push(e));
    await informer.start();
    try {
      await until(() => seen.includes('add pre-1'), () => `initial list: ${JSON.stringify(seen)}`);
      expect(names(informer.list(ns))).toEqual(['pre-1']);

      await api.create(instance('live-1', ns));
      await until(() => seen.includes('add live-1'), () => `add: ${JSON.stringify(seen)}`);
      expect(informer.get('live-1', ns)?.spec).toEqual({ paused: false });

      await api.patch({ ...header('live-1', ns), spec: { paused: true } }, undefined, undefined, undefined, undefined, PatchStrategy.MergePatch);
      await until(() => seen.includes('update live-1 paused=true'), () => `update: ${JSON.stringify(seen)}`);
      expect(informer.get('live-1', ns)?.spec).toEqual({ paused: true });

      await api.delete(header('live-1', ns));
      await until(() => seen.includes('delete live-1'), () => `delete: ${JSON.stringify(seen)}`);
      expect(informer.get('live-1', ns)).toBeUndefined();

      expect(seen).toEqual(['add pre-1', 'add live-1', 'update live-1 paused=true', 'delete live-1']);
      expect(errors).toEqual([]);
    } finally {
      await informer.stop();
    }
  });
});

/** A Watch that records what the informer asked for and what it got. */
class RecordingWatch extends Watch {
  readonly requests: { resourceVersion: unknown; events: { type: string; object: any }[]; done?: unknown }[] = [];

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: any, watchObj?: any) => void,
    done: (err: any) => void,
  ): Promise<AbortController> {
    const record: (typeof this.requests)[number] = { resourceVersion: queryParams.resourceVersion, events: [] };
    this.requests.push(record);
    return super.watch(
      path,
      queryParams,
      (type, object, raw) => {
        record.events.push({ type, object });
        callback(type, object, raw);
      },
      (err) => {
        record.done = err ?? 'closed';
        done(err);
      },
    );
  }
}

describe('informer recovery after 410 Expired (server with --history-revisions 100)', () => {
  const HISTORY = ['--history-revisions', '100', '--compaction-interval', '0'];
  let small: ServerProcess;
  let smallKc: KubeConfig;
  let smallApi: KubernetesObjectApi;

  beforeAll(async () => {
    small = await startServer({ args: HISTORY });
    smallKc = new KubeConfig();
    smallKc.loadFromFile(small.kubeconfig);
    smallApi = KubernetesObjectApi.makeApiClient(smallKc);
  });
  afterAll(async () => {
    await small?.stop();
    small?.cleanup();
  });

  it('an informer whose watch dropped, and whose resourceVersion was compacted meanwhile, gets 410, re-lists and converges', async () => {
    const ns = 'default';
    const path = `${BASE}/namespaces/${ns}/${PLURAL}`;
    for (const name of ['keep-1', 'change-1', 'remove-1']) await smallApi.create(instance(name, ns));

    // The list function goes through CustomObjectsApi, as generic controllers do.
    const custom = smallKc.makeApiClient(CustomObjectsApi);
    const lists: string[] = [];
    const listFn = async (): Promise<KubernetesListObject<Instance>> => {
      const list = (await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: PLURAL })) as KubernetesListObject<Instance>;
      lists.push(list.metadata!.resourceVersion!);
      return list;
    };
    const watch = new RecordingWatch(smallKc);
    const informer = new ListWatch<Instance>(path, watch, listFn, false);
    const seen: string[] = [];
    const errors: unknown[] = [];
    informer.on('add', (o) => seen.push(`add ${o.metadata!.name}`));
    informer.on('update', (o) => seen.push(`update ${o.metadata!.name}`));
    informer.on('delete', (o) => seen.push(`delete ${o.metadata!.name}`));
    informer.on('error', (e) => errors.push(e));

    try {
      await informer.start();
      expect(names(informer.list(ns))).toEqual(['change-1', 'keep-1', 'remove-1']);
      expect(lists).toHaveLength(1);
      const staleRv = informer.latestResourceVersion();
      expect(staleRv).toBe(lists[0]);

      // The watch drops: the server dies. The informer tries to reconnect, fails, and reports
      // the error (client-node v2 informers then wait for the caller to start() them again).
      const port = new URL(small.url).port;
      await small.kill();
      await until(() => errors.length > 0, () => 'no error callback after the server died');

      // The server comes back on the same address with the same store...
      const dataDir = small.dataDir;
      small = await startServer({ dataDir, args: [...HISTORY, '--listen', `127.0.0.1:${port}`] });
      expect(small.url).toBe(new URL(smallKc.getCurrentCluster()!.server).origin);

      // ...and while the informer is away, changes it must catch up on, then enough writes
      // (elsewhere) that the store compacts past the informer's resourceVersion.
      const write = async (method: string, p: string, body?: unknown, headers?: Record<string, string>) => {
        const r = await request(small, method, p, body, headers);
        expect(r.status, `${method} ${p}: ${r.text}`).toBeLessThan(300);
        return r.body;
      };
      const merge = { 'content-type': 'application/merge-patch+json' };
      for (let i = 1; i <= 3; i++) await write('POST', path, instance(`late-${i}`, ns));
      await write('PATCH', `${path}/change-1`, { spec: { paused: true } }, merge);
      await write('DELETE', `${path}/remove-1`);
      const churn = `${BASE}/namespaces/churn/${PLURAL}`;
      await write('POST', churn, instance('churn-1', 'churn'));
      for (let i = 0; i < 160; i++) await write('PATCH', `${churn}/churn-1`, { metadata: { annotations: { n: String(i) } } }, merge);

      // The client's own Watch from the informer's resourceVersion now gets one ERROR event
      // carrying a 410 Expired Status, on a 200 stream that the server then ends.
      const direct: { type: string; object: any }[] = [];
      const directDone = new Promise<unknown>((resolve) => {
        void new Watch(smallKc).watch(path, { resourceVersion: staleRv }, (type, object) => direct.push({ type, object }), resolve);
      });
      expect(await directDone).toBeNull();
      expect(direct).toHaveLength(1);
      expect(direct[0]!.type).toBe('ERROR');
      expect(direct[0]!.object).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410 });

      // Restart the informer, as its error callback would: it resumes from its resourceVersion,
      // gets the 410, drops that resourceVersion, re-lists and watches from the new list.
      const before = seen.length;
      const watchesBefore = watch.requests.length;
      await informer.start();
      const expected = ['change-1', 'keep-1', 'late-1', 'late-2', 'late-3'];
      await until(
        () => lists.length === 2 && JSON.stringify(names(informer.list(ns))) === JSON.stringify(expected),
        () => `informer did not converge: lists=${JSON.stringify(lists)} cache=${JSON.stringify(names(informer.list(ns)))} watches=${JSON.stringify(watch.requests.slice(watchesBefore))}`,
      );

      const resumed = watch.requests[watchesBefore]!;
      expect(resumed.resourceVersion).toBe(staleRv);
      expect(resumed.events.map((e) => e.type)).toEqual(['ERROR']);
      expect(resumed.events[0]!.object).toMatchObject({ reason: 'Expired', code: 410 });
      expect(resumed.done).toBe('closed');
      // The watch after the re-list starts at the list's resourceVersion, not the stale one.
      const relisted = lists[1]!;
      expect(Number(relisted)).toBeGreaterThan(Number(staleRv));
      await until(() => watch.requests.length > watchesBefore + 1, () => 'no watch after the re-list');
      expect(watch.requests[watchesBefore + 1]!.resourceVersion).toBe(relisted);

      // The re-list delivered the differences as callbacks.
      const caughtUp = seen.slice(before).sort();
      expect(caughtUp).toEqual(['add late-1', 'add late-2', 'add late-3', 'delete remove-1', 'update change-1'].sort());
      expect(informer.get('change-1', ns)?.spec).toEqual({ paused: true });
      const fromServer = await write('GET', path);
      expect(names(informer.list(ns))).toEqual(names(fromServer.items));

      // And the new watch is live: a change after recovery arrives as an event.
      await smallApi.create(instance('after-1', ns));
      await until(() => seen.includes('add after-1'), () => `no add after recovery: ${JSON.stringify(seen)}`);
      expect(watch.requests.at(-1)!.events.some((e) => e.type === 'ADDED' && e.object.metadata.name === 'after-1')).toBe(true);
    } finally {
      await informer.stop();
    }
  });
});
