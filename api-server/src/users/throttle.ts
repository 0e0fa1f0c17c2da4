/**
 * Sign-in throttling, per source address and per user name: after `threshold` failures in a row
 * (5 for a name, 10 for an address), attempts are refused for 30 s, then twice as long after each
 * further failure, up to 15 minutes. A failure is forgotten 15 minutes after the last one.
 *
 * An attempt counts as failed from the moment it starts (succeeded() takes it back), so a burst
 * of concurrent guesses cannot all pass the check before the first one fails. Unknown names are
 * counted exactly as known ones: the answer must not tell whether a user exists.
 *
 * The counts live in this replica's memory: behind a load balancer each replica counts its own
 * (so N replicas allow N times the attempts), and a restart forgets them.
 */

export interface ThrottleOptions {
  /** Failures of one user name before it is locked (default 5). */
  userThreshold?: number;
  /** Failures from one address before it is locked (default 10). */
  addressThreshold?: number;
  /** First lock (default 30 s), doubled per further failure. */
  baseLockMs?: number;
  /** Longest lock (default 15 min). */
  maxLockMs?: number;
  /** A run of failures is forgotten this long after the last (default 15 min). */
  forgetAfterMs?: number;
  /** Names and addresses tracked at most, each (the oldest are forgotten first). */
  maxEntries?: number;
  now?: () => number;
}

interface Entry {
  failures: number;
  lockedUntil: number;
  /** The lock before the last failure: what unfail() puts back. */
  lockedBefore: number;
  lastAt: number;
}

class Counter {
  private readonly entries = new Map<string, Entry>();
  private readonly threshold: number;
  private readonly o: Required<Omit<ThrottleOptions, 'userThreshold' | 'addressThreshold'>>;

  constructor(threshold: number, o: Required<Omit<ThrottleOptions, 'userThreshold' | 'addressThreshold'>>) {
    this.threshold = threshold;
    this.o = o;
  }

  private live(key: string, now: number): Entry | undefined {
    const e = this.entries.get(key);
    if (e && now >= e.lockedUntil && now - e.lastAt > this.o.forgetAfterMs) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }

  /** Milliseconds until `key` may try again; 0 when it may now. */
  wait(key: string, now: number): number {
    const e = this.live(key, now);
    return e && e.lockedUntil > now ? e.lockedUntil - now : 0;
  }

  fail(key: string, now: number): void {
    let e = this.live(key, now);
    if (e) {
      // Most recently failed last: the oldest are the first to go when the map is full.
      this.entries.delete(key);
    } else {
      e = { failures: 0, lockedUntil: 0, lockedBefore: 0, lastAt: now };
      if (this.entries.size >= this.o.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    }
    e.failures++;
    e.lastAt = now;
    e.lockedBefore = e.lockedUntil;
    if (e.failures >= this.threshold) {
      e.lockedUntil = now + Math.min(this.o.maxLockMs, this.o.baseLockMs * 2 ** Math.min(e.failures - this.threshold, 20));
    }
    this.entries.set(key, e);
  }

  /** Take back the last failure and the lock it set (an attempt that succeeded after all). */
  unfail(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    e.failures = Math.max(0, e.failures - 1);
    e.lockedUntil = e.failures < this.threshold ? 0 : e.lockedBefore;
    if (e.failures === 0) this.entries.delete(key);
  }

  forget(key: string): void {
    this.entries.delete(key);
  }
}

export class LoginThrottle {
  private readonly users: Counter;
  private readonly addresses: Counter;
  private readonly now: () => number;

  constructor(options: ThrottleOptions = {}) {
    const o = {
      baseLockMs: options.baseLockMs ?? 30_000,
      maxLockMs: options.maxLockMs ?? 15 * 60_000,
      forgetAfterMs: options.forgetAfterMs ?? 15 * 60_000,
      maxEntries: options.maxEntries ?? 10_000,
      now: options.now ?? Date.now,
    };
    this.users = new Counter(options.userThreshold ?? 5, o);
    this.addresses = new Counter(options.addressThreshold ?? 10, o);
    this.now = o.now;
  }

  /**
   * Start an attempt: 0 when it may go on (it then counts as failed until succeeded()), else the
   * milliseconds until the name and the address may try again.
   */
  attempt(address: string, user: string): number {
    const now = this.now();
    const userKey = user.slice(0, 256);
    const wait = Math.max(this.users.wait(userKey, now), this.addresses.wait(address, now));
    if (wait > 0) return wait;
    this.users.fail(userKey, now);
    this.addresses.fail(address, now);
    return 0;
  }

  /** The attempt succeeded: the name starts afresh; the address gets this attempt back. */
  succeeded(address: string, user: string): void {
    this.users.forget(user.slice(0, 256));
    this.addresses.unfail(address);
  }
}
