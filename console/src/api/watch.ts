/**
 * makeWatch: list, then watch, over fetch with newline-delimited JSON (so the bearer header can be
 * sent, which EventSource cannot; a password session's cookie goes along by itself).
 * Non-reactive: it calls back with the list and with batches of events; createWatchedList makes
 * a Solid store of it. Level-driven like the agent: after a 410
 * it re-lists, after a dropped stream it resumes from the last resourceVersion with backoff, and
 * it says which of those it is doing (the console shows live / reconnecting / stale).
 */
import { ApiError, api, errorFrom, query } from './client.ts';
import { session } from './session.ts';
import { isOlder, splitLines, type Obj, type WatchEvent } from './watch-reducer.ts';

export type WatchState = 'connecting' | 'live' | 'reconnecting' | 'stale' | 'failed';

export interface WatchOptions<T extends Obj> {
  /** Collection path, e.g. /apis/haproxyhq.io/v1alpha1/haproxyinstances. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** A full list (at start and after a 410): replaces everything held. */
  onList(items: T[], resourceVersion: string): void;
  /** Events in arrival order, batched per animation frame. */
  onEvents(events: WatchEvent<T>[]): void;
  onState(state: WatchState, detail?: ApiError): void;
  /** Seconds the server keeps one watch open before we re-open it (default 240). */
  timeoutSeconds?: number;
}

/** After this long without a live stream the data on screen is called stale, not just reconnecting. */
export const STALE_AFTER_MS = 15_000;

const nextFrame = (fn: () => void) =>
  typeof requestAnimationFrame === 'function' ? requestAnimationFrame(() => fn()) : setTimeout(fn, 16);

/** Start watching; returns a stop function. */
export function makeWatch<T extends Obj>(o: WatchOptions<T>): () => void {
  let stopped = false;
  let controller: AbortController | undefined;
  let rv: string | undefined;
  let queued: WatchEvent<T>[] = [];
  let frameRequested = false;
  let lostSince: number | undefined;
  let staleTimer: ReturnType<typeof setTimeout> | undefined;
  const selectors = { labelSelector: o.labelSelector, fieldSelector: o.fieldSelector };

  const flush = () => {
    frameRequested = false;
    if (stopped || queued.length === 0) return;
    const batch = queued;
    queued = [];
    o.onEvents(batch);
  };
  const push = (ev: WatchEvent<T>) => {
    queued.push(ev);
    if (!frameRequested) {
      frameRequested = true;
      nextFrame(flush);
    }
  };

  const setLive = () => {
    lostSince = undefined;
    if (staleTimer) clearTimeout(staleTimer);
    staleTimer = undefined;
    o.onState('live');
  };
  const setLost = (err?: ApiError) => {
    if (lostSince === undefined) {
      lostSince = Date.now();
      staleTimer = setTimeout(() => {
        if (!stopped && lostSince !== undefined) o.onState('stale', err);
      }, STALE_AFTER_MS);
      o.onState('reconnecting', err);
    } else if (Date.now() - lostSince >= STALE_AFTER_MS) {
      o.onState('stale', err);
    } else {
      o.onState('reconnecting', err);
    }
  };

  const list = async (signal: AbortSignal) => {
    const l = await api<{ metadata: { resourceVersion?: string }; items: T[] }>(`${o.path}${query(selectors)}`, { signal });
    rv = l.metadata.resourceVersion;
    // Events queued from the old stream are older than this list.
    queued = [];
    o.onList(l.items, rv ?? '');
  };

  /** One watch stream until it ends; returns 'gone' for a 410, 'ended' otherwise. */
  const stream = async (signal: AbortSignal): Promise<'gone' | 'ended'> => {
    const url = `${o.path}${query({ ...selectors, watch: true, resourceVersion: rv, allowWatchBookmarks: true, timeoutSeconds: o.timeoutSeconds ?? 240 })}`;
    const token = session.token();
    // Without a token, the session cookie goes along (same origin).
    const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal, cache: 'no-store', credentials: 'same-origin' });
    if (res.status === 410) return 'gone';
    if (!res.ok || !res.body) throw await errorFrom(res);
    setLive();
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let rest = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return 'ended';
      const split = splitLines(rest, value);
      rest = split.rest;
      for (const line of split.lines) {
        const ev = JSON.parse(line) as WatchEvent<T>;
        if (ev.type === 'ERROR') {
          const status = ev.object as { code?: number };
          if (status.code === 410) return 'gone';
          throw new ApiError(status.code ?? 500, 'WatchError', (ev.object as { message?: string }).message ?? 'the watch failed');
        }
        const objRv = (ev.object as T).metadata?.resourceVersion;
        if (objRv && !isOlder(objRv, rv)) rv = objRv;
        push(ev);
      }
    }
  };

  const run = async () => {
    let failures = 0;
    let needList = true;
    o.onState('connecting');
    while (!stopped) {
      controller = new AbortController();
      try {
        if (needList) {
          await list(controller.signal);
          needList = false;
        }
        const how = await stream(controller.signal);
        failures = 0;
        if (how === 'gone') needList = true;
        // A stream that ended by its timeout is re-opened at once from the last resourceVersion.
      } catch (err) {
        if (stopped) return;
        const e = err instanceof ApiError ? err : new ApiError(0, 'NetworkError', `the watch stream broke: ${(err as Error).message}`);
        // A client error other than throttling will not fix itself: say so and stop.
        if (e.code >= 400 && e.code < 500 && e.code !== 429 && e.code !== 408) {
          o.onState('failed', e);
          return;
        }
        failures++;
        setLost(e);
        const backoff = Math.min(30_000, 500 * 2 ** Math.min(failures, 6)) * (0.5 + Math.random() / 2);
        await new Promise((r) => setTimeout(r, backoff));
      }
    }
  };
  void run();
  return () => {
    stopped = true;
    if (staleTimer) clearTimeout(staleTimer);
    controller?.abort();
  };
}
