import { afterEach, describe, expect, it } from 'vitest';
import { StoredTokenAuthenticator, TOKEN_PREFIX, generateToken, hashToken, type UserInfo } from './auth.ts';
import { CredentialStore } from './credentials/store.ts';
import { openSqliteStorage } from './storage/sqlite-storage.ts';
import type { Storage } from './storage/types.ts';

const alice: UserInfo = { name: 'alice', groups: ['ops'] };
let storage: Storage | undefined;
afterEach(async () => {
  await storage?.close();
  storage = undefined;
});

/** The store, counting reads of token records. */
function counted() {
  storage = openSqliteStorage({ path: ':memory:' });
  const s = storage;
  let reads = 0;
  const wrapped: Storage = Object.create(s, {
    get: { value: (key: string) => { if (key.startsWith(TOKEN_PREFIX)) reads++; return s.get(key); } },
  });
  return { storage: s, wrapped, reads: () => reads };
}

async function eventually(check: () => Promise<boolean>, ms = 2000): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > ms) throw new Error('not within ' + ms + ' ms');
    await new Promise((r) => setTimeout(r, 5));
  }
  return Date.now() - start;
}

describe('StoredTokenAuthenticator', () => {
  it('caches a token while its watch runs, and drops it the moment the record changes (another replica revoking it)', async () => {
    const { storage: s, wrapped, reads } = counted();
    const auth = new StoredTokenAuthenticator(wrapped);
    await auth.start();
    const token = generateToken();
    expect(await auth.register(token, alice, 'test')).toBe('created');
    expect(await auth.authenticate(token)).toEqual(alice);
    expect(await auth.authenticate(token)).toEqual(alice);
    expect(reads()).toBe(1);
    // Revoked through the store, as another replica would.
    const id = (await new CredentialStore(s).listTokens()).find((t) => t.user.name === 'alice')!.metadata.name;
    await new CredentialStore(s).revokeToken(id);
    expect(await eventually(async () => (await auth.authenticate(token)) === undefined)).toBeLessThan(1000);
    auth.stop();
  });

  it('caches nothing without its watch', async () => {
    const { wrapped, reads } = counted();
    const auth = new StoredTokenAuthenticator(wrapped);
    const token = generateToken();
    await auth.register(token, alice, 'test');
    await auth.authenticate(token);
    await auth.authenticate(token);
    expect(reads()).toBe(2);
  });

  it('refuses an expired token even from its cache, and a revoked one stays revoked when registered again', async () => {
    const { storage: s } = counted();
    let now = Date.parse('2026-11-24T10:00:00Z');
    const auth = new StoredTokenAuthenticator(s, { now: () => now });
    await auth.start();
    const made = await new CredentialStore(s, { now: () => now }).createUserToken({ user: { name: 'temp', groups: [] }, ttlSeconds: 60 });
    expect(await auth.authenticate(made.token!)).toMatchObject({ name: 'temp' });
    now += 61_000;
    expect(await auth.authenticate(made.token!)).toBeUndefined();

    const admin = generateToken();
    await auth.register(admin, alice, 'first start');
    const record = (await s.get(TOKEN_PREFIX + hashToken(admin)))!;
    await new CredentialStore(s).revokeToken(JSON.parse(record.value).id);
    expect(await auth.register(admin, alice, 'restart')).toBe('revoked');
    expect(await auth.authenticate(admin)).toBeUndefined();
    auth.stop();
  });
});
