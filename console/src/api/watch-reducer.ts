/**
 * The pure half of a watched list: applying watch events to a map keyed by namespace/name.
 * Kept free of Solid and the DOM so it is unit-tested (watch-reducer.test.ts).
 */
import type { ObjectMeta, Status } from '@haproxyhq/schemas';

export interface Obj {
  metadata: ObjectMeta;
}

export interface WatchEvent<T extends Obj> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T | Status;
}

export const keyOf = (m: { namespace?: string; name?: string }) => `${m.namespace ?? ''}/${m.name ?? ''}`;

/** Resource versions are the store's revision here; compared as numbers when both are (opaque otherwise). */
export function isOlder(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return false;
  return a.length !== b.length ? a.length < b.length : a < b;
}

export interface ReduceResult {
  /** The list's resourceVersion after the events (what a re-watch resumes from). */
  resourceVersion: string | undefined;
  /** Whether any object changed (a bookmark alone changes none). */
  changed: boolean;
  /** A 410 Gone or other ERROR event: the caller re-lists (410) or reports it. */
  error?: Status;
}

/**
 * Apply events in order to `items` (mutated in place). An event older than the object already
 * held is dropped: after a re-list, a late event from the old stream must not roll an object back.
 */
export function applyWatchEvents<T extends Obj>(items: Map<string, T>, events: WatchEvent<T>[], resourceVersion: string | undefined): ReduceResult {
  let rv = resourceVersion;
  let changed = false;
  for (const ev of events) {
    if (ev.type === 'ERROR') return { resourceVersion: rv, changed, error: ev.object as Status };
    const obj = ev.object as T;
    const objRv = obj.metadata?.resourceVersion;
    if (ev.type === 'BOOKMARK') {
      if (objRv && !isOlder(objRv, rv)) rv = objRv;
      continue;
    }
    const key = keyOf(obj.metadata);
    const held = items.get(key);
    if (objRv && !isOlder(objRv, rv)) rv = objRv;
    if (held && isOlder(objRv, held.metadata.resourceVersion)) continue;
    if (ev.type === 'DELETED') {
      if (items.delete(key)) changed = true;
    } else {
      items.set(key, obj);
      changed = true;
    }
  }
  return { resourceVersion: rv, changed };
}

/** Replace the map's contents with a fresh list. */
export function replaceAll<T extends Obj>(items: Map<string, T>, list: T[]): void {
  items.clear();
  for (const o of list) items.set(keyOf(o.metadata), o);
}

/** Stable order for display: namespace, then name. */
export function sortedValues<T extends Obj>(items: Map<string, T>): T[] {
  return [...items.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((e) => e[1]);
}

/**
 * Split a chunk of a newline-delimited JSON stream into complete lines; returns the lines and
 * the unfinished tail to prepend to the next chunk.
 */
export function splitLines(buffer: string, chunk: string): { lines: string[]; rest: string } {
  const text = buffer + chunk;
  const parts = text.split('\n');
  const rest = parts.pop() ?? '';
  return { lines: parts.filter((l) => l.trim() !== ''), rest };
}
