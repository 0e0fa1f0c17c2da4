/**
 * Users in the store, one key each (`/haproxyhq/auth/users/NAME`), beside the objects but under a
 * prefix no resource route reaches, so every replica knows them. A record holds the scrypt hash
 * of the password, never the password; toUser() is all of it that leaves the server.
 */
import { randomUUID } from 'node:crypto';
import { API_VERSION, type User } from '@haproxyhq/schemas';
import { KeyExistsError, KeyNotFoundError, RevisionMismatchError, type KeyValue, type Storage } from '../storage/types.ts';
import type { PasswordHash } from './password.ts';

export const USERS_PREFIX = '/haproxyhq/auth/users/';

export interface UserRecord {
  name: string;
  /** A user deleted and created again under the same name is another user: sessions are bound to this. */
  uid: string;
  groups: string[];
  password: PasswordHash;
  createdAt: string;
  passwordChangedAt: string;
}

export interface StoredUser {
  record: UserRecord;
  modRevision: number;
}

export class UserExistsError extends Error {}
export class UserNotFoundError extends Error {}

const keyOf = (name: string) => USERS_PREFIX + name;

function parse(kv: KeyValue): StoredUser | undefined {
  try {
    const record = JSON.parse(kv.value) as UserRecord;
    if (typeof record.name !== 'string' || typeof record.uid !== 'string' || !Array.isArray(record.groups) || typeof record.password !== 'object') return undefined;
    return { record, modRevision: kv.modRevision };
  } catch {
    return undefined;
  }
}

/** The API's view of a user: no hash, no salt. */
export function toUser(u: StoredUser): User {
  return {
    apiVersion: API_VERSION,
    kind: 'User',
    metadata: { name: u.record.name, uid: u.record.uid, resourceVersion: String(u.modRevision), creationTimestamp: u.record.createdAt },
    groups: u.record.groups,
    passwordChangedTime: u.record.passwordChangedAt,
  };
}

export class UserStore {
  readonly storage: Storage;
  private readonly now: () => number;

  constructor(storage: Storage, now: () => number = Date.now) {
    this.storage = storage;
    this.now = now;
  }

  async get(name: string): Promise<StoredUser | undefined> {
    const kv = await this.storage.get(keyOf(name));
    return kv ? parse(kv) : undefined;
  }

  /** Every user, by name, and the revision the list was read at. */
  async list(): Promise<{ items: StoredUser[]; revision: number }> {
    const { items, revision } = await this.storage.list(USERS_PREFIX);
    return { items: items.map(parse).filter((u): u is StoredUser => u !== undefined), revision };
  }

  /** The record of a new user, not yet stored (create() stores it; bootstrap adds it to a txn of its own). */
  newRecord(name: string, groups: string[], password: PasswordHash): UserRecord {
    const at = new Date(this.now()).toISOString();
    return { name, uid: randomUUID(), groups, password, createdAt: at, passwordChangedAt: at };
  }

  /** Store a new user; UserExistsError when the name is taken. */
  async create(record: UserRecord): Promise<StoredUser> {
    try {
      const [kv] = await this.storage.txn([{ type: 'create', key: keyOf(record.name), value: JSON.stringify(record) }]);
      return { record, modRevision: kv!.modRevision };
    } catch (err) {
      if (err instanceof KeyExistsError) throw new UserExistsError(record.name);
      throw err;
    }
  }

  /**
   * Replace the password of the user as read (`expected`); UserNotFoundError when it is gone,
   * RevisionMismatchError when it changed since (the caller reads again).
   */
  async setPassword(expected: StoredUser, password: PasswordHash): Promise<StoredUser> {
    const record: UserRecord = { ...expected.record, password, passwordChangedAt: new Date(this.now()).toISOString() };
    return this.replace(expected, record);
  }

  /** Replace the groups of the user as read (`expected`); errors as setPassword's. */
  async setGroups(expected: StoredUser, groups: string[]): Promise<StoredUser> {
    return this.replace(expected, { ...expected.record, groups });
  }

  /** Re-hash with stronger parameters, keeping passwordChangedAt; a lost race is fine (the other write wins). */
  async upgradeHash(expected: StoredUser, password: PasswordHash): Promise<void> {
    try {
      await this.replace(expected, { ...expected.record, password });
    } catch (err) {
      if (!(err instanceof UserNotFoundError) && !(err instanceof RevisionMismatchError)) throw err;
    }
  }

  private async replace(expected: StoredUser, record: UserRecord): Promise<StoredUser> {
    try {
      const [kv] = await this.storage.txn([{ type: 'update', key: keyOf(record.name), value: JSON.stringify(record), expectedModRevision: expected.modRevision }]);
      return { record, modRevision: kv!.modRevision };
    } catch (err) {
      if (err instanceof KeyNotFoundError) throw new UserNotFoundError(record.name);
      throw err;
    }
  }

  /** Delete a user; UserNotFoundError when there is none. */
  async delete(name: string): Promise<StoredUser> {
    try {
      const [kv] = await this.storage.txn([{ type: 'delete', key: keyOf(name) }]);
      const gone = parse(kv!);
      if (!gone) throw new UserNotFoundError(name);
      return gone;
    } catch (err) {
      if (err instanceof KeyNotFoundError) throw new UserNotFoundError(name);
      throw err;
    }
  }
}
