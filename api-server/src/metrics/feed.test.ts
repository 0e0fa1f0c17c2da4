import { describe, expect, it } from 'vitest';
import { agentStatus } from '../../test/support/agent-status.ts';
import { until } from '../../test/support/until.ts';
import type { ApiObject, ListQuery, ListResponse, ResourceRegistry, WatchQuery, WatchSink } from '../registry/registry.ts';
import { startMetricsFeed } from './feed.ts';
import { MetricsHistory } from './history.ts';

const T0 = Math.floor(Date.now() / 10_000) * 10_000 - 10 * 60_000;

const instance = (name: string, at: number, currentConnections: number): ApiObject => ({
  metadata: { name, namespace: 'default', resourceVersion: '1' },
  status: agentStatus({ at, currentConnections }),
});

/** The part of a registry the feed uses, over a list the test edits and watches it can end. */
function fakeRegistry() {
  const state = { items: [] as ApiObject[], revision: 10, lists: [] as ListQuery[], watches: [] as { q: WatchQuery; sink: WatchSink }[] };
  const registry = {
    async list(_ns: string | undefined, q: ListQuery): Promise<ListResponse> {
      state.lists.push(q);
      const from = q.continue ? Number(q.continue) : 0;
      const next = from + (q.limit ?? state.items.length);
      return {
        apiVersion: 'haproxyhq.io/v1alpha1',
        kind: 'HAProxyInstanceList',
        metadata: { resourceVersion: String(state.revision), ...(next < state.items.length ? { continue: String(next) } : {}) },
        items: state.items.slice(from, next),
      };
    },
    async watch(_ns: string | undefined, q: WatchQuery, sink: WatchSink) {
      state.watches.push({ q, sink });
      return { close() {} };
    },
  };
  return { state, registry: registry as unknown as ResourceRegistry };
}

describe('startMetricsFeed', () => {
  it('lists in pages, watches from the list, and on a broken watch re-lists and forgets what was deleted meanwhile', async () => {
    const { state, registry } = fakeRegistry();
    state.items = [instance('a', T0, 1), instance('b', T0, 2), instance('c', T0, 3)];
    const history = new MetricsHistory({ windowMs: 60 * 60_000 });
    const errors: unknown[] = [];
    const feed = startMetricsFeed(registry, history, { onError: (e) => errors.push(e), pageSize: 2 });
    try {
      await feed.synced;
      await until('the first watch', async () => state.watches.length === 1, { ms: 2000, intervalMs: 5 });
      expect(state.lists.map((q) => q.continue)).toEqual([undefined, '2']);
      expect(state.watches[0]!.q.resourceVersion).toBe('10');
      expect(history.size).toBe(3);

      state.watches[0]!.sink.event('MODIFIED', instance('a', T0 + 60_000, 5));
      expect(history.query('default', 'a').instance.currentConnections).toEqual([1, 5]);
      state.watches[0]!.sink.event('DELETED', instance('c', T0, 3));
      expect(history.size).toBe(2);

      // The stream breaks (a 410 or a lost connection); meanwhile b is deleted and a reports again.
      state.items = [instance('a', T0 + 120_000, 7)];
      state.revision = 20;
      state.watches[0]!.sink.event('ERROR', { kind: 'Status', code: 410 });
      state.watches[0]!.sink.end();
      await until('the second watch', async () => state.watches.length === 2, { ms: 2000, intervalMs: 5 });
      expect(state.watches[1]!.q.resourceVersion).toBe('20');
      expect(history.size).toBe(1);
      expect(history.query('default', 'a').instance.currentConnections).toEqual([1, 5, 7]);
      expect(errors).toEqual([]);
    } finally {
      feed.stop();
    }
  });

  it('reports a failing list and tries again', async () => {
    const { state, registry } = fakeRegistry();
    let fail = true;
    const list = registry.list.bind(registry);
    registry.list = async (ns, q) => {
      if (fail) {
        fail = false;
        throw new Error('store unavailable');
      }
      return list(ns, q);
    };
    state.items = [instance('a', T0, 1)];
    const history = new MetricsHistory({ windowMs: 60 * 60_000 });
    const errors: unknown[] = [];
    const feed = startMetricsFeed(registry, history, { onError: (e) => errors.push(e) });
    try {
      await feed.synced;
      expect(errors.map((e) => (e as Error).message)).toEqual(['store unavailable']);
      expect(history.query('default', 'a').instance.currentConnections).toEqual([1]);
    } finally {
      feed.stop();
    }
  });
});
