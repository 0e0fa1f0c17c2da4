import { describe, expect, it } from 'vitest';
import type { HAProxyInstance } from '@haproxyhq/schemas';
import { healthOf, heartbeatAgeMs, matchesFilter, summarize, toneOf } from './health.ts';

type Conds = Record<string, 'True' | 'False' | 'Unknown'>;
const instance = (name: string, conds: Conds, appliedRevision?: string, heartbeatTime?: string): HAProxyInstance => ({
  apiVersion: 'haproxyhq.io/v1alpha1',
  kind: 'HAProxyInstance',
  metadata: { name, namespace: 'default' },
  spec: {},
  status: {
    conditions: Object.entries(conds).map(([type, status]) => ({ type, status, reason: 'R', lastTransitionTime: '2026-01-01T00:00:00Z' })),
    ...(appliedRevision ? { appliedRevision } : {}),
    ...(heartbeatTime ? { heartbeatTime } : {}),
  },
});

describe('health', () => {
  it('calls an instance disconnected before not ready, and unknown without a Ready condition', () => {
    expect(healthOf(instance('a', { Ready: 'True', AgentConnected: 'True' }))).toBe('ready');
    expect(healthOf(instance('a', { Ready: 'False' }))).toBe('not-ready');
    expect(healthOf(instance('a', { Ready: 'Unknown', AgentConnected: 'False' }))).toBe('disconnected');
    expect(healthOf(instance('a', {}))).toBe('unknown');
  });

  it('treats Drifted=True as the bad tone and the other conditions False as bad', () => {
    expect(toneOf('Drifted', { type: 'Drifted', status: 'True', lastTransitionTime: '' } as never)).toBe('bad');
    expect(toneOf('Ready', { type: 'Ready', status: 'True', lastTransitionTime: '' } as never)).toBe('good');
    expect(toneOf('Ready', undefined)).toBe('unknown');
  });

  it('summarizes a fleet: counts per health, drift, HAProxy down, failed applies and revisions by count', () => {
    const s = summarize([
      instance('a', { Ready: 'True' }, 'web-2'),
      instance('b', { Ready: 'True', Drifted: 'True' }, 'web-2'),
      instance('c', { Ready: 'False', HAProxyRunning: 'False', ConfigApplied: 'False' }, 'web-1'),
      instance('d', { AgentConnected: 'False', Ready: 'Unknown' }),
    ]);
    expect(s).toMatchObject({ total: 4, ready: 2, notReady: 1, disconnected: 1, unknown: 0, drifted: 1, haproxyDown: 1, applyFailed: 1 });
    expect(s.revisions).toEqual([
      { revision: 'web-2', count: 2 },
      { revision: '(none)', count: 1 },
      { revision: 'web-1', count: 1 },
    ]);
  });

  it('filters by condition', () => {
    const drifted = instance('b', { Ready: 'True', Drifted: 'True' });
    expect(matchesFilter(drifted, 'drifted')).toBe(true);
    expect(matchesFilter(drifted, 'not-ready')).toBe(false);
    expect(matchesFilter(instance('c', { Ready: 'False' }), 'not-ready')).toBe(true);
  });

  it('ages the heartbeat from heartbeatTime', () => {
    const i = instance('a', {}, undefined, '2026-01-01T00:00:00Z');
    expect(heartbeatAgeMs(i, Date.parse('2026-01-01T00:00:05Z'))).toBe(5000);
    expect(heartbeatAgeMs(instance('b', {}), 0)).toBeUndefined();
  });
});
