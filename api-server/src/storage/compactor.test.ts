import { describe, expect, it } from 'vitest';
import { compactOnce } from './compactor.ts';
import { openSqliteStorage } from './sqlite-storage.ts';
import { CompactedError } from './types.ts';

describe('compactor', () => {
  it('compacts to the revision recorded one interval earlier, once per interval', async () => {
    const s = openSqliteStorage({ path: ':memory:', historyRevisions: 1_000_000 });
    const write = async (n: number) => {
      for (let i = 0; i < n; i++) await s.txn([{ type: 'create', key: `/k/${Math.random()}`, value: 'v' }]);
    };
    await write(10);
    expect(await compactOnce(s, 1000, 0)).toBeUndefined(); // records revision 10
    await write(10);
    expect(await compactOnce(s, 1000, 500)).toBeUndefined(); // too early
    const target = await compactOnce(s, 1000, 1000);
    expect(target).toBe(10);
    expect(await s.compactedRevision()).toBe(10);
    // History after the target is still there; before it, gone.
    await expect(s.watch('/k/', 5, { onEvent() {}, onError() {} })).rejects.toBeInstanceOf(CompactedError);
    const events: number[] = [];
    const w = await s.watch('/k/', 10, { onEvent: (e) => events.push(e.kv.modRevision), onError() {} });
    expect(events).toHaveLength(10); // the second batch of writes (the compaction record is not under /k/)
    w.close();
    await s.close();
  });
});
