import { describe, expect, it } from 'vitest';
import { applyJsonPatch, applyMergePatch } from './patch.ts';

describe('merge patch (RFC 7386)', () => {
  it('merges objects, deletes nulls, replaces arrays', () => {
    expect(applyMergePatch({ a: { b: 1, c: 2 }, l: [1, 2] }, { a: { b: null, d: 3 }, l: [3] })).toEqual({ a: { c: 2, d: 3 }, l: [3] });
  });
  it('does not modify its input', () => {
    const doc = { a: { b: 1 } };
    applyMergePatch(doc, { a: { b: 2 } });
    expect(doc).toEqual({ a: { b: 1 } });
  });
});

describe('JSON patch (RFC 6902)', () => {
  const doc = { a: [1, 2], b: { 'x/y': 1, 't~': 2 } };
  it('supports every op, escaped pointers and the "-" index', () => {
    const out = applyJsonPatch(doc, [
      { op: 'add', path: '/a/-', value: 3 },
      { op: 'add', path: '/a/0', value: 0 },
      { op: 'remove', path: '/b/x~1y' },
      { op: 'replace', path: '/b/t~0', value: 5 },
      { op: 'copy', from: '/a/0', path: '/c' },
      { op: 'move', from: '/c', path: '/d' },
      { op: 'test', path: '/d', value: 0 },
    ]);
    expect(out).toEqual({ a: [0, 1, 2, 3], b: { 't~': 5 }, d: 0 });
    expect(doc.a).toEqual([1, 2]);
  });
  it('names the failing operation', () => {
    expect(() => applyJsonPatch(doc, [{ op: 'remove', path: '/nope' }])).toThrow(/operation 0 \(remove \/nope\) failed: the path does not exist/);
    expect(() => applyJsonPatch(doc, [{ op: 'frobnicate', path: '/a' }])).toThrow(/unknown op "frobnicate"/);
    expect(() => applyJsonPatch(doc, { op: 'add' })).toThrow(/must be an array/);
  });
  it('refuses prototype paths', () => {
    expect(() => applyJsonPatch({}, [{ op: 'add', path: '/__proto__/x', value: 1 }])).toThrow(/not allowed/);
  });
});
