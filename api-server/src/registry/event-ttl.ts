/**
 * Events are a log, not state: like Kubernetes (--event-ttl, 1 h by default), the server deletes
 * those whose last occurrence is older than the TTL, so a busy fleet's events do not grow forever.
 * Safe with several replicas: deletes carry the uid precondition and a lost race is ignored.
 */
import { SYSTEM_ACTORS } from '../audit/log.ts';
import type { ResourceRegistry } from './registry.ts';

export interface EventTtlOptions {
  ttlMs: number;
  intervalMs: number;
  now?: () => number;
  onError?: (err: unknown) => void;
}

/** Delete expired events once; returns how many were deleted. */
export async function sweepEvents(events: ResourceRegistry, ttlMs: number, now = Date.now()): Promise<number> {
  let deleted = 0;
  let cont: string | undefined;
  do {
    const page = await events.list(undefined, { limit: 500, continue: cont });
    for (const e of page.items) {
      const last = Date.parse(String(e.lastTimestamp ?? e.metadata.creationTimestamp ?? ''));
      if (Number.isNaN(last) || now - last <= ttlMs) continue;
      try {
        await events.delete(e.metadata.namespace!, e.metadata.name!, { preconditions: { uid: e.metadata.uid }, actor: SYSTEM_ACTORS.eventTtl });
        deleted++;
      } catch {
        // Deleted by another replica, or updated meanwhile: nothing to do.
      }
    }
    cont = page.metadata.continue;
  } while (cont);
  return deleted;
}

export function startEventTtl(events: ResourceRegistry, options: EventTtlOptions): { stop(): void } {
  const tick = () => {
    sweepEvents(events, options.ttlMs, (options.now ?? Date.now)()).catch((err: unknown) => options.onError?.(err));
  };
  const timer = setInterval(tick, options.intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
