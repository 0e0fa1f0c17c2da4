/** Builds an in-process API server on a fresh embedded store, with an admin token. */
import type { FastifyInstance } from 'fastify';
import { buildApp, type AppOptions } from '../../src/app.ts';
import { ADMIN, StoredTokenAuthenticator, generateToken } from '../../src/auth.ts';
import { openSqliteStorage } from '../../src/storage/sqlite-storage.ts';
import type { Storage } from '../../src/storage/types.ts';

export interface TestApp {
  app: FastifyInstance;
  storage: Storage;
  token: string;
  headers: Record<string, string>;
  close(): Promise<void>;
}

/**
 * Every object's key and revision: what "the request wrote nothing" compares (the store's revision
 * moves for the request's audit record, which lives outside /registry/).
 */
export async function objectsState(storage: Storage): Promise<string> {
  const { items } = await storage.list('/registry/');
  return JSON.stringify(items.map((kv) => [kv.key, kv.modRevision]));
}

export async function buildTestApp(options: Partial<AppOptions> & { storage?: Storage } = {}): Promise<TestApp> {
  const storage = options.storage ?? openSqliteStorage({ path: ':memory:' });
  const authenticator = new StoredTokenAuthenticator(storage, { now: options.now });
  const token = generateToken();
  await authenticator.register(token, ADMIN, 'test');
  const app = await buildApp({ ...options, storage, authenticator });
  return {
    app,
    storage,
    token,
    headers: { authorization: `Bearer ${token}` },
    async close() {
      await app.close();
      await storage.close();
    },
  };
}
