import { describe, expect, it } from 'vitest';
import { METADATA_FIELDS, matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector, requirementsFromSelector } from './selectors.ts';

describe('label selectors', () => {
  const labels = { env: 'prod', tier: 'edge', 'haproxyhq.io/zone': 'a' };
  it.each([
    ['env=prod', true],
    ['env==prod', true],
    ['env!=prod', false],
    ['env in (dev, prod),tier', true],
    ['env notin (prod)', false],
    ['!canary', true],
    ['haproxyhq.io/zone=a', true],
    ['missing!=x', true],
    ['', true],
  ])('%s -> %s', (sel, expected) => {
    expect(matchesLabels(parseLabelSelector(sel), labels)).toBe(expected);
  });
  it('rejects malformed selectors with the selector in the message', () => {
    expect(() => parseLabelSelector('env in (a')).toThrow(/labelSelector "env in \(a"/);
    expect(() => parseLabelSelector('Bad Key=1')).toThrow(/labelSelector/);
    expect(() => parseLabelSelector('a=b c')).toThrow(/labelSelector/);
  });
  it('evaluates LabelSelector objects', () => {
    const reqs = requirementsFromSelector({ matchLabels: { env: 'prod' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['edge'] }, { key: 'canary', operator: 'DoesNotExist' }] });
    expect(matchesLabels(reqs, labels)).toBe(true);
    expect(matchesLabels(reqs, { env: 'prod' })).toBe(false);
  });
});

describe('field selectors', () => {
  it('supports metadata.name and metadata.namespace by default', () => {
    expect(parseFieldSelector('metadata.name=a,metadata.namespace!=b')).toEqual([
      { field: 'metadata.name', op: '=', value: 'a' },
      { field: 'metadata.namespace', op: '!=', value: 'b' },
    ]);
    expect(() => parseFieldSelector('status.phase=Running')).toThrow(/field label not supported: status\.phase/);
  });
});

describe('event field labels', () => {
  it('select events by what they are about, and name the supported labels when asked for another', async () => {
    const { eventStrategy } = await import('./strategies.ts');
    const getters = { ...METADATA_FIELDS, ...eventStrategy.fieldLabels };
    const ev = { metadata: { name: 'edge-1.1', namespace: 'default' }, involvedObject: { kind: 'HAProxyInstance', name: 'edge-1' }, reason: 'ConfigApplied', type: 'Normal' };
    const reqs = parseFieldSelector('involvedObject.kind=HAProxyInstance,involvedObject.name=edge-1,type!=Warning', getters);
    expect(matchesFields(reqs, ev, getters)).toBe(true);
    expect(matchesFields(parseFieldSelector('involvedObject.name=edge-2', getters), ev, getters)).toBe(false);
    // A field the object lacks reads as '' (Kubernetes does the same).
    expect(matchesFields(parseFieldSelector('involvedObject.namespace=', getters), ev, getters)).toBe(true);
    expect(() => parseFieldSelector('source.host=x', getters)).toThrow(/field label not supported: source\.host \(fieldSelector supports metadata\.name, metadata\.namespace, involvedObject\.kind/);
  });
});
