import type { APIToken } from '@haproxyhq/schemas';
import { describe, expect, it } from 'vitest';
import { expiresCell, tokenRows, ttlSeconds } from './tokens.ts';

describe('token lifetimes and rows', () => {
  it('reads kubectl durations and days', () => {
    expect(ttlSeconds('24h', 'ttl')).toBe(86_400);
    expect(ttlSeconds('1h30m', 'ttl')).toBe(5_400);
    expect(ttlSeconds('7d', 'ttl')).toBe(604_800);
    expect(() => ttlSeconds('0', 'ttl')).toThrow(/must be more than 0/);
    expect(() => ttlSeconds('a week', 'ttl')).toThrow(/invalid argument "a week" for "--ttl" flag/);
  });

  it('shows expiry as time left, expired, or never', () => {
    const now = Date.parse('2026-11-24T10:00:00Z');
    expect(expiresCell(undefined, now)).toBe('never');
    expect(expiresCell('2026-11-24T09:59:59Z', now)).toBe('expired');
    expect(expiresCell('2026-11-24T11:00:00Z', now)).toBe('in 60m');
  });

  it('lists a token by id, type, user and groups, never a secret', () => {
    const t: APIToken = {
      apiVersion: 'haproxyhq.io/v1alpha1',
      kind: 'APIToken',
      metadata: { name: '0123456789ab', creationTimestamp: '2026-11-24T09:00:00Z' },
      type: 'agent',
      user: { name: 'system:agent:default:edge-1', groups: ['system:agents'] },
      description: '',
      instance: { namespace: 'default', name: 'edge-1' },
      token: 'hq_secret',
    };
    const rows = tokenRows([t], Date.parse('2026-11-24T10:00:00Z'));
    expect(rows[1]).toEqual(['0123456789ab', 'agent', 'system:agent:default:edge-1', 'system:agents', '60m', 'never', '<none>']);
    expect(JSON.stringify(rows)).not.toContain('hq_secret');
  });
});
