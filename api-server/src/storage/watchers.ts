/**
 * The embedded store's watchers, indexed by prefix: an event finds its watchers without a scan
 * (with ten thousand agents each watching its own key, a scan per write is 10^8 comparisons per
 * rollout).
 */
import type { WatchEvent, WatchHandlers } from './types.ts';

export interface Watcher {
  prefix: string;
  handlers: WatchHandlers;
  closed: boolean;
}

export class WatcherIndex {
  private readonly all = new Set<Watcher>();
  private readonly byPrefix = new Map<string, Set<Watcher>>();
  /** Prefix lengths in use, with how many watchers have each. */
  private readonly prefixLengths = new Map<number, number>();
  private progressTimer: NodeJS.Timeout | undefined;
  private latest = 0;

  add(w: Watcher): void {
    this.all.add(w);
    let set = this.byPrefix.get(w.prefix);
    if (!set) this.byPrefix.set(w.prefix, (set = new Set()));
    set.add(w);
    this.prefixLengths.set(w.prefix.length, (this.prefixLengths.get(w.prefix.length) ?? 0) + 1);
  }

  remove(w: Watcher): void {
    w.closed = true;
    if (!this.all.delete(w)) return;
    const set = this.byPrefix.get(w.prefix)!;
    set.delete(w);
    if (set.size === 0) this.byPrefix.delete(w.prefix);
    const n = this.prefixLengths.get(w.prefix.length)! - 1;
    if (n === 0) this.prefixLengths.delete(w.prefix.length);
    else this.prefixLengths.set(w.prefix.length, n);
  }

  /**
   * Deliver committed events, in order, each to the watchers whose prefix it falls under; every
   * event up to `revision` has then been delivered. Everyone learns of `revision` through
   * onProgress at most every 100 ms.
   */
  deliver(events: WatchEvent[], revision: number): void {
    for (const e of events) {
      const key = e.kv.key;
      for (const length of this.prefixLengths.keys()) {
        if (length > key.length) continue;
        const set = this.byPrefix.get(key.slice(0, length));
        if (!set) continue;
        for (const w of set) if (!w.closed) this.deliverOne(w, e);
      }
    }
    if (revision > this.latest) this.latest = revision;
    this.progressTimer ??= setTimeout(() => {
      this.progressTimer = undefined;
      for (const w of this.all) if (!w.closed) w.handlers.onProgress?.(this.latest);
    }, 100);
  }

  /**
   * One event to one watcher. A handler that throws ends its own watch (through onError), not the
   * batch: the writers were answered already, and the other watchers still get their events.
   */
  deliverOne(w: Watcher, e: WatchEvent): void {
    try {
      w.handlers.onEvent(e);
    } catch (err) {
      this.remove(w);
      try {
        w.handlers.onError(err instanceof Error ? err : new Error(String(err)));
      } catch {
        // Nothing more to tell it.
      }
    }
  }

  /** End every watch with `err`. */
  endAll(err: Error): void {
    const all = [...this.all];
    for (const w of all) this.remove(w);
    clearTimeout(this.progressTimer);
    this.progressTimer = undefined;
    for (const w of all) {
      try {
        w.handlers.onError(err);
      } catch {
        // Nothing more to tell it.
      }
    }
  }
}
