/** Polling for tests that wait on real processes: no fixed sleeps, a clear message on timeout. */

export interface UntilOptions {
  /** Give up after this long (default 30 s). */
  ms?: number;
  /** Poll this often (default 100 ms). */
  intervalMs?: number;
  /** More to say when it times out (a process's log, counters). */
  context?: () => string;
}

/**
 * Call `fn` until it returns something truthy and return that. Errors count as "not yet"; the
 * last one is named in the timeout message, with `what` and the context.
 */
export async function until<T>(what: string, fn: () => Promise<T | undefined | false>, opts: UntilOptions = {}): Promise<T> {
  const deadline = Date.now() + (opts.ms ?? 30_000);
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const context = opts.context?.();
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}${context ? `\n${context}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
  }
}
