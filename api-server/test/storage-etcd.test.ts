/**
 * The storage contract against a real etcd (one member, started once for this file; each test
 * gets a storage with its own key prefix), then what only etcd has: several members, its
 * request size limit, members going away under a watch, compactions made by someone else.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEtcdStorage } from '../src/storage/etcd-storage.ts';
import {
  CompactedError,
  StorageUnavailableError,
  ValueTooLargeError,
  type Storage,
  type WatchEvent,
} from '../src/storage/types.ts';
import { describeStorageConformance } from './storage-conformance.ts';
import { startEtcd, type EtcdCluster } from './support/etcd.ts';
import { freePort } from './support/ports.ts';

let etcd: EtcdCluster | undefined;
let suites = 0;

beforeAll(async () => {
  etcd = await startEtcd();
});

afterAll(async () => {
  await etcd?.stop();
});

function endpoints(): string[] {
  if (!etcd) throw new Error('etcd did not start');
  return etcd.endpoints;
}

describeStorageConformance('etcd', async () => {
  const storage = await openEtcdStorage({ endpoints: endpoints(), prefix: `/storage-etcd-test/${++suites}` });
  return { storage, cleanup: () => storage.close() };
});

async function until(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('etcd storage', () => {
  const opened: Storage[] = [];
  const open = async (options: { endpoints?: string[]; prefix?: string } = {}) => {
    const storage = await openEtcdStorage({ endpoints: options.endpoints ?? endpoints(), prefix: options.prefix ?? '/etcd-only' });
    opened.push(storage);
    return storage;
  };
  afterAll(async () => {
    await Promise.all(opened.map((s) => s.close()));
  });

  it('keeps keys under its prefix in etcd and strips it on the way out', async () => {
    const a = await open({ prefix: '/tenant-a' });
    const b = await open({ prefix: '/tenant-b' });
    const root = await open({ prefix: '' });
    const events: WatchEvent[] = [];
    await a.watch('/things/', await a.currentRevision(), { onEvent: (e) => events.push(e), onError: () => {} });
    const kv = (await a.txn([{ type: 'create', key: '/things/x', value: 'x' }]))[0]!;
    expect(kv.key).toBe('/things/x');
    expect(await b.get('/things/x')).toBeUndefined();
    expect(await root.get('/tenant-a/things/x')).toEqual({ ...kv, key: '/tenant-a/things/x' });
    expect((await a.list('/things/')).items).toEqual([kv]);
    await until(() => events.length === 1, 'the watch event');
    expect(events[0]!.kv).toEqual(kv);
  });

  it('a value above etcd\'s request limit fails with ValueTooLargeError, and the client stays usable', async () => {
    const storage = await open();
    // Just above --max-request-bytes (4 MiB here) etcd answers "request is too large"; above
    // that plus 512 KiB gRPC refuses the message itself. Both are the same error to callers.
    for (const size of [4.2, 6]) {
      const value = 'x'.repeat(Math.floor(size * 1024 * 1024));
      const err = await storage.txn([{ type: 'create', key: `/big/${size}`, value }]).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ValueTooLargeError);
      expect(String(err)).toMatch(/--max-request-bytes/);
      expect(await storage.get(`/big/${size}`)).toBeUndefined();
    }
    // The failures did not take the endpoint out of service (etcd3's default circuit breaker would).
    const kv = (await storage.txn([{ type: 'create', key: '/big/small', value: 'fine' }]))[0]!;
    expect(await storage.get('/big/small')).toEqual(kv);
  });

  it('an unreachable etcd fails with StorageUnavailableError naming the endpoint, not its credentials', async () => {
    const port = await freePort();
    const started = Date.now();
    const err = await openEtcdStorage({ endpoints: [`http://hq:s3cret@127.0.0.1:${port}`], dialTimeoutMs: 500 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StorageUnavailableError);
    expect(String(err)).toContain(`127.0.0.1:${port}`);
    expect(String(err)).not.toContain('s3cret');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('finds a compaction made by another client', async () => {
    const writer = await open({ prefix: '/compaction-elsewhere' });
    const first = (await writer.txn([{ type: 'create', key: '/k', value: '1' }]))[0]!;
    await writer.txn([{ type: 'update', key: '/k', value: '2', expectedModRevision: first.modRevision }]);
    const rev = await writer.currentRevision();
    await writer.compact(rev);
    // Storages that did not compact (a fresh one for each check, as each one remembers what it
    // learnt) find out from etcd. etcd itself lets a watch start at the compaction revision
    // (start_revision = rev, i.e. from rev - 1), though a deletion at rev may be gone.
    expect(first.modRevision).toBe(rev - 1);
    const watchErr = await (await open({ prefix: '/compaction-elsewhere' }))
      .watch('/', rev - 1, { onEvent: () => {}, onError: () => {} })
      .then(() => undefined, (e: unknown) => e);
    expect(watchErr).toBeInstanceOf(CompactedError);
    expect(watchErr instanceof CompactedError && [watchErr.requested, watchErr.compacted]).toEqual([rev - 1, rev]);
    const listErr = await (await open({ prefix: '/compaction-elsewhere' }))
      .list('/', { revision: rev - 1 })
      .then(() => undefined, (e: unknown) => e);
    expect(listErr instanceof CompactedError && [listErr.requested, listErr.compacted]).toEqual([rev - 1, rev]);
    expect(await (await open({ prefix: '/compaction-elsewhere' })).compactedRevision()).toBe(rev);
  });

  it('reports progress from etcd once a watch has caught up, never ahead of its events', async () => {
    const storage = await open({ prefix: '/progress' });
    const events: WatchEvent[] = [];
    const progress: { revision: number; delivered: number }[] = [];
    const kv = (await storage.txn([{ type: 'create', key: '/watched/a', value: 'a' }]))[0]!;
    await storage.watch('/watched/', kv.modRevision - 1, {
      onEvent: (e) => events.push(e),
      onProgress: (revision) => progress.push({ revision, delivered: events.length }),
      onError: () => {},
    });
    // Writes elsewhere move the revision on without events for this watch.
    const elsewhere = (await storage.txn([{ type: 'create', key: '/elsewhere/b', value: 'b' }]))[0]!;
    await until(() => progress.some((p) => p.revision >= elsewhere.modRevision), 'a progress notification');
    expect(events.map((e) => e.kv)).toEqual([kv]);
    for (const p of progress) {
      expect(p.revision).toBeGreaterThanOrEqual(kv.modRevision);
      expect(p.delivered).toBe(1);
    }
  });

  it('a watch whose history is compacted while it catches up ends with CompactedError', async () => {
    // etcd cancels such a watch with compact_revision set; etcd3's own Watcher would turn that
    // into a bare "Watcher canceled: " error.
    const storage = await open({ prefix: '/compaction-catch-up' });
    const from = await storage.currentRevision();
    // Enough history that etcd sends it in several batches (1000 revisions per response).
    for (let i = 0; i < 3000; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => storage.txn([{ type: 'create', key: `/k/${i + j}`, value: 'x' }])));
    }
    const rev = await storage.currentRevision();
    const events: WatchEvent[] = [];
    const errors: Error[] = [];
    let compacting: Promise<void> | undefined;
    await storage.watch('/', from, {
      onEvent: (e) => {
        events.push(e);
        // Compact as soon as the first event arrives: the rest of the history goes.
        compacting ??= storage.compact(rev);
      },
      onError: (e) => errors.push(e),
    });
    await until(() => errors.length > 0 || events.length === 3000, 'the end of the catch-up');
    await compacting;
    if (errors.length === 0) {
      // etcd had already sent everything: nothing to check but completeness.
      expect(events).toHaveLength(3000);
      return;
    }
    expect(errors[0]).toBeInstanceOf(CompactedError);
    expect(errors[0] instanceof CompactedError && errors[0].compacted).toBe(rev);
    expect(events.length).toBeLessThan(3000);
  });
});

describe('etcd storage on a three-member cluster', () => {
  let cluster: EtcdCluster | undefined;
  const opened: Storage[] = [];
  const member = async (index: number) => {
    if (!cluster) throw new Error('the cluster did not start');
    const storage = await openEtcdStorage({ endpoints: [cluster.endpoints[index]!], prefix: '/cluster-test' });
    opened.push(storage);
    return storage;
  };

  beforeAll(async () => {
    cluster = await startEtcd({ members: 3 });
  });
  afterAll(async () => {
    await Promise.all(opened.map((s) => s.close()));
    await cluster?.stop();
  });

  it('a write through member 1 arrives on a watch through member 3', async () => {
    const one = await member(0);
    const three = await member(2);
    const events: WatchEvent[] = [];
    const errors: Error[] = [];
    await three.watch('/replicated/', await three.currentRevision(), { onEvent: (e) => events.push(e), onError: (e) => errors.push(e) });
    const kv = (await one.txn([{ type: 'create', key: '/replicated/x', value: 'from member 1' }]))[0]!;
    await until(() => events.length === 1, 'the event on member 3');
    expect(events).toEqual([{ type: 'put', kv }]);
    expect(errors).toEqual([]);
    // Reads through member 3 are linearizable: the write is there.
    expect(await three.get('/replicated/x')).toEqual(kv);
  });

  it('a watch through a member that restarts resumes after its last event: no gaps, no duplicates', async () => {
    if (!cluster) throw new Error('the cluster did not start');
    // Watch through a follower and write through another member: killing the leader would
    // stall writes for etcd's request timeout (about 7 s) while a new leader is elected.
    const leader = await cluster.leader();
    const watched = leader === 2 ? 1 : 2;
    const writer = await member(0); // never the watched member, which is 1 or 2
    const reader = await member(watched);
    const events: WatchEvent[] = [];
    const errors: Error[] = [];
    await reader.watch('/restart/', await reader.currentRevision(), { onEvent: (e) => events.push(e), onError: (e) => errors.push(e) });
    const write = async (i: number, value: string) =>
      (await writer.txn([{ type: 'create', key: `/restart/${i}`, value }]))[0]!;
    const written = [await write(0, 'before')];
    await until(() => events.length === 1, 'the first event');

    await cluster.killMember(watched);
    // These reach the cluster while the watch's member is down and the watch retries.
    for (let i = 1; i <= 5; i++) written.push(await write(i, 'during'));
    await cluster.startMember(watched);
    written.push(await write(6, 'after'));

    await until(() => events.length >= written.length || errors.length > 0, 'the events after the restart');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(errors).toEqual([]);
    expect(events.map((e) => e.kv)).toEqual(written);
  });

  it('a watch whose member restarts while it catches up on history still gets every event once', async () => {
    if (!cluster) throw new Error('the cluster did not start');
    // etcd sends history in batches of 1000 revisions, each response headed by the current
    // revision: etcd3's own Watcher resumes after that header and would skip the rest.
    const leader = await cluster.leader();
    const watched = leader === 2 ? 1 : 2;
    const writer = await member(0);
    const reader = await member(watched);
    const from = await writer.currentRevision();
    for (let i = 0; i < 2500; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => writer.txn([{ type: 'create', key: `/catch-up/${i + j}`, value: String(i + j) }])));
    }
    const last = await writer.currentRevision();
    const revisions: number[] = [];
    const errors: Error[] = [];
    let restarting: Promise<void> | undefined;
    await reader.watch('/catch-up/', from, {
      onEvent: (e) => {
        revisions.push(e.kv.modRevision);
        restarting ??= cluster!.killMember(watched).then(() => cluster!.startMember(watched));
      },
      onError: (e) => errors.push(e),
    });
    await until(() => restarting !== undefined, 'the first event');
    await restarting;
    await until(() => revisions.length >= 2500 || errors.length > 0, 'all 2500 events', 30_000);
    expect(errors).toEqual([]);
    expect(revisions).toEqual(Array.from({ length: 2500 }, (_, i) => last - 2499 + i));
  });
});
