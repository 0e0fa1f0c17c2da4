/**
 * The storage contract (src/storage/types.ts) as tests, run against every backend:
 *
 *   describeStorageConformance('etcd', async () => ({ storage, cleanup }));
 *
 * `open` runs before each test and `cleanup` after it. A backend may hand every test the same
 * underlying store: each test writes only under its own key prefix, and checks revisions
 * relative to what it read, never absolute numbers. Tests in one file run one at a time, and
 * the compaction tests come last, since compaction is store-wide.
 *
 * What the contract leaves to the backend, and so the tests accept either way: whether the
 * writes of one transaction share a revision (etcd) or take one each (embedded); whether a
 * watch from a compacted revision throws from watch() or reports through onError; whether
 * `remaining` is given; and when onProgress is called (only never ahead of the events).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CompactedError,
  KeyExistsError,
  KeyNotFoundError,
  RevisionMismatchError,
  StorageUnavailableError,
  type KeyValue,
  type Storage,
  type Watch,
  type WatchEvent,
  type WatchHandlers,
} from '../src/storage/types.ts';

export interface OpenedStorage {
  storage: Storage;
  cleanup(): Promise<void>;
}

/** Wait for `condition`, polling; fail with `what` after `timeoutMs`. */
async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The error `promise` rejects with, checked to be a `type`. */
async function rejection<T extends Error>(promise: Promise<unknown>, type: abstract new (...args: never[]) => T): Promise<T> {
  let result: unknown;
  try {
    result = await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(type);
    if (err instanceof type) return err;
  }
  throw new Error(`expected a ${type.name}, but the call succeeded with ${JSON.stringify(result)?.slice(0, 200)}`);
}

/** Records what a watch delivers, and checks onProgress never runs ahead of onEvent. */
class Recorder {
  readonly events: WatchEvent[] = [];
  readonly errors: Error[] = [];
  /** Each onProgress call, with how many events had been delivered at that moment. */
  readonly progress: { revision: number; delivered: number }[] = [];
  readonly handlers: WatchHandlers = {
    onEvent: (event) => {
      this.events.push(event);
    },
    onProgress: (revision) => {
      this.progress.push({ revision, delivered: this.events.length });
    },
    onError: (error) => {
      this.errors.push(error);
    },
  };

  async waitForEvents(count: number, timeoutMs?: number): Promise<void> {
    await until(() => this.events.length >= count || this.errors.length > 0, `${count} watch events (have ${this.events.length})`, timeoutMs);
    expect(this.errors).toEqual([]);
  }

  /** Sort-of-serialised events, for comparisons with readable diffs. */
  summary(): string[] {
    return this.events.map((e) => `${e.type} ${e.kv.key}@${e.kv.modRevision}=${e.kv.value}`);
  }

  /**
   * onProgress(r) promises that every event up to r was delivered already: with `expected`,
   * the revisions of all events this watch should see, none at or below r may come later.
   */
  checkProgress(expected: number[]): void {
    for (const { revision, delivered } of this.progress) {
      const due = expected.filter((r) => r <= revision).length;
      expect(delivered, `onProgress(${revision}) came after only ${delivered} of the ${due} events at or below it`).toBeGreaterThanOrEqual(due);
    }
  }
}

function kvOf(kv: KeyValue): KeyValue {
  return { key: kv.key, value: kv.value, createRevision: kv.createRevision, modRevision: kv.modRevision };
}

export function describeStorageConformance(name: string, open: () => Promise<OpenedStorage>): void {
  describe(`storage contract: ${name}`, () => {
    let opened: OpenedStorage | undefined;
    let storage: Storage;
    /** This test's own key prefix, e.g. /conformance/7-k3j2/ */
    let p: string;
    let counter = 0;
    const watches: Watch[] = [];

    beforeEach(async () => {
      opened = await open();
      storage = opened.storage;
      p = `/conformance/${++counter}-${Math.random().toString(36).slice(2, 8)}/`;
    });

    afterEach(async () => {
      for (const w of watches.splice(0)) w.close();
      await opened?.cleanup();
      opened = undefined;
    });

    const create = async (key: string, value: string) => (await storage.txn([{ type: 'create', key, value }]))[0]!;
    const update = async (key: string, value: string, expectedModRevision: number) =>
      (await storage.txn([{ type: 'update', key, value, expectedModRevision }]))[0]!;
    const remove = async (key: string, expectedModRevision?: number) =>
      (await storage.txn([{ type: 'delete', key, expectedModRevision }]))[0]!;
    const watch = async (prefix: string, from: number, recorder: Recorder) => {
      const w = await storage.watch(prefix, from, recorder.handlers);
      watches.push(w);
      return w;
    };

    describe('keys and transactions', () => {
      it('create then get: the value with createRevision = modRevision, after the revision before', async () => {
        const before = await storage.currentRevision();
        const kv = await create(`${p}a`, 'one');
        expect(kv).toEqual({ key: `${p}a`, value: 'one', createRevision: kv.modRevision, modRevision: kv.modRevision });
        expect(kv.modRevision).toBeGreaterThan(before);
        expect(await storage.currentRevision()).toBeGreaterThanOrEqual(kv.modRevision);
        expect(await storage.get(`${p}a`)).toEqual(kv);
      });

      it('get of a missing key is undefined', async () => {
        expect(await storage.get(`${p}missing`)).toBeUndefined();
      });

      it('create of an existing key fails with KeyExistsError and changes nothing', async () => {
        const kv = await create(`${p}a`, 'one');
        const err = await rejection(create(`${p}a`, 'two'), KeyExistsError);
        expect(err.key).toBe(`${p}a`);
        expect(err.opIndex).toBe(0);
        expect(await storage.get(`${p}a`)).toEqual(kv);
      });

      it('update with the current modRevision succeeds and moves the revision on', async () => {
        const first = await create(`${p}a`, 'one');
        const second = await update(`${p}a`, 'two', first.modRevision);
        expect(second).toEqual({ key: `${p}a`, value: 'two', createRevision: first.createRevision, modRevision: second.modRevision });
        expect(second.modRevision).toBeGreaterThan(first.modRevision);
        expect(await storage.get(`${p}a`)).toEqual(second);
        expect(await storage.currentRevision()).toBeGreaterThanOrEqual(second.modRevision);
      });

      it('update with a stale modRevision fails with RevisionMismatchError carrying the actual revision', async () => {
        const first = await create(`${p}a`, 'one');
        const second = await update(`${p}a`, 'two', first.modRevision);
        const err = await rejection(update(`${p}a`, 'three', first.modRevision), RevisionMismatchError);
        expect(err.key).toBe(`${p}a`);
        expect(err.opIndex).toBe(0);
        expect(err.actualModRevision).toBe(second.modRevision);
        expect(await storage.get(`${p}a`)).toEqual(second);
      });

      it('update and delete of a missing key fail with KeyNotFoundError', async () => {
        const before = await storage.currentRevision();
        const updateErr = await rejection(update(`${p}missing`, 'x', before), KeyNotFoundError);
        expect(updateErr.key).toBe(`${p}missing`);
        expect(updateErr.opIndex).toBe(0);
        await rejection(remove(`${p}missing`), KeyNotFoundError);
        await rejection(remove(`${p}missing`, before), KeyNotFoundError);
        // A deleted key is missing too.
        const kv = await create(`${p}gone`, 'x');
        await remove(`${p}gone`);
        await rejection(update(`${p}gone`, 'y', kv.modRevision), KeyNotFoundError);
        await rejection(remove(`${p}gone`), KeyNotFoundError);
      });

      it('delete without a precondition returns the deleted value at the deletion revision', async () => {
        const first = await create(`${p}a`, 'one');
        const second = await update(`${p}a`, 'two', first.modRevision);
        const deleted = await remove(`${p}a`);
        expect(deleted).toEqual({ key: `${p}a`, value: 'two', createRevision: first.createRevision, modRevision: deleted.modRevision });
        expect(deleted.modRevision).toBeGreaterThan(second.modRevision);
        expect(await storage.get(`${p}a`)).toBeUndefined();
        // Created again, it starts a new life.
        const again = await create(`${p}a`, 'three');
        expect(again.createRevision).toBe(again.modRevision);
        expect(again.createRevision).toBeGreaterThan(deleted.modRevision);
      });

      it('delete with a precondition: a stale revision fails, the current one deletes', async () => {
        const first = await create(`${p}a`, 'one');
        const second = await update(`${p}a`, 'two', first.modRevision);
        const err = await rejection(remove(`${p}a`, first.modRevision), RevisionMismatchError);
        expect(err.actualModRevision).toBe(second.modRevision);
        expect(await storage.get(`${p}a`)).toEqual(second);
        const deleted = await remove(`${p}a`, second.modRevision);
        expect(deleted.value).toBe('two');
        expect(deleted.modRevision).toBeGreaterThan(second.modRevision);
        expect(await storage.get(`${p}a`)).toBeUndefined();
      });

      it('a transaction applies every op and returns results in op order', async () => {
        const b = await create(`${p}b`, 'b1');
        const c = await create(`${p}c`, 'c1');
        const before = await storage.currentRevision();
        const results = await storage.txn([
          { type: 'create', key: `${p}a`, value: 'a1' },
          { type: 'update', key: `${p}b`, value: 'b2', expectedModRevision: b.modRevision },
          { type: 'delete', key: `${p}c`, expectedModRevision: c.modRevision },
        ]);
        expect(results.map((r) => [r.key, r.value])).toEqual([
          [`${p}a`, 'a1'],
          [`${p}b`, 'b2'],
          [`${p}c`, 'c1'],
        ]);
        const after = await storage.currentRevision();
        for (const r of results) {
          expect(r.modRevision).toBeGreaterThan(before);
          expect(r.modRevision).toBeLessThanOrEqual(after);
        }
        expect(results[0]!.createRevision).toBe(results[0]!.modRevision);
        expect(results[1]!.createRevision).toBe(b.createRevision);
        expect(results[2]!.createRevision).toBe(c.createRevision);
        expect(await storage.get(`${p}a`)).toEqual(results[0]);
        expect(await storage.get(`${p}b`)).toEqual(results[1]);
        expect(await storage.get(`${p}c`)).toBeUndefined();
      });

      it("a transaction's ops take revisions as txnRevisions says: one shared, or one each in op order", async () => {
        const b = await create(`${p}b`, 'b1');
        const results = await storage.txn([
          { type: 'create', key: `${p}a`, value: 'a1' },
          { type: 'update', key: `${p}b`, value: 'b2', expectedModRevision: b.modRevision },
          { type: 'create', key: `${p}c`, value: 'c1' },
        ]);
        const revs = results.map((r) => r.modRevision);
        if (storage.txnRevisions === 'shared') expect(revs).toEqual([revs[0], revs[0], revs[0]]);
        else expect(revs).toEqual([revs[0], revs[0]! + 1, revs[0]! + 2]);
        expect(await storage.currentRevision()).toBe(revs[2]);
      });

      it('a failing transaction writes nothing (atomicity)', async () => {
        const b1 = await create(`${p}b`, 'b1');
        const b2 = await update(`${p}b`, 'b2', b1.modRevision);
        const c = await create(`${p}c`, 'c1');
        const before = await storage.currentRevision();

        // [create A, update B with a stale revision]: A must not appear.
        const mismatch = await rejection(
          storage.txn([
            { type: 'create', key: `${p}a`, value: 'a1' },
            { type: 'update', key: `${p}b`, value: 'b3', expectedModRevision: b1.modRevision },
          ]),
          RevisionMismatchError,
        );
        expect(mismatch.opIndex).toBe(1);
        expect(mismatch.key).toBe(`${p}b`);
        expect(mismatch.actualModRevision).toBe(b2.modRevision);

        // [update B correctly, create existing C]: B must not change.
        const exists = await rejection(
          storage.txn([
            { type: 'update', key: `${p}b`, value: 'b3', expectedModRevision: b2.modRevision },
            { type: 'create', key: `${p}c`, value: 'c2' },
          ]),
          KeyExistsError,
        );
        expect(exists.opIndex).toBe(1);

        // [delete C, delete a missing key]: C must stay.
        const notFound = await rejection(
          storage.txn([
            { type: 'delete', key: `${p}c` },
            { type: 'delete', key: `${p}missing` },
          ]),
          KeyNotFoundError,
        );
        expect(notFound.opIndex).toBe(1);
        expect(notFound.key).toBe(`${p}missing`);

        expect(await storage.get(`${p}a`)).toBeUndefined();
        expect(await storage.get(`${p}b`)).toEqual(b2);
        expect(await storage.get(`${p}c`)).toEqual(c);
        expect(await storage.currentRevision()).toBe(before);
        expect((await storage.list(p)).items).toEqual([b2, c]);
      });

      it('a failing transaction names the first op that fails', async () => {
        const a = await create(`${p}a`, 'a1');
        const b = await create(`${p}b`, 'b1');
        await update(`${p}b`, 'b2', b.modRevision);
        const first = await rejection(
          storage.txn([
            { type: 'create', key: `${p}a`, value: 'x' },
            { type: 'update', key: `${p}b`, value: 'x', expectedModRevision: b.modRevision },
          ]),
          KeyExistsError,
        );
        expect(first.opIndex).toBe(0);
        const second = await rejection(
          storage.txn([
            { type: 'update', key: `${p}a`, value: 'x', expectedModRevision: a.modRevision },
            { type: 'update', key: `${p}missing`, value: 'x', expectedModRevision: a.modRevision },
            { type: 'update', key: `${p}b`, value: 'x', expectedModRevision: b.modRevision },
          ]),
          KeyNotFoundError,
        );
        expect(second.opIndex).toBe(1);
        expect(await storage.get(`${p}a`)).toEqual(a);
      });

      it('concurrent transactions: one that fails its compare-and-swap fails alone, the others commit', async () => {
        const keys = ['a', 'b', 'c', 'd', 'e'].map((k) => `${p}${k}`);
        const first = await storage.txn(keys.map((key) => ({ type: 'create' as const, key, value: 'v1' })));
        const b2 = await update(keys[1]!, 'v2', first[1]!.modRevision);
        const before = await storage.currentRevision();
        // Issued together, without waiting for each other: b's revision is stale, d's key
        // exists already, and the txn on e fails at its second op (a missing key).
        const settled = await Promise.allSettled([
          update(keys[0]!, 'a-new', first[0]!.modRevision),
          update(keys[1]!, 'b-new', first[1]!.modRevision),
          update(keys[2]!, 'c-new', first[2]!.modRevision),
          create(keys[3]!, 'd-new'),
          storage.txn([
            { type: 'update', key: keys[4]!, value: 'e-new', expectedModRevision: first[4]!.modRevision },
            { type: 'delete', key: `${p}missing` },
          ]),
          create(`${p}f`, 'f-new'),
        ]);
        expect(settled.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected', 'rejected', 'fulfilled']);
        const reason = (i: number) => (settled[i] as PromiseRejectedResult).reason as unknown;
        expect(reason(1)).toBeInstanceOf(RevisionMismatchError);
        expect((reason(1) as RevisionMismatchError).actualModRevision).toBe(b2.modRevision);
        expect(reason(3)).toBeInstanceOf(KeyExistsError);
        expect(reason(4)).toBeInstanceOf(KeyNotFoundError);
        expect((reason(4) as KeyNotFoundError).opIndex).toBe(1);
        const written = [0, 2, 5].map((i) => (settled[i] as PromiseFulfilledResult<KeyValue>).value);
        const after = await storage.currentRevision();
        expect(new Set(written.map((kv) => kv.modRevision)).size).toBe(3);
        for (const kv of written) {
          expect(kv.modRevision).toBeGreaterThan(before);
          expect(kv.modRevision).toBeLessThanOrEqual(after);
          expect(await storage.get(kv.key)).toEqual(kv);
        }
        expect(await storage.get(keys[1]!)).toEqual(b2);
        expect(await storage.get(keys[3]!)).toEqual(first[3]);
        expect(await storage.get(keys[4]!)).toEqual(first[4]);
      });

      it('concurrent compare-and-swaps against one revision: exactly one wins, the others see its write', async () => {
        const kv = await create(`${p}a`, 'v0');
        const settled = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => update(`${p}a`, `v${i + 1}`, kv.modRevision)));
        const won = settled.filter((r): r is PromiseFulfilledResult<KeyValue> => r.status === 'fulfilled').map((r) => r.value);
        expect(won).toHaveLength(1);
        for (const r of settled) {
          if (r.status === 'fulfilled') continue;
          expect(r.reason).toBeInstanceOf(RevisionMismatchError);
          expect((r.reason as RevisionMismatchError).actualModRevision).toBe(won[0]!.modRevision);
        }
        expect(await storage.get(`${p}a`)).toEqual(won[0]);
        // A delete and a create of the same key issued together: whichever order the store
        // applied them in, the results agree with each other and with what is stored.
        const [deleted, created] = await Promise.allSettled([remove(`${p}a`, won[0]!.modRevision), create(`${p}a`, 'again')]);
        expect(deleted.status).toBe('fulfilled');
        const now = await storage.get(`${p}a`);
        if (created.status === 'fulfilled') {
          expect(created.value.modRevision).toBeGreaterThan((deleted as PromiseFulfilledResult<KeyValue>).value.modRevision);
          expect(now).toEqual(created.value);
        } else {
          expect(created.reason).toBeInstanceOf(KeyExistsError);
          expect(now).toBeUndefined();
        }
      });

      it('values round-trip unicode exactly', async () => {
        const values = [
          'plain',
          '',
          'héllo wörld — naïve café',
          '日本語のテキスト, 中文, 한국어',
          'emoji 🎉🚀 and a family 👩‍👩‍👧 and flags 🇫🇷',
          'עברית and العربية (right to left)',
          'combining: e\u0301 a\u0308; line\nbreaks\r\n\ttabs "quotes" \\ backslash',
          JSON.stringify({ spec: { name: 'ünïcødé', n: 1 } }),
        ];
        const written = await storage.txn(values.map((value, i) => ({ type: 'create' as const, key: `${p}${i}`, value })));
        expect(written.map((kv) => kv.value)).toEqual(values);
        for (const [i, value] of values.entries()) expect((await storage.get(`${p}${i}`))?.value).toBe(value);
        expect((await storage.list(p)).items.map((kv) => kv.value).sort()).toEqual([...values].sort());
      });

      it('values of 1 MiB round-trip exactly (get, list, watch)', async () => {
        const mib = 1024 * 1024;
        const ascii = Array.from({ length: mib }, (_, i) => String.fromCharCode(33 + (i % 94))).join('');
        // 1 Mi UTF-16 code units of 1-, 2-, 3- and 4-byte UTF-8 characters (about 2 MiB in UTF-8).
        const mixed = 'aé日🎉'.repeat(mib / 5 + 1).slice(0, mib - 1) + 'z';
        expect(ascii.length).toBe(mib);
        expect(mixed.length).toBe(mib);
        const from = await storage.currentRevision();
        const recorder = new Recorder();
        await watch(p, from, recorder);
        await create(`${p}ascii`, ascii);
        await create(`${p}mixed`, mixed);
        expect((await storage.get(`${p}ascii`))?.value).toBe(ascii);
        expect((await storage.get(`${p}mixed`))?.value).toBe(mixed);
        const listed = await storage.list(p);
        expect(listed.items.map((kv) => kv.value === ascii || kv.value === mixed)).toEqual([true, true]);
        await recorder.waitForEvents(2);
        expect(recorder.events[0]!.kv.value === ascii).toBe(true);
        expect(recorder.events[1]!.kv.value === mixed).toBe(true);
      });
    });

    describe('list and count', () => {
      it('returns only keys under the prefix', async () => {
        for (const key of ['a/1', 'a/2', 'a', 'ab/x', 'a0', 'a.', 'b/1', 'a/sub/deep']) await create(`${p}${key}`, key);
        const listed = await storage.list(`${p}a/`);
        expect(listed.items.map((kv) => kv.key)).toEqual([`${p}a/1`, `${p}a/2`, `${p}a/sub/deep`]);
        expect(listed.more).toBe(false);
        expect(await storage.count(`${p}a/`)).toBe(3);
        expect(await storage.count(`${p}`)).toBe(8);
        expect((await storage.list(`${p}nothing/`)).items).toEqual([]);
      });

      it('returns keys sorted by key, with their values and revisions', async () => {
        const keys = ['m', 'b', 'z', 'a', 'c/1', 'c', 'B', '0', 'aa'];
        const written = new Map<string, KeyValue>();
        for (const key of keys) written.set(`${p}${key}`, await create(`${p}${key}`, `v-${key}`));
        const listed = await storage.list(p);
        const sorted = [...written.keys()].sort();
        expect(listed.items.map((kv) => kv.key)).toEqual(sorted);
        expect(listed.items).toEqual(sorted.map((key) => written.get(key)));
        expect(listed.revision).toBeGreaterThanOrEqual(Math.max(...listed.items.map((kv) => kv.modRevision)));
      });

      it('paginates with limit and after: more, remaining, and one revision for every page', async () => {
        const keys = ['k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7'].map((k) => `${p}${k}`);
        for (const key of keys) await create(key, key);
        const first = await storage.list(p, { limit: 3 });
        expect(first.items.map((kv) => kv.key)).toEqual(keys.slice(0, 3));
        expect(first.more).toBe(true);
        if (first.remaining !== undefined) expect(first.remaining).toBe(4);
        // A write between pages must not show up on later pages read at the first page's revision.
        await create(`${p}k35`, 'late');
        await remove(keys[5]!);
        const second = await storage.list(p, { limit: 3, after: first.items[2]!.key, revision: first.revision });
        expect(second.revision).toBe(first.revision);
        expect(second.items.map((kv) => kv.key)).toEqual(keys.slice(3, 6));
        expect(second.more).toBe(true);
        if (second.remaining !== undefined) expect(second.remaining).toBe(1);
        const third = await storage.list(p, { limit: 3, after: second.items[2]!.key, revision: first.revision });
        expect(third.items.map((kv) => kv.key)).toEqual(keys.slice(6));
        expect(third.more).toBe(false);
        if (third.remaining !== undefined) expect(third.remaining).toBe(0);

        // A limit that is not reached, and `after` between keys or before the prefix.
        const all = await storage.list(p, { limit: 100 });
        expect(all.more).toBe(false);
        expect(all.items.map((kv) => kv.key)).toEqual([...keys.slice(0, 3), `${p}k35`, keys[3], keys[4], keys[6]]);
        expect((await storage.list(p, { after: `${p}k3` })).items.map((kv) => kv.key)).toEqual([`${p}k35`, keys[3], keys[4], keys[6]]);
        expect((await storage.list(p, { after: `${p}k4` })).items.map((kv) => kv.key)).toEqual([keys[4], keys[6]]);
        expect((await storage.list(p, { after: '/' })).items).toHaveLength(7);
        expect((await storage.list(p, { after: `${p}k7` })).items).toEqual([]);
      });

      it('reverse lists largest keys first, between after and before, with more and remaining', async () => {
        const keys = ['k1', 'k2', 'k3', 'k4', 'k5', 'k6'].map((k) => `${p}${k}`);
        for (const key of keys) await create(key, key);
        await create(`${p.slice(0, -1)}0`, 'outside, after the prefix');
        const all = await storage.list(p, { reverse: true });
        expect(all.items.map((kv) => kv.key)).toEqual([...keys].reverse());
        const first = await storage.list(p, { reverse: true, limit: 4 });
        expect(first.items.map((kv) => kv.key)).toEqual([keys[5], keys[4], keys[3], keys[2]]);
        expect(first.more).toBe(true);
        if (first.remaining !== undefined) expect(first.remaining).toBe(2);
        const next = await storage.list(p, { reverse: true, limit: 4, before: first.items[3]!.key, revision: first.revision });
        expect(next.items.map((kv) => kv.key)).toEqual([keys[1], keys[0]]);
        expect(next.more).toBe(false);
        // Both bounds, either order; an empty range is empty.
        expect((await storage.list(p, { after: keys[1], before: keys[4] })).items.map((kv) => kv.key)).toEqual([keys[2], keys[3]]);
        expect((await storage.list(p, { after: keys[1], before: keys[4], reverse: true })).items.map((kv) => kv.key)).toEqual([keys[3], keys[2]]);
        expect((await storage.list(p, { after: keys[3], before: keys[3] })).items).toEqual([]);
        expect((await storage.list(p, { before: p })).items).toEqual([]);
      });

      it('a list at an older revision returns the snapshot at that revision', async () => {
        const a = await create(`${p}a`, 'a1');
        const b = await create(`${p}b`, 'b1');
        const c = await create(`${p}c`, 'c1');
        const then = await storage.currentRevision();
        const a2 = await update(`${p}a`, 'a2', a.modRevision);
        await remove(`${p}b`);
        const d = await create(`${p}d`, 'd1');
        await remove(`${p}c`, c.modRevision);
        const c2 = await create(`${p}c`, 'c2');

        const old = await storage.list(p, { revision: then });
        expect(old.revision).toBe(then);
        expect(old.items).toEqual([a, b, c]);
        const page = await storage.list(p, { revision: then, limit: 2 });
        expect(page.items).toEqual([a, b]);
        expect(page.more).toBe(true);
        const rest = await storage.list(p, { revision: then, limit: 2, after: `${p}b` });
        expect(rest.items).toEqual([c]);
        expect(rest.more).toBe(false);

        const now = await storage.list(p);
        expect(now.items).toEqual([a2, c2, d]);
        expect(now.revision).toBeGreaterThanOrEqual(c2.modRevision);
        // Between the two: after the update of a, before the deletion of b.
        const mid = await storage.list(p, { revision: a2.modRevision });
        expect(mid.items).toEqual([a2, b, c]);
      });

      it('maxModRevision lists only keys last written at or before it, the limit counting those', async () => {
        const a = await create(`${p}a`, 'a1');
        const b = await create(`${p}b`, 'b1');
        await create(`${p}c`, 'c1');
        const d = await create(`${p}d`, 'd1');
        const cut = d.modRevision;
        const b2 = await update(`${p}b`, 'b2', b.modRevision); // written again after the cut
        await remove(`${p}c`); // gone
        const e = await create(`${p}e`, 'e1'); // new after the cut
        const all = await storage.list(p, { maxModRevision: cut });
        expect(all.items).toEqual([a, d]);
        expect(all.more).toBe(false);
        expect(all.revision).toBeGreaterThanOrEqual(e.modRevision);
        const first = await storage.list(p, { maxModRevision: cut, limit: 1 });
        expect([first.items, first.more]).toEqual([[a], true]);
        const rest = await storage.list(p, { maxModRevision: cut, limit: 1, after: a.key });
        expect([rest.items, rest.more]).toEqual([[d], false]);
        expect((await storage.list(p, { maxModRevision: cut, reverse: true })).items).toEqual([d, a]);
        expect((await storage.list(p, { maxModRevision: b2.modRevision })).items).toEqual([a, b2, d]);
        expect((await storage.list(p, { maxModRevision: a.modRevision - 1 })).items).toEqual([]);
        await expect(storage.list(p, { maxModRevision: cut, revision: cut })).rejects.toThrow(/current revision only/);
      });

      it('count follows creates and deletes', async () => {
        expect(await storage.count(p)).toBe(0);
        await create(`${p}x/1`, '1');
        await create(`${p}x/2`, '2');
        await create(`${p}y/1`, '3');
        expect(await storage.count(p)).toBe(3);
        expect(await storage.count(`${p}x/`)).toBe(2);
        await remove(`${p}x/1`);
        expect(await storage.count(`${p}x/`)).toBe(1);
        expect(await storage.count(p)).toBe(2);
      });
    });

    describe('watch', () => {
      it('delivers exactly the events after fromRevision, in order, with prevKv', async () => {
        await create(`${p}before`, 'not seen');
        const from = await storage.currentRevision();
        const c1 = await create(`${p}x`, 'v1');
        const u1 = await update(`${p}x`, 'v2', c1.modRevision);
        const d1 = await remove(`${p}x`);
        const c2 = await create(`${p}y`, 'w1');

        const recorder = new Recorder();
        await watch(p, from, recorder);
        await recorder.waitForEvents(4);
        await new Promise((resolve) => setTimeout(resolve, 50));
        // A delete's kv is the last value, at the deletion's revision: what txn returned for it.
        expect(d1).toEqual({ key: `${p}x`, value: 'v2', createRevision: c1.createRevision, modRevision: d1.modRevision });
        expect(recorder.events).toEqual([
          { type: 'put', kv: c1 },
          { type: 'put', kv: u1, prevKv: c1 },
          { type: 'delete', kv: d1, prevKv: u1 },
          { type: 'put', kv: c2 },
        ]);
        expect(recorder.events[0]!.prevKv).toBeUndefined();
        expect(recorder.events[3]!.prevKv).toBeUndefined();

        // From the middle: only what came after.
        const middle = new Recorder();
        await watch(p, u1.modRevision, middle);
        await middle.waitForEvents(2);
        await new Promise((resolve) => setTimeout(resolve, 50));
        expect(middle.summary()).toEqual(recorder.summary().slice(2));
        recorder.checkProgress([c1, u1, d1, c2].map((kv) => kv.modRevision));
      });

      it('from the current revision, delivers only later writes', async () => {
        await create(`${p}old`, 'old');
        const recorder = new Recorder();
        await watch(p, await storage.currentRevision(), recorder);
        const kv = await create(`${p}new`, 'new');
        await recorder.waitForEvents(1);
        await new Promise((resolve) => setTimeout(resolve, 50));
        expect(recorder.events).toEqual([{ type: 'put', kv }]);
      });

      it('follows live writes after catching up, with no gaps or duplicates, when writes race the start', async () => {
        const from = await storage.currentRevision();
        const expected: KeyValue[] = [];
        let writes = 0;
        // Two writers, so the watch also sees revisions interleave; writes under another prefix
        // move the revision without events for this watch.
        const writer = async (name: string, count: number) => {
          const revisions = new Map<string, number>();
          for (let i = 0; i < count; i++) {
            const key = `${p}watched/${name}-${i % 7}`;
            const prev = revisions.get(key);
            const kv = prev === undefined ? await create(key, `${name}${i}`) : await update(key, `${name}${i}`, prev);
            revisions.set(key, kv.modRevision);
            expected.push(kv);
            if (i % 5 === 0) await create(`${p}other/${name}-${i}`, 'elsewhere');
            writes++;
          }
        };
        const writing = Promise.all([writer('a', 120), writer('b', 120)]);
        await until(() => writes >= 40, 'the first writes');
        const recorder = new Recorder();
        await watch(`${p}watched/`, from, recorder);
        await writing;
        await recorder.waitForEvents(expected.length, 20_000);
        await new Promise((resolve) => setTimeout(resolve, 50));

        const revisions = recorder.events.map((e) => e.kv.modRevision);
        for (let i = 1; i < revisions.length; i++) expect(revisions[i]!).toBeGreaterThan(revisions[i - 1]!);
        const want = [...expected].sort((x, y) => x.modRevision - y.modRevision);
        expect(recorder.events.map((e) => kvOf(e.kv))).toEqual(want);
        expect(recorder.events.every((e) => e.type === 'put')).toBe(true);
        recorder.checkProgress(want.map((kv) => kv.modRevision));
      });

      it('after many concurrent writes, delivers every event once, in revision order, with prevKv', async () => {
        const keys = Array.from({ length: 20 }, (_, i) => `${p}k${i}`);
        const created = await storage.txn(keys.map((key) => ({ type: 'create' as const, key, value: 'v0' })));
        const recorder = new Recorder();
        await watch(p, await storage.currentRevision(), recorder);
        // Each key: an update chain run concurrently with every other key's, plus deletes and
        // creates issued in the same turn as the updates.
        const chains = keys.slice(0, 16).map(async (key, i) => {
          const out: WatchEvent[] = [];
          let prev = created[i]!;
          for (let n = 1; n <= 5; n++) {
            const kv = await update(key, `v${n}`, prev.modRevision);
            out.push({ type: 'put', kv, prevKv: prev });
            prev = kv;
          }
          return out;
        });
        const deletes = keys.slice(16).map(async (key, j) => {
          const kv = await remove(key, created[16 + j]!.modRevision);
          return [{ type: 'delete', kv, prevKv: created[16 + j]! } as WatchEvent];
        });
        const creates = Array.from({ length: 10 }, async (_, i) => [{ type: 'put', kv: await create(`${p}new${i}`, 'n') } as WatchEvent]);
        const expected = (await Promise.all([...chains, ...deletes, ...creates])).flat().sort((x, y) => x.kv.modRevision - y.kv.modRevision);
        expect(expected).toHaveLength(16 * 5 + 4 + 10);
        await recorder.waitForEvents(expected.length);
        await new Promise((resolve) => setTimeout(resolve, 50));
        expect(recorder.events).toEqual(expected);
        recorder.checkProgress(expected.map((e) => e.kv.modRevision));
      });

      it('sees only keys under its prefix', async () => {
        const recorder = new Recorder();
        await watch(`${p}a/`, await storage.currentRevision(), recorder);
        await create(`${p}ab/x`, 'no');
        await create(`${p}a`, 'no');
        await create(`${p}a0`, 'no');
        await create(`${p}b/1`, 'no');
        const yes = await create(`${p}a/1`, 'yes');
        const deep = await create(`${p}a/deep/er`, 'yes');
        await recorder.waitForEvents(2);
        await new Promise((resolve) => setTimeout(resolve, 50));
        expect(recorder.events.map((e) => e.kv)).toEqual([yes, deep]);
      });

      it('runs concurrent watches independently', async () => {
        const from = await storage.currentRevision();
        const all = new Recorder();
        const sub = new Recorder();
        await Promise.all([watch(p, from, all), watch(`${p}s/`, from, sub)]);
        const written: KeyValue[] = [];
        for (let i = 0; i < 10; i++) written.push(await create(`${p}${i % 2 ? 's/' : 't/'}${i}`, String(i)));
        await all.waitForEvents(10);
        await sub.waitForEvents(5);
        await new Promise((resolve) => setTimeout(resolve, 50));
        expect(all.events.map((e) => e.kv)).toEqual(written);
        expect(sub.events.map((e) => e.kv)).toEqual(written.filter((kv) => kv.key.startsWith(`${p}s/`)));
      });

      it("delivers a transaction's writes in op order", async () => {
        const existing = await create(`${p}c`, 'c0');
        const recorder = new Recorder();
        await watch(p, await storage.currentRevision(), recorder);
        const results = await storage.txn([
          { type: 'create', key: `${p}b`, value: 'b1' },
          { type: 'delete', key: `${p}c`, expectedModRevision: existing.modRevision },
          { type: 'create', key: `${p}a`, value: 'a1' },
        ]);
        await recorder.waitForEvents(3);
        expect(recorder.events.map((e) => [e.type, e.kv.key])).toEqual([
          ['put', `${p}b`],
          ['delete', `${p}c`],
          ['put', `${p}a`],
        ]);
        expect(recorder.events.map((e) => e.kv)).toEqual(results);
        expect(recorder.events[1]!.prevKv).toEqual(existing);
      });

      it('close() stops the events', async () => {
        const from = await storage.currentRevision();
        const closing = new Recorder();
        const staying = new Recorder();
        const w = await watch(p, from, closing);
        await watch(p, from, staying);
        const first = await create(`${p}1`, 'one');
        await closing.waitForEvents(1);
        w.close();
        const second = await create(`${p}2`, 'two');
        await staying.waitForEvents(2);
        await new Promise((resolve) => setTimeout(resolve, 100));
        expect(closing.events.map((e) => e.kv)).toEqual([first]);
        expect(closing.errors).toEqual([]);
        expect(staying.events.map((e) => e.kv)).toEqual([first, second]);
        w.close(); // twice is harmless
      });

      it('closing the store ends its watches through onError', async () => {
        const recorder = new Recorder();
        await watch(p, await storage.currentRevision(), recorder);
        await storage.close();
        await until(() => recorder.errors.length > 0, 'onError after close');
        expect(recorder.errors).toHaveLength(1);
        await rejection(storage.get(`${p}x`), StorageUnavailableError);
      });
    });

    describe('compaction', () => {
      /** The CompactedError of a watch from `from`, however the backend reports it. */
      const compactedWatch = async (prefix: string, from: number): Promise<CompactedError> => {
        const recorder = new Recorder();
        let w: Watch;
        try {
          w = await storage.watch(prefix, from, recorder.handlers);
        } catch (err) {
          expect(err).toBeInstanceOf(CompactedError);
          if (err instanceof CompactedError) return err;
          throw err;
        }
        watches.push(w);
        await until(() => recorder.errors.length > 0, `CompactedError for a watch from ${from}`);
        expect(recorder.events).toEqual([]);
        const err = recorder.errors[0];
        expect(err).toBeInstanceOf(CompactedError);
        if (!(err instanceof CompactedError)) throw err;
        return err;
      };

      it('after compact(rev), reads and watches before rev fail with CompactedError; from rev on they work', async () => {
        const a = await create(`${p}a`, 'a1');
        const early = await storage.currentRevision();
        const a2 = await update(`${p}a`, 'a2', a.modRevision);
        const b = await create(`${p}b`, 'b1');
        const rev = await storage.currentRevision();
        await storage.compact(rev);
        expect(await storage.compactedRevision()).toBeGreaterThanOrEqual(rev);

        const listErr = await rejection(storage.list(p, { revision: early }), CompactedError);
        expect(listErr.requested).toBe(early);
        expect(listErr.compacted).toBeGreaterThanOrEqual(rev);
        await rejection(storage.list(p, { revision: rev - 1 }), CompactedError);

        const watchErr = await compactedWatch(p, rev - 1);
        expect(watchErr.requested).toBe(rev - 1);
        expect(watchErr.compacted).toBeGreaterThanOrEqual(rev);
        await compactedWatch(p, early);

        // At the compacted revision itself, reads and watches still work.
        expect((await storage.list(p, { revision: rev })).items).toEqual([a2, b]);
        const recorder = new Recorder();
        await watch(p, rev, recorder);
        const c = await create(`${p}c`, 'c1');
        await recorder.waitForEvents(1);
        expect(recorder.events).toEqual([{ type: 'put', kv: c }]);

        // Compacting again, or below, is not an error.
        await storage.compact(rev);
        await storage.compact(early);
        expect(await storage.compactedRevision()).toBeGreaterThanOrEqual(rev);
      });
    });
  });
}
