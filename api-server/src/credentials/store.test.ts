import { afterEach, describe, expect, it } from 'vitest';
import { TOKEN_PREFIX } from '../auth.ts';
import { openSqliteStorage } from '../storage/sqlite-storage.ts';
import type { Storage } from '../storage/types.ts';
import { CredentialStore, JOIN_PREFIX } from './store.ts';

let storage: Storage | undefined;
afterEach(async () => {
  await storage?.close();
});

describe('CredentialStore.sweep', () => {
  it('deletes agent credentials and join tokens a day after they expired, were revoked or used; keeps user tombstones', async () => {
    storage = openSqliteStorage({ path: ':memory:' });
    let now = Date.parse('2026-11-24T10:00:00Z');
    const store = new CredentialStore(storage, { now: () => now });
    const user = await store.createUserToken({ user: { name: 'ci', groups: [] } });
    await store.revokeToken(user.metadata.name);
    // An agent credential, rotated (the old one expires after the grace period) and then revoked.
    await storage.txn([{ type: 'create', key: '/registry/haproxyhq.io/haproxyinstances/default/edge-1', value: '{}' }]);
    await store.rotate('default', 'edge-1', undefined);
    await store.rotate('default', 'edge-1', undefined);
    const unused = await store.createJoinToken('default', { ttlSeconds: 3600, createdBy: 'admin' });
    const live = await store.createUserToken({ user: { name: 'keep', groups: [] } });
    expect((await storage.list(TOKEN_PREFIX)).items).toHaveLength(4);

    expect(await store.sweep()).toBe(0);
    now += 26 * 3600_000;
    // The first agent credential expired 5 minutes after the second rotation: swept; the second still works.
    expect(await store.sweep()).toBe(2);
    const left = (await storage.list(TOKEN_PREFIX)).items.map((kv) => JSON.parse(kv.value));
    expect(left.map((r) => `${r.kind}:${r.user.name}:${r.revokedAt ? 'revoked' : 'live'}`).sort()).toEqual([
      'agent:system:agent:default:edge-1:live',
      'user:ci:revoked',
      'user:keep:live',
    ]);
    expect((await storage.list(JOIN_PREFIX)).items).toHaveLength(0);
    expect(unused.token).toMatch(/^hqj_/);
    expect(live.token).toMatch(/^hq_/);
  });
});
