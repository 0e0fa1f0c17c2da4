/**
 * Periodic compaction for stores that do not bound their own history (etcd). As kube-apiserver
 * does: every interval, compact to the revision recorded one interval earlier, so watchers always
 * have at least one interval of history to resume from. With several replicas, a compare-and-swap
 * on one key elects a single compactor per interval.
 */
import { KeyExistsError, RevisionMismatchError, type Storage } from './types.ts';

export const COMPACT_KEY = '/haproxyhq/compaction';

interface Record {
  /** Revision current when this record was written: the next compaction's target. */
  revision: number;
  /** When it was written (ms since the epoch). */
  at: number;
}

export interface CompactorOptions {
  intervalMs: number;
  now?: () => number;
  onError?: (err: unknown) => void;
}

/** One compaction step; returns the revision compacted to, if this replica did it. */
export async function compactOnce(storage: Storage, intervalMs: number, now = Date.now()): Promise<number | undefined> {
  const kv = await storage.get(COMPACT_KEY);
  const current = await storage.currentRevision();
  const next: Record = { revision: current, at: now };
  try {
    if (!kv) {
      await storage.txn([{ type: 'create', key: COMPACT_KEY, value: JSON.stringify(next) }]);
      return undefined;
    }
    const prev = JSON.parse(kv.value) as Record;
    if (now - prev.at < intervalMs) return undefined;
    await storage.txn([{ type: 'update', key: COMPACT_KEY, value: JSON.stringify(next), expectedModRevision: kv.modRevision }]);
    if (prev.revision > 0) {
      await storage.compact(prev.revision);
      return prev.revision;
    }
    return undefined;
  } catch (err) {
    // Another replica won this interval.
    if (err instanceof RevisionMismatchError || err instanceof KeyExistsError) return undefined;
    throw err;
  }
}

/** Run compactOnce every interval until stopped. */
export function startCompactor(storage: Storage, options: CompactorOptions): { stop(): void } {
  const tick = () => {
    compactOnce(storage, options.intervalMs, (options.now ?? Date.now)()).catch((err: unknown) => options.onError?.(err));
  };
  // Check more often than the interval, so a replica that dies mid-interval is covered by another.
  const timer = setInterval(tick, Math.max(1000, Math.floor(options.intervalMs / 4)));
  timer.unref();
  tick();
  return { stop: () => clearInterval(timer) };
}
