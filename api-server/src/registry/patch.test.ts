import { describe, expect, it } from 'vitest';
import { applyJsonPatch, applyMergePatch, deepEqual } from './patch.ts';

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

describe('deepEqual (JSON equality)', () => {
  it('ignores key order and undefined properties, as JSON does', () => {
    expect(deepEqual({ a: 1, b: { c: [1, { d: 2, e: 'x' }] } }, { b: { c: [1, { e: 'x', d: 2 }] }, a: 1 })).toBe(true);
    expect(deepEqual({ a: 1, u: undefined }, { a: 1 })).toBe(true);
    expect(deepEqual({ a: 1 }, { a: 1, u: undefined })).toBe(true);
  });
  it('tells apart what JSON tells apart', () => {
    const cases: [unknown, unknown][] = [
      [{ a: 1 }, { a: 2 }],
      [{ a: 1 }, { a: 1, b: 2 }],
      [{ a: 1, b: 2 }, { a: 1 }],
      [{ a: 1, b: undefined }, { a: 1, c: 2 }],
      [[1, 2], [2, 1]],
      [[1], [1, 1]],
      [{ a: [] }, { a: {} }],
      [{ a: null }, { a: {} }],
      [{ a: null }, {}],
      ['1', 1],
      [0, false],
      [{ a: { b: { c: 1 } } }, { a: { b: { c: '1' } } }],
    ];
    for (const [x, y] of cases) {
      expect(deepEqual(x, y), JSON.stringify([x, y])).toBe(false);
      expect(deepEqual(y, x), JSON.stringify([y, x])).toBe(false);
    }
  });
});

describe('merge patch copies', () => {
  it('shares nothing with the patch it applied', () => {
    const patch = { status: { conditions: [{ type: 'Ready', status: 'True' }], stats: { servers: { s1: { up: true } } } } };
    const out = applyMergePatch({ status: { conditions: [] } }, patch) as typeof patch;
    expect(out).toEqual(patch);
    out.status.conditions[0]!.status = 'False';
    out.status.stats.servers.s1.up = false;
    expect(patch.status.conditions[0]!.status).toBe('True');
    expect(patch.status.stats.servers.s1.up).toBe(true);
  });
});
