/**
 * Authentication: bearer tokens, stored hashed in the store (so every replica sees them) and
 * never logged. This is the seam for users, roles and agent credentials: an Authenticator
 * turns a request into a UserInfo, an Authorizer decides; both are plugins' decorations.
 */
import { createHash, randomBytes } from 'node:crypto';
import { KeyExistsError, type Storage, type Watch } from './storage/types.ts';

export interface UserInfo {
  name: string;
  groups: string[];
  /** For an enrolled agent: the one HAProxyInstance its credential is bound to. */
  agent?: { namespace: string; name: string };
}

export interface Authenticator {
  /** The user a bearer token belongs to, or undefined when it is unknown. */
  authenticate(token: string): Promise<UserInfo | undefined>;
  /** Background work (the token cache's invalidation watch): buildApp starts it, and stops it on close. */
  start?(): Promise<void>;
  stop?(): void;
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

/** Where tokens live: `TOKEN_PREFIX + sha256(token)` -> TokenRecord (JSON). */
export const TOKEN_PREFIX = '/haproxyhq/auth/tokens/';
/** How long a looked-up token is trusted without asking the store again, while the watch that invalidates it runs. */
const CACHE_MS = 60_000;
const CACHE_MAX = 20_000;

/** The key a token is stored under: its SHA-256, so the store never holds a usable secret. */
export const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/**
 * What the store holds for a token. Records written before ids existed have only user,
 * description and createdAt: they are user tokens that never expire, and their id is the first
 * 12 hex digits of their hash (recordId).
 */
export interface TokenRecord {
  /** Public id (12 hex digits): what lists show and revocation takes. */
  id?: string;
  /** Absent in old records: 'user'. */
  kind?: 'user' | 'agent';
  /** For agents, user.agent is the instance the credential is bound to. */
  user: UserInfo;
  description: string;
  createdAt: string;
  /** RFC 3339; absent: until revoked. */
  expiresAt?: string;
  /** Set by a revocation: the record stays (so a restart cannot register the same token again) but no longer authenticates. */
  revokedAt?: string;
}

/** A record's public id, for old records too. */
export const recordId = (hash: string, record: TokenRecord) => record.id ?? hash.slice(0, 12);

/** A new public id: 48 random bits as 12 hex digits. */
export const generateTokenId = () => randomBytes(6).toString('hex');

/** Whether a record authenticates at `now` (ms). */
export function recordValid(record: TokenRecord, now: number): boolean {
  if (record.revokedAt !== undefined) return false;
  return record.expiresAt === undefined || Date.parse(record.expiresAt) > now;
}

/** A new random token: 256 bits, URL-safe. */
export const generateToken = () => `hq_${randomBytes(32).toString('base64url')}`;

export interface StoredTokenAuthenticatorOptions {
  /** The clock (tests move it to expire tokens). */
  now?: () => number;
  onError?: (err: unknown) => void;
}

/**
 * Tokens are looked up by their sha256, so no comparison of secrets happens in user space (no
 * timing side channel), and a leaked store does not leak usable tokens.
 *
 * Lookups are cached only while a watch on the token prefix runs (start()): every write to a
 * token record (revocation, rotation) drops its cache entry on every replica as soon as the
 * store's watch delivers it, within milliseconds. Without a running watch nothing is cached.
 */
export class StoredTokenAuthenticator implements Authenticator {
  private readonly storage: Storage;
  private readonly now: () => number;
  private readonly onError: (err: unknown) => void;
  private readonly cache = new Map<string, { user: UserInfo; until: number; expiresAt: number }>();
  private watch: Watch | undefined;
  private live = false;
  private stopped = false;
  /** Bumped by every token event: a lookup that raced one does not fill the cache with what it read. */
  private epoch = 0;
  private retry: ReturnType<typeof setTimeout> | undefined;

  constructor(storage: Storage, options: StoredTokenAuthenticatorOptions = {}) {
    this.storage = storage;
    this.now = options.now ?? Date.now;
    this.onError = options.onError ?? (() => {});
  }

  /** Watch the token prefix, so lookups can be cached (and revocations drop them at once). */
  async start(): Promise<void> {
    this.stopped = false;
    try {
      const from = await this.storage.currentRevision();
      const w = await this.storage.watch(TOKEN_PREFIX, from, {
        onEvent: (e) => {
          this.epoch++;
          this.cache.delete(e.kv.key.slice(TOKEN_PREFIX.length));
        },
        onError: (err) => {
          this.invalidateAll();
          if (this.stopped) return;
          this.onError(err);
          this.retry = setTimeout(() => void this.start(), 1000);
          this.retry.unref();
        },
      });
      if (this.stopped) {
        w.close();
        return;
      }
      this.watch = w;
      // Lookups that read the store before the watch began must not fill the cache.
      this.epoch++;
      this.live = true;
    } catch (err) {
      if (this.stopped) return;
      this.onError(err);
      this.retry = setTimeout(() => void this.start(), 1000);
      this.retry.unref();
    }
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retry);
    this.invalidateAll();
    this.watch?.close();
    this.watch = undefined;
  }

  private invalidateAll(): void {
    this.live = false;
    this.epoch++;
    this.cache.clear();
  }

  async authenticate(token: string): Promise<UserInfo | undefined> {
    if (token.length < 16 || token.length > 512) return undefined;
    const h = hashToken(token);
    const now = this.now();
    const hit = this.cache.get(h);
    if (hit && hit.until > now && hit.expiresAt > now) return hit.user;
    if (hit) this.cache.delete(h);
    const epoch = this.epoch;
    const kv = await this.storage.get(TOKEN_PREFIX + h);
    if (!kv) return undefined;
    const record = JSON.parse(kv.value) as TokenRecord;
    if (!recordValid(record, now)) return undefined;
    if (this.live && epoch === this.epoch) {
      this.cache.set(h, { user: record.user, until: now + CACHE_MS, expiresAt: record.expiresAt ? Date.parse(record.expiresAt) : Infinity });
      if (this.cache.size > CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
    }
    return record.user;
  }

  /**
   * Register a token made elsewhere (the first admin token), idempotently: 'created', 'exists',
   * or 'revoked' when it was registered and then revoked (it stays revoked).
   */
  async register(token: string, user: UserInfo, description: string): Promise<'created' | 'exists' | 'revoked'> {
    const record: TokenRecord = { id: generateTokenId(), kind: 'user', user, description, createdAt: new Date(this.now()).toISOString() };
    const key = TOKEN_PREFIX + hashToken(token);
    try {
      await this.storage.txn([{ type: 'create', key, value: JSON.stringify(record) }]);
      return 'created';
    } catch (err) {
      if (!(err instanceof KeyExistsError)) throw err;
    }
    const kv = await this.storage.get(key);
    return kv && (JSON.parse(kv.value) as TokenRecord).revokedAt !== undefined ? 'revoked' : 'exists';
  }
}

export const ADMIN: UserInfo = { name: 'admin', groups: ['system:masters'] };
