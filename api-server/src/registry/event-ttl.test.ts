import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { buildTestApp, type TestApp } from '../../test/support/app.ts';
import { ResourceRegistry } from './registry.ts';
import { EventSweeper } from './event-ttl.ts';

let t: TestApp;
let events: ResourceRegistry;
beforeEach(async () => {
  t = await buildTestApp();
  events = t.app.getDecorator<Map<string, ResourceRegistry>>('registries').get('events')!;
});
afterEach(() => t.close());

const HOUR = 60 * 60 * 1000;
const T0 = Date.parse('2026-11-23T10:00:00Z');

const event = (name: string, lastTimestamp: string) => ({
  metadata: { name },
  involvedObject: { kind: 'HAProxyInstance', name: 'edge-1' },
  type: 'Normal',
  reason: 'ConfigApplied',
  lastTimestamp,
});

async function post(name: string, lastTimestamp = '2026-11-23T09:30:00Z') {
  const res = await t.app.inject({ method: 'POST', url: '/apis/haproxyhq.io/v1alpha1/namespaces/default/events', headers: t.headers, payload: event(name, lastTimestamp) });
  expect(res.statusCode).toBe(201);
  return res.json() as { metadata: { resourceVersion: string } };
}

const names = async () => (await events.list(undefined, {})).items.map((e) => e.metadata.name!);

describe('event TTL', () => {
  it('the first sweep after a start reads every Event and deletes those last seen before the TTL', async () => {
    await post('old', '2026-11-23T08:00:00Z');
    await post('new', '2026-11-23T09:30:00Z');
    expect(await new EventSweeper(events, t.storage, HOUR).sweep(T0)).toBe(1);
    expect(await names()).toEqual(['new']);
  });

  it('later sweeps delete what was last written a TTL ago by the server\'s clock, as an etcd lease would', async () => {
    const sweeper = new EventSweeper(events, t.storage, HOUR);
    await post('before-start', '2026-11-23T09:50:00Z');
    expect(await sweeper.sweep(T0)).toBe(0); // recent by its timestamp: kept
    // Written after that sweep, with a timestamp long past (an agent's clock is not the server's).
    await post('skewed', '2026-01-01T00:00:00Z');
    expect(await sweeper.sweep(T0 + HOUR / 2)).toBe(0); // nothing was written a TTL ago yet
    await post('later');
    // A TTL after the first sweep: what was written before it goes, what came after stays.
    expect(await sweeper.sweep(T0 + HOUR)).toBe(1);
    expect(await names()).toEqual(['later', 'skewed']);
    // Half a TTL on, the second sweep's revision is a TTL old: 'skewed' (written before it) goes.
    expect(await sweeper.sweep(T0 + HOUR + HOUR / 2)).toBe(1);
    expect(await names()).toEqual(['later']);
    expect(await sweeper.sweep(T0 + 2 * HOUR + HOUR / 2)).toBe(1);
    expect(await names()).toEqual([]);
  });

  it('keeps an Event written again since the cutoff, and never parses an Event that is not expired', async () => {
    const sweeper = new EventSweeper(events, t.storage, HOUR);
    await post('again');
    for (let i = 0; i < 50; i++) await post(`quiet-${i}`);
    expect(await sweeper.sweep(T0)).toBe(0);
    for (let i = 0; i < 200; i++) await post(`fresh-${i}`);
    const url = '/apis/haproxyhq.io/v1alpha1/namespaces/default/events/again';
    const again = (await t.app.inject({ method: 'GET', url, headers: t.headers })).json() as Record<string, unknown>;
    const put = await t.app.inject({ method: 'PUT', url, headers: t.headers, payload: { ...again, message: 'seen again' } });
    expect(put.statusCode).toBe(200);
    const decode = vi.spyOn(ResourceRegistry.prototype, 'decode');
    try {
      expect(await sweeper.sweep(T0 + HOUR)).toBe(50);
      // Read for deletion: the 50 expired ones (each parsed once, plus the delete's own read).
      // Neither 'again' nor the 200 fresh ones.
      const parsed = decode.mock.calls.map(([kv]) => kv.key.split('/').pop());
      expect(parsed.filter((n) => n === 'again' || n!.startsWith('fresh-'))).toEqual([]);
    } finally {
      decode.mockRestore();
    }
    expect((await names()).filter((n) => n.startsWith('quiet-'))).toEqual([]);
    expect(await names()).toContain('again');
  });
});
