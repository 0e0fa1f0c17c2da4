import type { AuditEvent } from '@haproxyhq/schemas';
import { describe, expect, it } from 'vitest';
import { outcome, target, versions } from './audit.ts';

const e = (over: Partial<AuditEvent>): AuditEvent => ({
  apiVersion: 'haproxyhq.io/v1alpha1',
  kind: 'AuditEvent',
  metadata: { name: 'x.0' },
  time: '2026-11-24T02:32:46.919Z',
  verb: 'update',
  user: { name: 'alice', groups: [] },
  resource: 'haproxyinstances',
  code: 200,
  ...over,
});

describe('audit wording', () => {
  it('shows versions before and after, with the missing side empty', () => {
    expect(versions(e({ resourceVersionBefore: '12', resourceVersionAfter: '15' }))).toBe('12→15');
    expect(versions(e({ resourceVersionAfter: '15' }))).toBe('→15');
    expect(versions(e({ resourceVersionBefore: '12' }))).toBe('12→');
    expect(versions(e({}))).toBe('—');
  });

  it('says a refusal in words, and names the subresource or the path', () => {
    expect(outcome(e({ code: 409, reason: 'Conflict' }))).toBe('Refused: 409 Conflict');
    expect(outcome(e({ code: 201 }))).toBe('201 OK');
    expect(target(e({ subresource: 'status' }))).toBe('haproxyinstances/status');
    expect(target(e({ resource: '', path: '/apis/x' }))).toBe('/apis/x');
  });
});
