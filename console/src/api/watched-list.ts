/**
 * createWatchedList: a Solid store of a resource collection, kept live by makeWatch. Batches of
 * events are applied to a plain map (watch-reducer.ts), then only the objects they touched are
 * reconciled into the store, so a status write re-renders one row, not a thousand.
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
  /** Every object in key order (re-computed when any changes: for summaries and filters). */
  items: () => T[];
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
  return { keys, get: (k) => store.byKey[k], items, loaded, state, error };
}
