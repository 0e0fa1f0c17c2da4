/**
 * Feeds a MetricsHistory from the store's watch of haproxyinstances in all namespaces, not from
 * this server's write path: every replica (leader or not, on etcd) sees every agent's status
 * write, so any replica can answer for any instance.
 *
 * Not the controllers' informer (controllers/informer.ts): it keeps a copy of every object, and
 * the history needs none (it keeps its own compact arrays); at 10,000 instances with their stats
 * summaries such a cache would cost more than the history itself. The loop is the informer's:
 * list (in pages), watch from the list's resourceVersion, and on a 410 or a broken stream list
 * again, forgetting the instances that are gone.
 */
import type { ResourceRegistry } from '../registry/registry.ts';
import type { Watch } from '../storage/types.ts';
import type { MetricsHistory } from './history.ts';

export interface MetricsFeedOptions {
  onError(err: unknown): void;
  /** How often sweep() runs (default a minute, or the window when shorter). */
  sweepIntervalMs?: number;
  /** Page size of the (re-)list. */
  pageSize?: number;
}

export interface MetricsFeed {
  /** Resolves after the first full list. */
  readonly synced: Promise<void>;
  stop(): void;
}

/** Start filling `history` from `instances`' watch, until stop(). */
export function startMetricsFeed(instances: ResourceRegistry, history: MetricsHistory, o: MetricsFeedOptions): MetricsFeed {
  let stopped = false;
  let watch: Watch | undefined;
  let retry: NodeJS.Timeout | undefined;
  let markSynced!: () => void;
  const synced = new Promise<void>((resolve) => (markSynced = resolve));
  // Watch events run inside the store's fan-out of a write to every watcher, and a list page
  // is one of many: a failure on one object must cost its sample, never another watcher its
  // event or the feed its list.
  const record = (namespace: string, name: string, status: unknown) => {
    try {
      history.record(namespace, name, status);
    } catch (err) {
      o.onError(err);
    }
  };

  const relist = async (): Promise<void> => {
    while (!stopped) {
      try {
        const seen = new Set<string>();
        let cont: string | undefined;
        let resourceVersion: string | undefined;
        // Pages over one snapshot (the continue token pins its revision): a full list of 10,000
        // instances with their stats is never decoded at once.
        do {
          const page = await instances.list(undefined, { limit: o.pageSize ?? 500, continue: cont });
          if (stopped) return;
          resourceVersion ??= page.metadata.resourceVersion;
          for (const item of page.items) {
            const { namespace, name } = item.metadata;
            seen.add(`${namespace}/${name}`);
            record(namespace!, name!, item.status);
          }
          cont = page.metadata.continue;
        } while (cont);
        history.retain(seen);
        markSynced();
        watch = await instances.watch(undefined, { resourceVersion }, {
          event(type, object) {
            if (stopped || type === 'ERROR' || type === 'BOOKMARK') return; // an ERROR (410) is followed by end()
            const { metadata, status } = object as { metadata: { namespace: string; name: string }; status?: unknown };
            if (type === 'DELETED') history.drop(metadata.namespace, metadata.name);
            else record(metadata.namespace, metadata.name, status);
          },
          end() {
            if (!stopped) retry = setTimeout(() => void relist(), 200);
          },
        });
        if (stopped) watch.close();
        return;
      } catch (err) {
        if (stopped) return;
        o.onError(err);
        await new Promise((r) => (retry = setTimeout(r, 1000)));
      }
    }
  };
  void relist();
  const sweeper = setInterval(() => history.sweep(), o.sweepIntervalMs ?? Math.min(60_000, history.windowMs));
  sweeper.unref();
  return {
    synced,
    stop() {
      stopped = true;
      clearInterval(sweeper);
      clearTimeout(retry);
      watch?.close();
    },
  };
}
