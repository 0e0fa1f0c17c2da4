/**
 * The storage contract against the embedded store, on a real file (WAL, synchronous=FULL), plus
 * what only it promises: durability across reopen, bounded history, one owner per file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteStorage } from '../src/storage/sqlite-storage.ts';
import { CompactedError, StorageUnavailableError } from '../src/storage/types.ts';
import { describeStorageConformance } from './storage-conformance.ts';

const dir = mkdtempSync(join(tmpdir(), 'hq-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

describeStorageConformance('embedded', async () => {
  const path = join(dir, `conformance-${++n}.db`);
  const storage = openSqliteStorage({ path });
  return { storage, cleanup: () => storage.close() };
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
    const s = openSqliteStorage({ path: join(dir, 'bounded.db'), historyRevisions: 100 });
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

  it('refuses a second owner of the same file', async () => {
    const path = join(dir, 'owned.db');
    const s = openSqliteStorage({ path });
    expect(() => openSqliteStorage({ path })).toThrow(StorageUnavailableError);
    expect(() => openSqliteStorage({ path })).toThrow(/in use by another process/);
    await s.close();
  });
});
