/**
 * The console's sign-in sessions. The browser holds a random 256-bit id in an HttpOnly, Secure,
 * SameSite=Strict cookie; the store holds only the id's sha256 (`/haproxyhq/auth/sessions/HASH`),
 * so every replica knows every session and a copy of the store signs nobody in. A session ends
 * after `idleTimeoutMs` without a request, `lifetimeMs` after sign-in however it is used, at
 * sign-out, when its user's password changes elsewhere and when its user is deleted.
 *
 * Each replica caches what it looked up for CACHE_MS: a session ended on another replica is
 * refused here at most that long after.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { KeyNotFoundError, RevisionMismatchError, type KeyValue, type Storage } from '../storage/types.ts';
import type { StoredUser, UserStore } from './store.ts';

export const SESSIONS_PREFIX = '/haproxyhq/auth/sessions/';
const CACHE_MS = 5_000;

export interface SessionRecord {
  user: string;
  /** The user's uid at sign-in: a user deleted and made again does not inherit the session. */
  uid: string;
  createdAt: number;
  lastUsedAt: number;
  expiresAt: number;
  sourceIP?: string;
}

export interface SessionOptions {
  /** Ends after this long without a request (default 30 minutes). */
  idleTimeoutMs?: number;
  /** Ends this long after sign-in (default 12 hours). */
  lifetimeMs?: number;
  now?: () => number;
}

/** A live session and its user, as authenticate() finds them. */
export interface ActiveSession {
  /** sha256 of the id: the store's key, and how a request's session is named without its secret. */
  hash: string;
  session: SessionRecord;
  user: StoredUser;
}

export const hashSessionId = (id: string) => createHash('sha256').update(id).digest('hex');

/**
 * The CSRF token of a session: derived from its id (so nothing more is stored) in a way the
 * store's sha256 of the id does not give away.
 */
export const csrfTokenFor = (id: string) => createHash('sha256').update(`haproxyhq csrf\0${id}`).digest('base64url');

/** Constant-time comparison of two strings of any length. */
export function safeEqual(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y) && a.length === b.length;
}

const ID_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export class SessionStore {
  private readonly storage: Storage;
  private readonly users: UserStore;
  readonly idleTimeoutMs: number;
  readonly lifetimeMs: number;
  private readonly now: () => number;
  private readonly cache = new Map<string, { active: ActiveSession; modRevision: number; until: number }>();
  private sweeper: ReturnType<typeof setInterval> | undefined;

  constructor(storage: Storage, users: UserStore, options: SessionOptions = {}) {
    this.storage = storage;
    this.users = users;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 30 * 60_000;
    this.lifetimeMs = options.lifetimeMs ?? 12 * 3_600_000;
    this.now = options.now ?? Date.now;
  }

  /** Sign `user` in: a new session; returns its id (for the cookie only) and what the client may know. */
  async create(user: StoredUser, sourceIP: string | undefined): Promise<{ id: string; hash: string; session: SessionRecord }> {
    const id = randomBytes(32).toString('base64url');
    const now = this.now();
    const session: SessionRecord = {
      user: user.record.name,
      uid: user.record.uid,
      createdAt: now,
      lastUsedAt: now,
      expiresAt: now + this.lifetimeMs,
      ...(sourceIP ? { sourceIP: sourceIP.slice(0, 64) } : {}),
    };
    const hash = hashSessionId(id);
    await this.storage.txn([{ type: 'create', key: SESSIONS_PREFIX + hash, value: JSON.stringify(session) }]);
    return { id, hash, session };
  }

  /** The live session of a cookie's id, with its user as stored now; undefined when there is none. */
  async authenticate(id: string): Promise<ActiveSession | undefined> {
    if (!ID_PATTERN.test(id)) return undefined;
    const hash = hashSessionId(id);
    const now = this.now();
    let hit = this.cache.get(hash);
    if (!hit || hit.until <= now) {
      this.cache.delete(hash);
      const kv = await this.storage.get(SESSIONS_PREFIX + hash);
      const session = kv ? parseSession(kv) : undefined;
      if (!session) return undefined;
      const user = await this.users.get(session.user);
      if (!user || user.record.uid !== session.uid) {
        await this.endHash(hash);
        return undefined;
      }
      hit = { active: { hash, session, user }, modRevision: kv!.modRevision, until: now + CACHE_MS };
      this.cache.set(hash, hit);
      if (this.cache.size > 10_000) this.cache.delete(this.cache.keys().next().value!);
    }
    const s = hit.active.session;
    if (now >= s.expiresAt || now - s.lastUsedAt >= this.idleTimeoutMs) {
      await this.endHash(hash);
      return undefined;
    }
    // Idle time is measured from the last write of lastUsedAt, which is at most this stale.
    if (now - s.lastUsedAt >= Math.min(60_000, this.idleTimeoutMs / 4)) await this.touch(hit, now);
    return hit.active;
  }

  private async touch(hit: { active: ActiveSession; modRevision: number }, now: number): Promise<void> {
    const session = { ...hit.active.session, lastUsedAt: now };
    try {
      const [kv] = await this.storage.txn([
        { type: 'update', key: SESSIONS_PREFIX + hit.active.hash, value: JSON.stringify(session), expectedModRevision: hit.modRevision },
      ]);
      hit.active = { ...hit.active, session };
      hit.modRevision = kv!.modRevision;
    } catch (err) {
      // Another replica touched it first, or it ended meanwhile: either way, the next lookup reads it again.
      if (err instanceof RevisionMismatchError || err instanceof KeyNotFoundError) this.cache.delete(hit.active.hash);
      else throw err;
    }
  }

  /** End one session (sign-out). */
  async end(id: string): Promise<void> {
    if (ID_PATTERN.test(id)) await this.endHash(hashSessionId(id));
  }

  async endHash(hash: string): Promise<void> {
    this.cache.delete(hash);
    try {
      await this.storage.txn([{ type: 'delete', key: SESSIONS_PREFIX + hash }]);
    } catch (err) {
      if (!(err instanceof KeyNotFoundError)) throw err;
    }
  }

  /** End every session of a user but `keep` (a hash); returns how many ended. */
  async endAllOf(userName: string, keep?: string): Promise<number> {
    for (const [hash, hit] of this.cache) if (hit.active.session.user === userName && hash !== keep) this.cache.delete(hash);
    let ended = 0;
    for (const kv of (await this.storage.list(SESSIONS_PREFIX)).items) {
      const hash = kv.key.slice(SESSIONS_PREFIX.length);
      if (hash === keep || parseSession(kv)?.user !== userName) continue;
      await this.endHash(hash);
      ended++;
    }
    return ended;
  }

  /** Delete the sessions that have expired (nobody would be let in by them, but they take room). */
  async sweep(): Promise<number> {
    const now = this.now();
    let swept = 0;
    for (const kv of (await this.storage.list(SESSIONS_PREFIX)).items) {
      const s = parseSession(kv);
      if (s && now < s.expiresAt && now - s.lastUsedAt < this.idleTimeoutMs) continue;
      try {
        await this.storage.txn([{ type: 'delete', key: kv.key, expectedModRevision: kv.modRevision }]);
        swept++;
      } catch (err) {
        // Used or ended meanwhile.
        if (!(err instanceof RevisionMismatchError) && !(err instanceof KeyNotFoundError)) throw err;
      }
    }
    return swept;
  }

  /** Sweep every `intervalMs` (default 10 minutes) until stop(). */
  startSweeping(onError: (err: unknown) => void, intervalMs = 10 * 60_000): void {
    this.sweeper = setInterval(() => void this.sweep().catch(onError), intervalMs);
    this.sweeper.unref();
  }

  stop(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}

function parseSession(kv: KeyValue): SessionRecord | undefined {
  try {
    const s = JSON.parse(kv.value) as SessionRecord;
    if (typeof s.user !== 'string' || typeof s.uid !== 'string' || typeof s.expiresAt !== 'number' || typeof s.lastUsedAt !== 'number') return undefined;
    return s;
  } catch {
    return undefined;
  }
}
