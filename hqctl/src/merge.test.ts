import { describe, expect, it } from 'vitest';
import { APPLIED_FIELDS_ANNOTATION, forCreate, forUpdate, previousFields, sameContent } from './merge.ts';

const manifest = (spec: Record<string, unknown>, labels: Record<string, string> = {}) => ({
  apiVersion: 'haproxyhq.io/v1alpha1',
  kind: 'HAProxyInstance',
  metadata: { name: 'edge-1', labels },
  spec,
});

describe('apply merge', () => {
  it('records which fields a created object’s manifest sets', () => {
    const body = forCreate(manifest({ paused: false }, { role: 'edge' }), 'default');
    expect(body.metadata).toEqual({
      name: 'edge-1',
      namespace: 'default',
      labels: { role: 'edge' },
      annotations: { [APPLIED_FIELDS_ANNOTATION]: '{"spec":["paused"],"labels":["role"],"annotations":[]}' },
    });
  });

  it('keeps fields others set (controller, server verbs, agent labels) and drops what the last apply set and this one does not', () => {
    const created = forCreate(manifest({ paused: true, values: { port: '1' } }, { role: 'edge', tier: 'a' }), 'default');
    const live = {
      ...created,
      metadata: { ...(created.metadata as object), resourceVersion: '7', labels: { role: 'edge', tier: 'a', host: 'h1' } },
      spec: { paused: true, values: { port: '1' }, configRevision: 'web-3', servers: [{ backend: 'app', server: 'a1', state: 'drain' }] },
      status: { appliedRevision: 'web-3' },
    };
    const body = forUpdate(live, manifest({ values: { port: '2' } }, { role: 'edge' }));
    expect(body.spec).toEqual({ values: { port: '2' }, configRevision: 'web-3', servers: [{ backend: 'app', server: 'a1', state: 'drain' }] });
    expect(body.metadata).toMatchObject({ resourceVersion: '7', labels: { role: 'edge', host: 'h1' } });
    expect(body.status).toBeUndefined();
    expect(previousFields(body)).toEqual({ spec: ['values'], labels: ['role'], annotations: [] });
  });

  it('uses the manifest’s own resourceVersion as the precondition when it has one', () => {
    const live = { metadata: { name: 'edge-1', resourceVersion: '9' }, spec: {} };
    const m = manifest({});
    (m.metadata as Record<string, unknown>).resourceVersion = '3';
    expect(forUpdate(live, m).metadata).toMatchObject({ resourceVersion: '3' });
  });

  it('compares spec, labels and annotations only, with empty maps as absent', () => {
    const a = { metadata: { name: 'x', resourceVersion: '1', labels: {} }, spec: { a: 1 }, status: { x: 1 } };
    const b = { metadata: { name: 'x', resourceVersion: '2' }, spec: { a: 1 } };
    expect(sameContent(a, b)).toBe(true);
    expect(sameContent(a, { ...b, spec: { a: 2 } })).toBe(false);
    expect(sameContent(a, { ...b, metadata: { labels: { k: 'v' } } })).toBe(false);
  });
});
