/**
 * Authentication: bearer tokens, stored hashed in the store (so every replica sees them) and
 * never logged. This is the seam for users, roles and agent credentials: an Authenticator
 * turns a request into a UserInfo, an Authorizer decides; both are plugins' decorations.
 */
import { createHash, randomBytes } from 'node:crypto';
import { KeyExistsError, type Storage } from './storage/types.ts';

export interface UserInfo {
  name: string;
  groups: string[];
  /** For an enrolled agent: the one HAProxyInstance its credential is bound to. */
  agent?: { namespace: string; name: string };
}

export interface Authenticator {
  /** The user a bearer token belongs to, or undefined when it is unknown. */
  authenticate(token: string): Promise<UserInfo | undefined>;
}

export interface RequestAttributes {
  verb: 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';
  resource: string;
  subresource?: string;
  /** Undefined for cluster-wide resources and for lists and watches across all namespaces. */
  namespace?: string;
  /** The object's name; for a list or watch, the one name its field selector pins, if it does. */
  name?: string;
  /** The object sent with a create or update (agents may create only what is theirs). */
  object?: unknown;
}

export interface Authorizer {
  authorize(user: UserInfo, attrs: RequestAttributes): Promise<{ allowed: boolean; reason?: string }>;
}

/** Until roles exist (issue 6), every authenticated user may do everything. */
export const allowAuthenticated: Authorizer = {
  async authorize() {
    return { allowed: true };
  },
};

const TOKEN_PREFIX = '/haproxyhq/auth/tokens/';
const CACHE_MS = 10_000;

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

interface TokenRecord {
  user: UserInfo;
  description: string;
  createdAt: string;
}

/** A new random token: 256 bits, URL-safe. */
export const generateToken = () => `hq_${randomBytes(32).toString('base64url')}`;

/**
 * Tokens are looked up by their sha256, so no comparison of secrets happens in user space (no
 * timing side channel), and a leaked store does not leak usable tokens.
 */
export class StoredTokenAuthenticator implements Authenticator {
  private readonly storage: Storage;
  private readonly cache = new Map<string, { user: UserInfo; until: number }>();

  constructor(storage: Storage) {
    this.storage = storage;
  }

  async authenticate(token: string): Promise<UserInfo | undefined> {
    if (token.length < 16 || token.length > 512) return undefined;
    const h = hashToken(token);
    const hit = this.cache.get(h);
    if (hit && hit.until > Date.now()) return hit.user;
    const kv = await this.storage.get(TOKEN_PREFIX + h);
    if (!kv) return undefined;
    const record = JSON.parse(kv.value) as TokenRecord;
    this.cache.set(h, { user: record.user, until: Date.now() + CACHE_MS });
    if (this.cache.size > 10_000) this.cache.delete(this.cache.keys().next().value!);
    return record.user;
  }

  /** Register a token (idempotent). */
  async register(token: string, user: UserInfo, description: string): Promise<void> {
    const record: TokenRecord = { user, description, createdAt: new Date().toISOString() };
    try {
      await this.storage.txn([{ type: 'create', key: TOKEN_PREFIX + hashToken(token), value: JSON.stringify(record) }]);
    } catch (err) {
      if (!(err instanceof KeyExistsError)) throw err;
    }
  }
}

export const ADMIN: UserInfo = { name: 'admin', groups: ['system:masters'] };
