/**
 * The embedded store on its own thread (sqlite-worker.ts), as the server runs it: the whole
 * storage contract, plus what the front adds: open failures and records come across, and a
 * watch opened while writes stream in misses none and sees none twice.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteStorage } from '../src/storage/sqlite-storage.ts';
import { openSqliteStorageInWorker } from '../src/storage/sqlite-worker.ts';
import { KeyExistsError, RevisionMismatchError, StorageUnavailableError } from '../src/storage/types.ts';
import { describeStorageConformance } from './storage-conformance.ts';

const dir = mkdtempSync(join(tmpdir(), 'hq-sqlite-worker-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

describeStorageConformance('embedded, on its own thread', async () => {
  const storage = await openSqliteStorageInWorker({ path: join(dir, `conformance-${++n}.db`) });
  return { storage, cleanup: () => storage.close() };
});

describe('embedded store on its own thread', () => {
  it('fails to open as the engine does: a file in use is StorageUnavailableError naming it', async () => {
    const path = join(dir, 'owned.db');
    const owner = await openSqliteStorageInWorker({ path });
    const second = openSqliteStorageInWorker({ path });
    await expect(second).rejects.toBeInstanceOf(StorageUnavailableError);
    await expect(openSqliteStorageInWorker({ path })).rejects.toThrow(/in use by another process/);
    expect(() => openSqliteStorage({ path })).toThrow(/in use by another process/);
    await owner.close();
    // Closed: the file is free again.
    const again = await openSqliteStorageInWorker({ path });
    await again.close();
  });

  it('carries the engine\'s errors across as the same classes, with their fields', async () => {
    const s = await openSqliteStorageInWorker({ path: join(dir, 'errors.db') });
    const [kv] = await s.txn([{ type: 'create', key: '/e/a', value: '1' }]);
    await expect(s.txn([{ type: 'create', key: '/e/b', value: '2' }, { type: 'create', key: '/e/a', value: '3' }])).rejects.toMatchObject({
      constructor: KeyExistsError,
      key: '/e/a',
      opIndex: 1,
    });
    const stale = s.txn([{ type: 'update', key: '/e/a', value: 'x', expectedModRevision: kv!.modRevision + 5 }]);
    await expect(stale).rejects.toBeInstanceOf(RevisionMismatchError);
    await expect(stale).rejects.toMatchObject({ actualModRevision: kv!.modRevision });
    await s.close();
    await expect(s.get('/e/a')).rejects.toThrow(/closed/);
  });

  it('keeps records outside the revisions, as the engine does', async () => {
    const s = await openSqliteStorageInWorker({ path: join(dir, 'records.db'), recordPrefixes: ['/rec/'] });
    expect(s.isRecord('/rec/1')).toBe(true);
    const [obj, rec] = await s.txn([{ type: 'create', key: '/o/a', value: 'A' }, { type: 'create', key: '/rec/1', value: 'r' }]);
    expect(rec!.modRevision).toBe(obj!.modRevision);
    expect(await s.currentRevision()).toBe(obj!.modRevision);
    expect((await s.list('/rec/')).items.map((r) => r.value)).toEqual(['r']);
    await s.close();
  });

  it('a watch opened while writes stream in gets each write after its revision exactly once, in order', async () => {
    const s = await openSqliteStorageInWorker({ path: join(dir, 'stream.db') });
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        // Four writes at a time (one batch) and a turn of the event loop between batches.
        await Promise.all([0, 1, 2, 3].map((j) => s.txn([{ type: 'create', key: `/s/${i}-${j}`, value: String(i) }])));
        await new Promise((r) => setImmediate(r));
      }
    })();
    const opened: { from: number; revs: number[]; watch: { close(): void } }[] = [];
    for (let k = 0; k < 20; k++) {
      await new Promise((r) => setTimeout(r, 3));
      const from = await s.currentRevision();
      const revs: number[] = [];
      opened.push({ from, revs, watch: await s.watch('/s/', from, { onEvent: (e) => revs.push(e.kv.modRevision), onError() {} }) });
    }
    writing = false;
    await writer;
    const last = await s.currentRevision();
    await new Promise((r) => setTimeout(r, 50));
    for (const { from, revs } of opened) {
      expect(revs, `watch from ${from}`).toEqual(Array.from({ length: last - from }, (_, i) => from + 1 + i));
    }
    expect(last - opened[0]!.from).toBeGreaterThan(40);
    for (const { watch } of opened) watch.close();
    await s.close();
  });
});
