import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../../test/support/app.ts';
import type { ResourceRegistry } from './registry.ts';
import { sweepEvents } from './event-ttl.ts';

let t: TestApp;
beforeEach(async () => {
  t = await buildTestApp();
});
afterEach(() => t.close());

const event = (name: string, lastTimestamp: string) => ({
  metadata: { name },
  involvedObject: { kind: 'HAProxyInstance', name: 'edge-1' },
  type: 'Normal',
  reason: 'ConfigApplied',
  lastTimestamp,
});

describe('event TTL', () => {
  it('deletes events last seen before the TTL and keeps the rest', async () => {
    for (const [name, ts] of [['old', '2026-11-23T08:00:00Z'], ['new', '2026-11-23T09:30:00Z']] as const) {
      const res = await t.app.inject({ method: 'POST', url: '/apis/haproxyhq.io/v1alpha1/namespaces/default/events', headers: t.headers, payload: event(name, ts) });
      expect(res.statusCode).toBe(201);
    }
    const registries = t.app.getDecorator<Map<string, ResourceRegistry>>('registries');
    const deleted = await sweepEvents(registries.get('events')!, 60 * 60 * 1000, Date.parse('2026-11-23T10:00:00Z'));
    expect(deleted).toBe(1);
    const left = await registries.get('events')!.list(undefined, {});
    expect(left.items.map((e) => e.metadata.name)).toEqual(['new']);
  });
});
