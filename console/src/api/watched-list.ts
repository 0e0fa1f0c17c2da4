/**
 * createWatchedList: a Solid store of a resource collection, kept live by makeWatch. Batches of
 * events are applied to a plain map (watch-reducer.ts), then only the objects they touched are
 * reconciled into the store, so a status write re-renders one row, not a thousand. Whatever reads
 * every object (summaries, filters) reads the plain map through `snapshot()` instead: through the
 * store it would track thousands of signals and re-run, and unlink them, on every batch.
 */
import { batch, createMemo, createSignal, onCleanup } from 'solid-js';
import { createStore, reconcile } from 'solid-js/store';
import type { ApiError } from './client.ts';
import { makeWatch, type WatchState } from './watch.ts';
import { applyWatchEvents, keyOf, replaceAll, type Obj } from './watch-reducer.ts';

export interface WatchedList<T extends Obj> {
  /** Keys (namespace/name) in display order; changes only when objects come or go. */
  keys: () => string[];
  /** One object by key (reactive, fine-grained). */
  get(key: string): T | undefined;
  /** Every object in key order, from the store (reactive objects: for lists that render them). */
  items: () => T[];
  /**
   * Every object in key order as plain, untracked data, new once per applied batch (list or
   * events): for summaries and filters that read all of them. Read-only.
   */
  snapshot: () => readonly T[];
  /** Whether the first list has arrived. */
  loaded: () => boolean;
  state: () => WatchState;
  /** Why the watch is reconnecting or failed. */
  error: () => ApiError | undefined;
}

export interface WatchedListOptions {
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
}

const sortKeys = (m: Map<string, unknown>) => [...m.keys()].sort();

/** Must be called inside a reactive owner (a component or createRoot): the watch stops on cleanup. */
export function createWatchedList<T extends Obj>(opts: WatchedListOptions): WatchedList<T> {
  const [store, setStore] = createStore<{ byKey: Record<string, T | undefined> }>({ byKey: {} });
  const [keys, setKeys] = createSignal<string[]>([]);
  const [loaded, setLoaded] = createSignal(false);
  const [state, setState] = createSignal<WatchState>('connecting');
  const [error, setError] = createSignal<ApiError | undefined>();
  const held = new Map<string, T>();
  // Bumped once per applied batch: what snapshot() depends on.
  const [version, setVersion] = createSignal(0);
  let rv: string | undefined;

  const stop = makeWatch<T>({
    ...opts,
    onList(items, resourceVersion) {
      replaceAll(held, items);
      rv = resourceVersion;
      batch(() => {
        setStore('byKey', reconcile(Object.fromEntries(held) as Record<string, T>));
        setKeys(sortKeys(held));
        setLoaded(true);
        setVersion((v) => v + 1);
      });
    },
    onEvents(events) {
      const before = held.size;
      const touched = new Set<string>();
      for (const ev of events) if (ev.type !== 'BOOKMARK' && ev.type !== 'ERROR') touched.add(keyOf((ev.object as T).metadata));
      const r = applyWatchEvents(held, events, rv);
      rv = r.resourceVersion;
      if (!r.changed) return;
      batch(() => {
        let membership = held.size !== before;
        for (const k of touched) {
          const o = held.get(k);
          if (o === undefined) membership = true;
          setStore('byKey', k, o === undefined ? undefined : reconcile(o));
        }
        if (membership) setKeys(sortKeys(held));
        setVersion((v) => v + 1);
      });
    },
    onState(s, detail) {
      batch(() => {
        setState(s);
        setError(s === 'live' || s === 'connecting' ? undefined : detail);
      });
    },
  });
  onCleanup(stop);
  const items = createMemo(() => keys().map((k) => store.byKey[k]).filter((o): o is T => o !== undefined));
  const snapshot = createMemo(() => {
    version();
    return keys().map((k) => held.get(k)).filter((o): o is T => o !== undefined);
  });
  return { keys, get: (k) => store.byKey[k], items, snapshot, loaded, state, error };
}
