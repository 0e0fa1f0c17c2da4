/**
 * An in-process informer: list, then watch from the list's resourceVersion, keeping a map of
 * every object of one resource (all namespaces). On a 410 or a broken stream it re-lists, as
 * client-go's reflector does, so the cache converges whatever was missed.
 */
import type { ApiObject, ResourceRegistry } from '../registry/registry.ts';
import type { Watch } from '../storage/types.ts';

export interface Informer {
  /** Every cached object, keyed "namespace/name". */
  readonly items: ReadonlyMap<string, ApiObject>;
  /** Resolves after the first list. */
  readonly synced: Promise<void>;
  /** Put an object we just wrote into the cache (kept only if newer than what is there). */
  observe(obj: ApiObject): void;
  stop(): void;
}

export const objectKey = (o: ApiObject) => `${o.metadata.namespace}/${o.metadata.name}`;

export function startInformer(
  registry: ResourceRegistry,
  onChange: (obj: ApiObject, old: ApiObject | undefined, type: 'ADDED' | 'MODIFIED' | 'DELETED') => void,
  onError: (err: unknown) => void,
  /** What to keep of each object (client-go's SetTransform): drop what the controller never reads. */
  transform: (obj: ApiObject) => ApiObject = (o) => o,
): Informer {
  const items = new Map<string, ApiObject>();
  let stopped = false;
  let watch: Watch | undefined;
  let markSynced!: () => void;
  const synced = new Promise<void>((resolve) => (markSynced = resolve));

  const relist = async (): Promise<void> => {
    while (!stopped) {
      try {
        const list = await registry.list(undefined, {});
        const seen = new Set<string>();
        for (const item of list.items) {
          const obj = transform(item);
          const key = objectKey(obj);
          seen.add(key);
          const old = items.get(key);
          items.set(key, obj);
          if (old?.metadata.resourceVersion !== obj.metadata.resourceVersion) onChange(obj, old, old ? 'MODIFIED' : 'ADDED');
        }
        for (const [key, old] of items) {
          if (!seen.has(key)) {
            items.delete(key);
            onChange(old, old, 'DELETED');
          }
        }
        markSynced();
        watch = await registry.watch(undefined, { resourceVersion: list.metadata.resourceVersion }, {
          event(type, object) {
            if (stopped) return;
            if (type === 'ERROR') return; // a 410: end() follows, and we re-list
            if (type === 'BOOKMARK') return;
            const obj = transform(object as ApiObject);
            const key = objectKey(obj);
            const old = items.get(key);
            if (type === 'DELETED') items.delete(key);
            // observe() may already hold a newer copy of our own write.
            else if (old && Number(old.metadata.resourceVersion) > Number(obj.metadata.resourceVersion)) return;
            else items.set(key, obj);
            onChange(obj, old, type);
          },
          end() {
            if (!stopped) setTimeout(() => void relist(), 200);
          },
        });
        return;
      } catch (err) {
        onError(err);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  };
  void relist();
  return {
    items,
    synced,
    observe(obj) {
      const key = objectKey(obj);
      const have = items.get(key);
      if (!have || Number(have.metadata.resourceVersion) < Number(obj.metadata.resourceVersion)) items.set(key, obj);
    },
    stop() {
      stopped = true;
      watch?.close();
    },
  };
}
