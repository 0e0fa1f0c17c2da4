/**
 * A token bucket per source address, in memory (each replica keeps its own): `burst` tokens,
 * refilled at `perSecond`. Used for failed enrollments, so guessing join tokens from one
 * address stays slow while an honest agent's retries are never in the way.
 */
export interface RateLimiterOptions {
  burst: number;
  perSecond: number;
  /** Addresses remembered at most (the oldest are forgotten first). */
  maxKeys?: number;
  now?: () => number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly o: Required<RateLimiterOptions>;

  constructor(options: RateLimiterOptions) {
    this.o = { burst: options.burst, perSecond: options.perSecond, maxKeys: options.maxKeys ?? 10_000, now: options.now ?? Date.now };
  }

  private bucket(key: string): { tokens: number; at: number } {
    const now = this.o.now();
    let b = this.buckets.get(key);
    if (!b) {
      b = { tokens: this.o.burst, at: now };
      this.buckets.set(key, b);
      if (this.buckets.size > this.o.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
      return b;
    }
    b.tokens = Math.min(this.o.burst, b.tokens + ((now - b.at) / 1000) * this.o.perSecond);
    b.at = now;
    return b;
  }

  /** Seconds until `key` may try again; 0 when it may now. */
  retryAfter(key: string): number {
    const b = this.bucket(key);
    if (b.tokens >= 1) return 0;
    return Math.max(1, Math.ceil((1 - b.tokens) / this.o.perSecond));
  }

  /** Take one token (a failure happened). */
  take(key: string): void {
    const b = this.bucket(key);
    b.tokens = Math.max(0, b.tokens - 1);
  }
}
