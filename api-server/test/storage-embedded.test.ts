/**
 * The storage contract against the embedded store, on a real file (WAL, synchronous=FULL), plus
 * what only it promises: durability across reopen, bounded history, one owner per file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteStorage } from '../src/storage/sqlite-storage.ts';
import {
  CompactedError,
  KeyExistsError,
  RevisionMismatchError,
  StorageUnavailableError,
  type Storage,
  type WatchEvent,
} from '../src/storage/types.ts';
import { describeStorageConformance } from './storage-conformance.ts';

const dir = mkdtempSync(join(tmpdir(), 'hq-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

describeStorageConformance('embedded', async () => {
  const path = join(dir, `conformance-${++n}.db`);
  const storage = openSqliteStorage({ path });
  return { storage, cleanup: () => storage.close() };
});

/** Count the store's COMMITs, or make the next ones fail, through its prepared statement. */
function commits(s: Storage): { count: number; failNext(err: Error): void } {
  const stmt = (s as unknown as { stmt: Record<string, { run(): unknown }> }).stmt;
  const real = stmt.commit!;
  const state = { count: 0, failing: undefined as Error | undefined };
  stmt.commit = {
    run: () => {
      if (state.failing) {
        const err = state.failing;
        state.failing = undefined;
        throw err;
      }
      state.count++;
      return real.run();
    },
  };
  return {
    get count() {
      return state.count;
    },
    failNext(err: Error) {
      state.failing = err;
    },
  };
}

describe('embedded store: group commit', () => {
  it('commits the txns of one turn together, in call order, each seeing the writes before it', async () => {
    const s = openSqliteStorage({ path: join(dir, 'batch-order.db') });
    const counted = commits(s);
    const before = await s.currentRevision();
    const k = '/g/k';
    // None awaited: they all wait for the same batch. Revisions are predictable (one per write).
    const created = s.txn([{ type: 'create', key: k, value: 'one' }]);
    const updated = s.txn([{ type: 'update', key: k, value: 'two', expectedModRevision: before + 1 }]);
    const stale = s.txn([{ type: 'update', key: k, value: 'stale', expectedModRevision: before + 1 }]);
    const duplicate = s.txn([{ type: 'create', key: k, value: 'dup' }]);
    const removed = s.txn([{ type: 'delete', key: k, expectedModRevision: before + 2 }]);
    const again = s.txn([{ type: 'create', key: k, value: 'three' }]);
    // Nothing is visible before the batch commits.
    expect(await s.currentRevision()).toBe(before);
    expect(await s.get(k)).toBeUndefined();

    expect((await created)[0]).toEqual({ key: k, value: 'one', createRevision: before + 1, modRevision: before + 1 });
    expect((await updated)[0]).toEqual({ key: k, value: 'two', createRevision: before + 1, modRevision: before + 2 });
    const mismatch = await stale.then(() => undefined, (err: unknown) => err);
    expect(mismatch).toBeInstanceOf(RevisionMismatchError);
    expect((mismatch as RevisionMismatchError).actualModRevision).toBe(before + 2);
    await expect(duplicate).rejects.toBeInstanceOf(KeyExistsError);
    expect((await removed)[0]).toEqual({ key: k, value: 'two', createRevision: before + 1, modRevision: before + 3 });
    expect((await again)[0]).toEqual({ key: k, value: 'three', createRevision: before + 4, modRevision: before + 4 });
    expect(await s.currentRevision()).toBe(before + 4);
    expect(counted.count).toBe(1);
    await s.close();
  });

  it('splits a burst larger than one batch into several, keeping the call order', async () => {
    const s = openSqliteStorage({ path: join(dir, 'batch-split.db') });
    const counted = commits(s);
    const before = await s.currentRevision();
    const results = await Promise.all(Array.from({ length: 600 }, (_, i) => s.txn([{ type: 'create', key: `/g/${i}`, value: String(i) }])));
    expect(results.map(([kv]) => kv!.modRevision)).toEqual(Array.from({ length: 600 }, (_, i) => before + 1 + i));
    expect(counted.count).toBe(3);
    // A single large txn goes in a batch of its own, whatever the byte bound.
    const big = 'x'.repeat(3 * 1024 * 1024);
    const [a, b] = await Promise.all([s.txn([{ type: 'create', key: '/g/big1', value: big }]), s.txn([{ type: 'create', key: '/g/big2', value: big }])]);
    expect([a![0]!.modRevision, b![0]!.modRevision]).toEqual([before + 601, before + 602]);
    expect(counted.count).toBe(5);
    await s.close();
  });

  it('a failed COMMIT fails every txn of its batch and moves neither the revision nor the watches on', async () => {
    const path = join(dir, 'batch-commit-fails.db');
    let s = openSqliteStorage({ path });
    const [kv] = await s.txn([{ type: 'create', key: '/f/a', value: 'one' }]);
    const before = await s.currentRevision();
    const events: WatchEvent[] = [];
    await s.watch('/f/', before, { onEvent: (e) => events.push(e), onError() {} });
    const failure = new Error('disk I/O error (injected)');
    commits(s).failNext(failure);
    const settled = await Promise.allSettled([
      s.txn([{ type: 'update', key: '/f/a', value: 'two', expectedModRevision: kv!.modRevision }]),
      s.txn([{ type: 'create', key: '/f/b', value: 'b' }]),
      s.txn([{ type: 'create', key: '/f/a', value: 'exists' }]),
    ]);
    expect(settled.map((r) => r.status === 'rejected' && r.reason)).toEqual([failure, failure, failure]);
    expect(await s.currentRevision()).toBe(before);
    expect(await s.get('/f/a')).toEqual(kv);
    expect(await s.get('/f/b')).toBeUndefined();
    expect(await s.count('/f/')).toBe(1);
    expect((await s.list('/f/')).items).toEqual([kv]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(events).toEqual([]);
    // The store goes on from where it was.
    const [b] = await s.txn([{ type: 'create', key: '/f/b', value: 'b' }]);
    expect(b!.modRevision).toBe(before + 1);
    expect(events.map((e) => e.kv)).toEqual([b]);
    await s.close();
    s = openSqliteStorage({ path });
    expect(await s.currentRevision()).toBe(before + 1);
    expect(await s.get('/f/a')).toEqual(kv);
    await s.close();
  });

  it('close() rejects the txns still waiting for their batch and writes none of them', async () => {
    const path = join(dir, 'batch-close.db');
    let s = openSqliteStorage({ path });
    const before = await s.currentRevision();
    const waiting = [s.txn([{ type: 'create', key: '/c/a', value: 'a' }]), s.txn([{ type: 'create', key: '/c/b', value: 'b' }])];
    await s.close();
    for (const p of waiting) await expect(p).rejects.toBeInstanceOf(StorageUnavailableError);
    await expect(s.txn([{ type: 'create', key: '/c/c', value: 'c' }])).rejects.toBeInstanceOf(StorageUnavailableError);
    s = openSqliteStorage({ path });
    expect(await s.currentRevision()).toBe(before);
    expect(await s.count('/c/')).toBe(0);
    await s.close();
  });

  it('a watch handler that throws ends its own watch, not the writers or the other watches', async () => {
    const s = openSqliteStorage({ path: join(dir, 'batch-handler-throws.db') });
    const from = await s.currentRevision();
    const errors: Error[] = [];
    const broken = new Error('handler bug');
    let calls = 0;
    await s.watch('/w/', from, {
      onEvent: () => {
        calls++;
        throw broken;
      },
      onError: (err) => errors.push(err),
    });
    const seen: string[] = [];
    await s.watch('/w/', from, { onEvent: (e) => seen.push(e.kv.key), onError() {} });
    const [a, b] = await Promise.all([s.txn([{ type: 'create', key: '/w/a', value: 'a' }]), s.txn([{ type: 'create', key: '/w/b', value: 'b' }])]);
    expect([a![0]!.key, b![0]!.key]).toEqual(['/w/a', '/w/b']);
    await s.txn([{ type: 'create', key: '/w/c', value: 'c' }]);
    expect(seen).toEqual(['/w/a', '/w/b', '/w/c']);
    expect(calls).toBe(1);
    expect(errors).toEqual([broken]);
    await s.close();
  });
});

describe('embedded store', () => {
  it('keeps keys, values and revisions across close and reopen, and resumes watches from history', async () => {
    const path = join(dir, 'reopen.db');
    let s = openSqliteStorage({ path });
    const [a] = await s.txn([{ type: 'create', key: '/r/a', value: 'one' }]);
    const [a2] = await s.txn([{ type: 'update', key: '/r/a', value: 'two', expectedModRevision: a!.modRevision }]);
    await s.txn([{ type: 'create', key: '/r/b', value: 'x' }, { type: 'delete', key: '/r/b' }]);
    const rev = await s.currentRevision();
    await s.close();

    s = openSqliteStorage({ path });
    expect(await s.currentRevision()).toBe(rev);
    expect(await s.get('/r/a')).toEqual(a2);
    expect(await s.get('/r/b')).toBeUndefined();
    const events: string[] = [];
    const w = await s.watch('/r/', a!.modRevision, { onEvent: (e) => events.push(`${e.type} ${e.kv.key} ${e.kv.value} ${e.prevKv?.value}`), onError() {} });
    expect(events).toEqual(['put /r/a two one', 'put /r/b x undefined', 'delete /r/b x x']);
    w.close();
    await s.close();
  });

  it('bounds its history: old revisions compact away by themselves', async () => {
    const s = openSqliteStorage({ path: join(dir, 'bounded.db'), historyRevisions: 100, historyMs: 0 });
    const [first] = await s.txn([{ type: 'create', key: '/h/k', value: '0' }]);
    let rev = first!.modRevision;
    for (let i = 1; i <= 200; i++) rev = (await s.txn([{ type: 'update', key: '/h/k', value: String(i), expectedModRevision: rev }]))[0]!.modRevision;
    const compacted = await s.compactedRevision();
    expect(compacted).toBeGreaterThanOrEqual(rev - 125);
    expect(compacted).toBeLessThanOrEqual(rev - 100);
    await expect(s.watch('/h/', first!.modRevision, { onEvent() {}, onError() {} })).rejects.toBeInstanceOf(CompactedError);
    expect((await s.get('/h/k'))!.value).toBe('200');
    await s.close();
  });

  it('keeps history by time as well: nothing younger than historyMs is compacted, however many revisions', async () => {
    let clock = 1_000_000;
    const s = openSqliteStorage({ path: join(dir, 'bounded-time.db'), historyRevisions: 100, historyMs: 60_000, now: () => clock });
    const [first] = await s.txn([{ type: 'create', key: '/t/k', value: '0' }]);
    let rev = first!.modRevision;
    const write = async (n: number) => {
      for (let i = 0; i < n; i++) rev = (await s.txn([{ type: 'update', key: '/t/k', value: String(rev), expectedModRevision: rev }]))[0]!.modRevision;
    };
    // 10 writes a second for 50 s: 500 revisions, all younger than a minute. Nothing compacts,
    // though the count alone would have kept 100.
    const revAt = new Map<number, number>();
    for (let sec = 0; sec < 50; sec++) {
      revAt.set(clock, rev);
      await write(10);
      clock += 1000;
    }
    expect(await s.compactedRevision()).toBe(0);
    // 30 s later: what was written before the cutoff (80 s ago) may go, nothing after it.
    for (let sec = 0; sec < 30; sec++) {
      await write(10);
      clock += 1000;
    }
    const compacted = await s.compactedRevision();
    const cutoff = clock - 1000 - 60_000;
    const keptFrom = Math.max(...[...revAt].filter(([at]) => at <= cutoff).map(([, r]) => r));
    expect(compacted).toBeGreaterThan(0);
    expect(compacted).toBeLessThanOrEqual(keptFrom);
    // Every revision written within the last minute can still be watched from.
    const seen: number[] = [];
    (await s.watch('/t/', keptFrom, { onEvent: (e) => seen.push(e.kv.modRevision), onError() {} })).close();
    expect(seen[seen.length - 1]).toBe(rev);
    expect(seen).toHaveLength(rev - keptFrom);
    await s.close();
  });

  it('compacts step by step to exactly what reads and watches from the compacted revision need', async () => {
    const path = join(dir, 'compaction-steps.db');
    const s = openSqliteStorage({ path, historyRevisions: 1_000_000 });
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const compactions: number[] = [];
    for (let step = 0; step < 2000; step++) {
      const key = `/s/${Math.floor(random() * 30)}`;
      const kv = await s.get(key);
      const x = random();
      if (!kv) await s.txn([{ type: 'create', key, value: String(step) }]);
      else if (x < 0.15) await s.txn([{ type: 'delete', key, expectedModRevision: kv.modRevision }]);
      else if (x < 0.2) await s.txn([{ type: 'update', key, value: String(step), expectedModRevision: kv.modRevision }, { type: 'delete', key }, { type: 'create', key, value: 'again' }]);
      else await s.txn([{ type: 'update', key, value: String(step), expectedModRevision: kv.modRevision }]);
      if (step % 150 === 149) {
        const target = (await s.currentRevision()) - Math.floor(random() * 100);
        const snapshot = await s.list('/s/', { revision: target });
        const events: string[] = [];
        const w = await s.watch('/s/', target, { onEvent: (e) => events.push(`${e.type} ${e.kv.key}@${e.kv.modRevision} ${e.prevKv?.modRevision}`), onError() {} });
        w.close();
        await s.compact(target);
        compactions.push(target);
        expect(await s.list('/s/', { revision: target })).toEqual(snapshot);
        const again: string[] = [];
        (await s.watch('/s/', target, { onEvent: (e) => again.push(`${e.type} ${e.kv.key}@${e.kv.modRevision} ${e.prevKv?.modRevision}`), onError() {} })).close();
        expect(again).toEqual(events);
      }
    }
    await s.close();
    // Nothing more is kept than needed: at or below the compacted revision, one live row per key.
    const db = new DatabaseSync(path);
    const c = compactions[compactions.length - 1]!;
    const extra = db.prepare(`
      SELECT COUNT(*) AS n FROM log WHERE rev <= ? AND (
        deleted = 1 OR rev < (SELECT MAX(l2.rev) FROM log l2 WHERE l2.key = log.key AND l2.rev <= ?))`).get(c, c) as { n: number };
    expect(extra.n).toBe(0);
    db.close();
  });

  it('refuses a second owner of the same file', async () => {
    const path = join(dir, 'owned.db');
    const s = openSqliteStorage({ path });
    expect(() => openSqliteStorage({ path })).toThrow(StorageUnavailableError);
    expect(() => openSqliteStorage({ path })).toThrow(/in use by another process/);
    await s.close();
  });
});

describe('embedded store: live keys (kept in memory, built from the log at open)', () => {
  it('a txn that fails in a batch leaves no trace in reads, while the others of the batch apply', async () => {
    const path = join(dir, 'live-undo.db');
    const s = openSqliteStorage({ path });
    await s.txn([{ type: 'create', key: '/l/keep', value: 'k' }]);
    const settled = await Promise.allSettled([
      s.txn([{ type: 'create', key: '/l/a', value: 'a' }]),
      // Creates /l/b, deletes /l/keep, then fails: all three undone.
      s.txn([
        { type: 'create', key: '/l/b', value: 'b' },
        { type: 'delete', key: '/l/keep' },
        { type: 'create', key: '/l/a', value: 'again' },
      ]),
      s.txn([{ type: 'create', key: '/l/c', value: 'c' }]),
    ]);
    expect(settled.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const keys = async (st: Storage) => (await st.list('/l/')).items.map((kv) => `${kv.key}=${kv.value}`);
    expect(await keys(s)).toEqual(['/l/a=a', '/l/c=c', '/l/keep=k']);
    expect(await s.get('/l/b')).toBeUndefined();
    expect(await s.count('/l/')).toBe(3);
    // Paging and reverse over the in-memory keys, as over the table they replace.
    expect(await s.list('/l/', { limit: 2 })).toMatchObject({ more: true, remaining: 1 });
    expect((await s.list('/l/', { reverse: true, limit: 2 })).items.map((kv) => kv.key)).toEqual(['/l/keep', '/l/c']);
    expect((await s.list('/l/', { after: '/l/a', before: '/l/keep' })).items.map((kv) => kv.key)).toEqual(['/l/c']);
    await s.txn([{ type: 'delete', key: '/l/c' }]);
    await s.txn([{ type: 'update', key: '/l/a', value: 'a2', expectedModRevision: (await s.get('/l/a'))!.modRevision }]);
    const live = await keys(s);
    await s.close();
    // Rebuilt from the log: deletions and updates as they were.
    const again = openSqliteStorage({ path });
    expect(await keys(again)).toEqual(live);
    expect(live).toEqual(['/l/a=a2', '/l/keep=k']);
    await again.close();
  });

  it("an update carrying the writer's read of the key writes and reports exactly what a re-read would", async () => {
    const s = openSqliteStorage({ path: join(dir, 'update-read.db') });
    const [created] = await s.txn([{ type: 'create', key: '/r/a', value: 'v1' }]);
    const events: WatchEvent[] = [];
    const w = await s.watch('/r/', created!.modRevision, { onEvent: (e) => events.push(e), onError: () => {} });
    const read = (await s.get('/r/a'))!;
    const [kv] = await s.txn([{ type: 'update', key: '/r/a', value: 'v2', expectedModRevision: read.modRevision, read }]);
    expect(kv).toEqual({ key: '/r/a', value: 'v2', createRevision: created!.modRevision, modRevision: read.modRevision + 1 });
    expect(events.at(-1)).toEqual({ type: 'put', kv, prevKv: read });
    // A stale read (the key moved on since) is not taken for the live row: the compare-and-swap fails as it would without it.
    await expect(s.txn([{ type: 'update', key: '/r/a', value: 'v3', expectedModRevision: read.modRevision, read }])).rejects.toBeInstanceOf(RevisionMismatchError);
    // Nor is a read of another key, even at the live revision.
    const [other] = await s.txn([{ type: 'create', key: '/r/b', value: 'b1' }]);
    const [b2] = await s.txn([{ type: 'update', key: '/r/b', value: 'b2', expectedModRevision: other!.modRevision, read: { ...kv!, modRevision: other!.modRevision } }]);
    expect(events.at(-1)).toEqual({ type: 'put', kv: b2, prevKv: other });
    w.close();
    await s.close();
  });

  it('opens a store that kept them in a `current` table, and drops the table', async () => {
    const path = join(dir, 'live-upgrade.db');
    const s = openSqliteStorage({ path });
    await s.txn([{ type: 'create', key: '/u/a', value: 'a' }, { type: 'create', key: '/u/b', value: 'b' }]);
    await s.txn([{ type: 'delete', key: '/u/b' }]);
    await s.close();
    // As the store looked before: a `current` table beside the log.
    const db = new DatabaseSync(path);
    db.exec("CREATE TABLE current (key TEXT PRIMARY KEY, rev INTEGER NOT NULL) WITHOUT ROWID; INSERT INTO current VALUES ('/u/a', 1)");
    db.close();
    const after = openSqliteStorage({ path });
    expect((await after.list('/u/')).items.map((kv) => kv.key)).toEqual(['/u/a']);
    await after.close();
    const check = new DatabaseSync(path);
    expect(check.prepare("SELECT name FROM sqlite_master WHERE name = 'current'").get()).toBeUndefined();
    check.close();
  });
});

describe('embedded store: records (keys under recordPrefixes)', () => {
  const R = '/rec/';
  const open = (name: string, recordPrefixes = [R]) => openSqliteStorage({ path: join(dir, name), recordPrefixes });

  it('writes a record atomically with its txn, at the revision of the txn\'s last object op, taking none itself', async () => {
    const s = open('records-txn.db');
    expect(s.isRecord(`${R}a`)).toBe(true);
    expect(s.isRecord('/obj/a')).toBe(false);
    const events: WatchEvent[] = [];
    const w = await s.watch('/', 0, { onEvent: (e) => events.push(e), onError() {} });
    const [o1, o2, rec] = await s.txn([
      { type: 'create', key: '/obj/a', value: 'A' },
      { type: 'create', key: '/obj/b', value: 'B' },
      { type: 'create', key: `${R}1`, value: 'record 1' },
    ]);
    expect([o1!.modRevision, o2!.modRevision]).toEqual([1, 2]);
    expect(rec).toEqual({ key: `${R}1`, value: 'record 1', createRevision: 2, modRevision: 2 });
    expect(await s.currentRevision()).toBe(2);
    // A txn of records alone commits and takes no revision.
    const [alone] = await s.txn([{ type: 'create', key: `${R}2`, value: 'record 2' }]);
    expect(alone!.modRevision).toBe(2);
    expect(await s.currentRevision()).toBe(2);
    expect(await s.get(`${R}2`)).toEqual(alone);
    // A txn that fails writes its record no more than its objects.
    await expect(s.txn([{ type: 'create', key: '/obj/a', value: 'again' }, { type: 'create', key: `${R}3`, value: 'lost' }])).rejects.toBeInstanceOf(KeyExistsError);
    await expect(s.txn([{ type: 'create', key: `${R}4`, value: 'lost' }, { type: 'create', key: `${R}1`, value: 'dup' }])).rejects.toMatchObject({ opIndex: 1 });
    expect(await s.get(`${R}3`)).toBeUndefined();
    expect(await s.get(`${R}4`)).toBeUndefined();
    // No watch sees a record, even one on a prefix above it.
    await s.txn([{ type: 'update', key: '/obj/a', value: 'A2', expectedModRevision: 1 }]);
    await new Promise((r) => setTimeout(r, 10));
    expect(events.map((e) => e.kv.key)).toEqual(['/obj/a', '/obj/b', '/obj/a']);
    w.close();
    await s.close();
  });

  it('lists, pages and counts records like keys, and updates and deletes them with compare-and-swap', async () => {
    const s = open('records-list.db');
    await s.txn([{ type: 'create', key: '/obj/x', value: 'x' }]);
    for (let i = 0; i < 5; i++) await s.txn([{ type: 'create', key: `${R}${i}`, value: `v${i}` }]);
    const page = await s.list(R, { limit: 2 });
    expect(page.items.map((kv) => kv.key)).toEqual([`${R}0`, `${R}1`]);
    expect(page).toMatchObject({ more: true, remaining: 3, revision: 1 });
    expect((await s.list(R, { after: `${R}1`, limit: 2 })).items.map((kv) => kv.value)).toEqual(['v2', 'v3']);
    expect((await s.list(R, { reverse: true, limit: 2, before: `${R}4` })).items.map((kv) => kv.value)).toEqual(['v3', 'v2']);
    expect(await s.count(R)).toBe(5);
    expect((await s.list('/obj/')).items.map((kv) => kv.key)).toEqual(['/obj/x']);
    await expect(s.txn([{ type: 'update', key: `${R}0`, value: 'no', expectedModRevision: 7 }])).rejects.toBeInstanceOf(RevisionMismatchError);
    await s.txn([{ type: 'update', key: `${R}0`, value: 'yes', expectedModRevision: 1 }]);
    expect((await s.get(`${R}0`))!.value).toBe('yes');
    // Creating an existing record fails alone, with the error a key would give, and writes nothing of its txn.
    const dup = s.txn([{ type: 'create', key: '/obj/y', value: 'y' }, { type: 'create', key: `${R}2`, value: 'dup' }]);
    await expect(dup).rejects.toMatchObject({ constructor: KeyExistsError, key: `${R}2`, opIndex: 1 });
    await expect(s.txn([{ type: 'create', key: `${R}9`, value: 'a' }, { type: 'create', key: `${R}9`, value: 'b' }])).rejects.toBeInstanceOf(KeyExistsError);
    expect(await s.get('/obj/y')).toBeUndefined();
    expect(await s.get(`${R}9`)).toBeUndefined();
    expect((await s.get(`${R}2`))!.value).toBe('v2');
    const [gone] = await s.txn([{ type: 'delete', key: `${R}1` }]);
    expect(gone!.value).toBe('v1');
    expect(await s.count(R)).toBe(4);
    expect(await s.currentRevision()).toBe(1);
    await s.close();
    // Durable like everything else.
    const again = open('records-list.db');
    expect((await again.list(R)).items.map((kv) => kv.value)).toEqual(['yes', 'v2', 'v3', 'v4']);
    await again.close();
  });

  it('moves records written by a server opened without the prefix out of the log at open, keeping their revisions', async () => {
    const before = open('records-migrate.db', []);
    await before.txn([{ type: 'create', key: '/obj/a', value: 'A' }, { type: 'create', key: `${R}1`, value: 'one' }]);
    await before.txn([{ type: 'create', key: `${R}2`, value: 'two' }]);
    await before.txn([{ type: 'update', key: '/obj/a', value: 'A2', expectedModRevision: 1 }]);
    expect(await before.currentRevision()).toBe(4);
    await before.close();

    const after = open('records-migrate.db');
    expect(await after.currentRevision()).toBe(4);
    expect((await after.list(R)).items).toEqual([
      { key: `${R}1`, value: 'one', createRevision: 2, modRevision: 2 },
      { key: `${R}2`, value: 'two', createRevision: 3, modRevision: 3 },
    ]);
    // Gone from the log: a watch replaying history sees the objects only.
    const replay: string[] = [];
    (await after.watch('/', 0, { onEvent: (e) => replay.push(`${e.kv.key}@${e.kv.modRevision}`), onError() {} })).close();
    expect(replay).toEqual(['/obj/a@1', '/obj/a@4']);
    await after.close();
    const db = new DatabaseSync(join(dir, 'records-migrate.db'));
    expect((db.prepare('SELECT COUNT(*) AS n FROM log WHERE key LIKE ?').get(`${R}%`) as { n: number }).n).toBe(0);
    db.close();
  });
});

/** The store's file-sync seams, to hold or fail syncs (the disk cannot be made slow or failing on cue). */
type SyncSeam = (done: (err: Error | null, complete?: boolean) => void) => void;
const seams = (s: Storage) => s as unknown as { walSync: SyncSeam; checkpointCopy: SyncSeam; checkpointFinish: SyncSeam; inlineSyncTxns: number };

describe('embedded store: durability off the event loop', () => {
  /** Hold the store's WAL syncs until released (the disk cannot be made slow or failing on cue). */
  function holdSyncs(s: Storage) {
    const store = seams(s);
    // Every batch through the thread pool, even a single write's.
    store.inlineSyncTxns = 0;
    const real = store.walSync;
    const held: ((err: Error | null) => void)[] = [];
    let calls = 0;
    store.walSync = (done) => {
      calls++;
      held.push(done);
    };
    return {
      get calls() {
        return calls;
      },
      /** Finish the held syncs: for real, or with a failure. */
      release(err?: Error) {
        for (const done of held.splice(0)) {
          if (err) done(err);
          else real(done);
        }
      },
    };
  }
  const tick = () => new Promise((r) => setTimeout(r, 20));

  it('answers a txn, shows its write to readers and tells watchers of it only after the WAL sync', async () => {
    const s = openSqliteStorage({ path: join(dir, 'sync-order.db') });
    const syncs = holdSyncs(s);
    const seen: string[] = [];
    await s.watch('/k/', 0, { onEvent: (e) => seen.push(e.kv.key), onError() {} });
    let answered = false;
    const write = s.txn([{ type: 'create', key: '/k/a', value: '1' }]).then((r) => ((answered = true), r));
    await tick();
    expect(syncs.calls).toBe(1);
    expect([answered, seen]).toEqual([false, []]);
    let read: unknown = 'pending';
    void s.get('/k/a').then((kv) => (read = kv?.value));
    const second = s.txn([{ type: 'create', key: '/k/b', value: '2' }]);
    await tick();
    // The read waits for durability; the second write waits for the next batch.
    expect(read).toBe('pending');
    expect(syncs.calls).toBe(1);
    syncs.release();
    await write;
    await tick();
    expect(read).toBe('1');
    expect(seen).toEqual(['/k/a']);
    expect(syncs.calls).toBe(2);
    syncs.release();
    expect((await second)[0]!.modRevision).toBe(2);
    expect(seen).toEqual(['/k/a', '/k/b']);
    await s.close();
  });

  it('a failed WAL sync fails the batch and every later call: nothing is answered as written that may not be on disk', async () => {
    const s = openSqliteStorage({ path: join(dir, 'sync-fail.db') });
    await s.txn([{ type: 'create', key: '/k/ok', value: 'durable' }]);
    const syncs = holdSyncs(s);
    const errors: Error[] = [];
    await s.watch('/k/', 0, { onEvent() {}, onError: (e) => errors.push(e) });
    const lost = s.txn([{ type: 'create', key: '/k/lost', value: 'x' }]);
    await tick();
    syncs.release(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    await expect(lost).rejects.toThrow(/could not make a commit durable: EIO/);
    await expect(lost).rejects.toBeInstanceOf(StorageUnavailableError);
    expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/could not make a commit durable/)]);
    await expect(s.get('/k/ok')).rejects.toThrow(/failed to make a commit durable .*restart the server/);
    await expect(s.txn([{ type: 'create', key: '/k/after', value: 'x' }])).rejects.toBeInstanceOf(StorageUnavailableError);
    await s.close();
  });

  it('starts the WAL over after a checkpoint only once the database file is synced, and commits nothing meanwhile', async () => {
    const path = join(dir, 'checkpoint-order.db');
    const s = openSqliteStorage({ path, checkpointWalBytes: 64 * 1024 });
    const store = seams(s);
    const real = store.checkpointFinish;
    const held: ((err: Error | null) => void)[] = [];
    store.checkpointFinish = (done) => held.push(done);
    const { statSync } = await import('node:fs');
    const value = 'v'.repeat(4000);
    // Past the threshold: the batch that crosses it starts a checkpoint and answers; the checkpoint's
    // copy runs while batches go on committing, and its last step (held here) follows. A write sent
    // just before that step starts waits for it (on a slow disk the copy ends mid-loop), so each
    // write is awaited only until the step is held.
    const heldNow = async () => {
      for (const deadline = Date.now() + 10_000; held.length === 0 && Date.now() < deadline; ) await tick();
    };
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 20 && held.length === 0; i++) {
      const write = s.txn([{ type: 'create', key: `/w/${i}`, value }]);
      writes.push(write);
      await Promise.race([write, heldNow()]);
    }
    await heldNow();
    expect(held).toHaveLength(1);
    const walBefore = statSync(`${path}-wal`).size;
    expect(walBefore).toBeGreaterThanOrEqual(64 * 1024);
    let answered = false;
    const next = s.txn([{ type: 'create', key: '/w/next', value: 'x' }]).then(() => (answered = true));
    await tick();
    // While the database file's sync is held: nothing commits, the WAL keeps every page.
    expect(answered).toBe(false);
    expect(statSync(`${path}-wal`).size).toBeLessThanOrEqual(walBefore);
    expect((await s.get('/w/0'))!.value).toBe(value); // reads go on
    store.checkpointFinish = real;
    for (const done of held.splice(0)) real(done);
    await next;
    await Promise.all(writes);
    // Started over: as much again is written over the old frames, and the file does not grow.
    for (let i = 0; i < 14; i++) await s.txn([{ type: 'create', key: `/w/again-${i}`, value }]);
    expect(statSync(`${path}-wal`).size).toBeLessThanOrEqual(walBefore);
    await s.close();
    const again = openSqliteStorage({ path });
    expect(await again.count('/w/')).toBeGreaterThan(1);
    expect((await again.get('/w/next'))!.value).toBe('x');
    await again.close();
  });

  it('batches go on committing while a checkpoint copies; a copy that fails stops the store', async () => {
    const s = openSqliteStorage({ path: join(dir, 'checkpoint-copy.db'), checkpointWalBytes: 64 * 1024 });
    const store = seams(s);
    const held: ((err: Error | null, complete?: boolean) => void)[] = [];
    store.checkpointCopy = (done) => held.push(done);
    const value = 'v'.repeat(4000);
    for (let i = 0; i < 20 && held.length === 0; i++) await s.txn([{ type: 'create', key: `/p/${i}`, value }]);
    expect(held).toHaveLength(1);
    // The copy is held: writes are still answered, and no second checkpoint starts.
    for (let i = 0; i < 20; i++) await s.txn([{ type: 'create', key: `/p/during-${i}`, value }]);
    expect(held).toHaveLength(1);
    held[0]!(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    await expect(s.txn([{ type: 'create', key: '/p/after', value: 'x' }])).rejects.toThrow(/failed to make a commit durable \(EIO/);
    await s.close();
  });

  it('a failed sync of the database file after a checkpoint stops the store', async () => {
    const s = openSqliteStorage({ path: join(dir, 'checkpoint-fail.db'), checkpointWalBytes: 64 * 1024 });
    const store = seams(s);
    let finished = false;
    store.checkpointFinish = (done) => setImmediate(() => {
      finished = true;
      done(new Error('EIO: i/o error, fdatasync'));
    });
    const value = 'v'.repeat(4000);
    let failure: unknown;
    for (let i = 0; i < 40 && !failure; i++) {
      await s.txn([{ type: 'create', key: `/f/${i}`, value }]).catch((err: unknown) => (failure = err));
    }
    // The checkpoint's copy runs on its thread first (slower on a loaded machine).
    for (const deadline = Date.now() + 10_000; !finished && Date.now() < deadline; ) await tick();
    await tick();
    await expect(s.txn([{ type: 'create', key: '/f/after', value: 'x' }])).rejects.toThrow(/failed to make a commit durable \(EIO/);
    await s.close();
  });

  it('syncs every batch, keeps the WAL bounded by checkpoints, and everything is there after reopen', async () => {
    const path = join(dir, 'checkpoint.db');
    const s = openSqliteStorage({ path, checkpointWalBytes: 256 * 1024 });
    const store = seams(s);
    const real = store.walSync;
    let syncs = 0;
    store.walSync = (done) => {
      syncs++;
      real(done);
    };
    const finish = store.checkpointFinish;
    let checkpoints = 0;
    store.checkpointFinish = (done) => finish((err, complete) => {
      if (complete) checkpoints++;
      done(err, complete);
    });
    const value = 'v'.repeat(2000);
    const sizes: number[] = [];
    const { statSync, openSync, readSync, closeSync } = await import('node:fs');
    // The WAL header's salt-1 changes each time the WAL starts over (SQLite's WAL format).
    const salts = new Set<number>();
    const header = Buffer.alloc(32);
    for (let i = 0; i < 400; i++) {
      await Promise.all(Array.from({ length: 10 }, (_, j) => s.txn([{ type: 'create', key: `/c/${i}-${j}`, value }])));
      sizes.push(statSync(`${path}-wal`).size);
      const fd = openSync(`${path}-wal`, 'r');
      readSync(fd, header, 0, 32, 0);
      closeSync(fd);
      salts.add(header.readUInt32BE(16));
    }
    expect(syncs).toBeGreaterThanOrEqual(400);
    // 8 MB of values written (with their index pages, about twice that in WAL frames). Batches go
    // on committing while a checkpoint copies, so the WAL passes the threshold by what they add
    // meanwhile (how much depends on the machine's speed); but after each checkpoint it starts
    // over from its beginning, and the file stays a fraction of what went through it.
    expect(checkpoints).toBeGreaterThanOrEqual(3);
    expect(salts.size).toBeGreaterThanOrEqual(3);
    expect(Math.max(...sizes)).toBeLessThan(6 * 1024 * 1024);
    expect(await s.count('/c/')).toBe(4000);
    await s.close();
    const again = openSqliteStorage({ path });
    expect(await again.count('/c/')).toBe(4000);
    expect(await again.currentRevision()).toBe(4000);
    await again.close();
  });
});
