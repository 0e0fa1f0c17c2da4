/**
 * Events are a log, not state: like Kubernetes (--event-ttl, 1 h by default), the server deletes
 * those last written more than the TTL ago, so a busy fleet's events do not grow forever.
 * Safe with several replicas: deletes carry uid and resourceVersion preconditions, and a lost race
 * is ignored.
 *
 * Kubernetes gives each Event write an etcd lease of the TTL. Here a sweep asks the store only for
 * the Events last written at or before the revision the store had a TTL ago (from samples of its
 * revision taken at each sweep, by this server's clock), so it neither reads nor parses the
 * others: at ten thousand agents a rollout writes ten thousand Events. The first sweep after a
 * start has no samples yet and reads every Event, judging each by its lastTimestamp (or
 * creationTimestamp); an Event that sweep keeps is deleted once the start's sample is a TTL old,
 * so across a restart an Event can live up to twice the TTL.
 */
import { SYSTEM_ACTORS } from '../audit/log.ts';
import type { KeyValue, Storage } from '../storage/types.ts';
import type { ApiObject, ResourceRegistry } from './registry.ts';

export interface EventTtlOptions {
  ttlMs: number;
  intervalMs: number;
  now?: () => number;
  onError?: (err: unknown) => void;
}

const PAGE = 500;

export class EventSweeper {
  private readonly events: ResourceRegistry;
  private readonly storage: Storage;
  private readonly ttlMs: number;
  /** The store's revision at each sweep, oldest first; only the newest one at least a TTL old is kept of those. */
  private readonly samples: { at: number; rev: number }[] = [];

  constructor(events: ResourceRegistry, storage: Storage, ttlMs: number) {
    this.events = events;
    this.storage = storage;
    this.ttlMs = ttlMs;
  }

  /** Delete expired Events once; returns how many were deleted. */
  async sweep(now = Date.now()): Promise<number> {
    const rev = await this.storage.currentRevision();
    const first = this.samples.length === 0;
    this.samples.push({ at: now, rev });
    if (first) {
      const cutoff = now - this.ttlMs;
      return this.deleteUpTo(rev, (e) => {
        const last = Date.parse(String(e.lastTimestamp ?? e.metadata.creationTimestamp ?? ''));
        return !Number.isNaN(last) && last < cutoff;
      });
    }
    // The newest sample at or before now - TTL: everything written up to its revision is expired.
    let i = -1;
    while (i + 1 < this.samples.length && this.samples[i + 1]!.at <= now - this.ttlMs) i++;
    if (i < 0) return 0;
    this.samples.splice(0, i);
    return this.deleteUpTo(this.samples[0]!.rev, () => true);
  }

  /** Delete the Events last written at or before `maxRev` that `expired` says are. */
  private async deleteUpTo(maxRev: number, expired: (e: ApiObject) => boolean): Promise<number> {
    const prefix = this.events.prefix();
    let deleted = 0;
    let after: string | undefined;
    for (;;) {
      const page = await this.storage.list(prefix, { after, limit: PAGE, maxModRevision: maxRev });
      for (const kv of page.items) if (await this.deleteIfExpired(kv, expired)) deleted++;
      if (!page.more || page.items.length === 0) return deleted;
      after = page.items[page.items.length - 1]!.key;
    }
  }

  private async deleteIfExpired(kv: KeyValue, expired: (e: ApiObject) => boolean): Promise<boolean> {
    const e = this.events.decode(kv);
    if (!expired(e)) return false;
    try {
      await this.events.delete(e.metadata.namespace!, e.metadata.name!, {
        preconditions: { uid: e.metadata.uid, resourceVersion: String(kv.modRevision) },
        actor: SYSTEM_ACTORS.eventTtl,
      });
      return true;
    } catch {
      // Deleted by another replica, or written again meanwhile: nothing to do.
      return false;
    }
  }
}

export function startEventTtl(events: ResourceRegistry, storage: Storage, options: EventTtlOptions): { stop(): void } {
  const sweeper = new EventSweeper(events, storage, options.ttlMs);
  const tick = () => {
    sweeper.sweep((options.now ?? Date.now)()).catch((err: unknown) => options.onError?.(err));
  };
  const timer = setInterval(tick, options.intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
