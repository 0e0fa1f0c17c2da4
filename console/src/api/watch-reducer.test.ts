import { describe, expect, it } from 'vitest';
import { applyWatchEvents, isOlder, replaceAll, sortedValues, splitLines, type Obj, type WatchEvent } from './watch-reducer.ts';

const obj = (name: string, rv: string, extra: Record<string, unknown> = {}, namespace = 'default'): Obj & Record<string, unknown> => ({
  metadata: { name, namespace, resourceVersion: rv },
  ...extra,
});

describe('applyWatchEvents', () => {
  it('adds, modifies and deletes objects keyed by namespace/name, and advances the resourceVersion', () => {
    const items = new Map<string, Obj>();
    const events: WatchEvent<Obj>[] = [
      { type: 'ADDED', object: obj('a', '5') },
      { type: 'ADDED', object: obj('a', '6', {}, 'other') },
      { type: 'MODIFIED', object: obj('a', '7', { spec: 1 }) },
      { type: 'ADDED', object: obj('b', '8') },
      { type: 'DELETED', object: obj('b', '9') },
    ];
    const r = applyWatchEvents(items, events, '4');
    expect(r).toEqual({ resourceVersion: '9', changed: true });
    expect([...items.keys()].sort()).toEqual(['default/a', 'other/a']);
    expect(items.get('default/a')).toMatchObject({ spec: 1 });
  });

  it('drops an event older than the object held (a late event after a re-list)', () => {
    const items = new Map<string, Obj>();
    replaceAll(items, [obj('a', '20', { v: 'new' })]);
    const r = applyWatchEvents(items, [{ type: 'MODIFIED', object: obj('a', '12', { v: 'old' }) }], '20');
    expect(r.changed).toBe(false);
    expect(items.get('default/a')).toMatchObject({ v: 'new' });
    // Numeric comparison, not string: "100" is newer than "99".
    applyWatchEvents(items, [{ type: 'MODIFIED', object: obj('a', '100', { v: 'newer' }) }], '99');
    expect(items.get('default/a')).toMatchObject({ v: 'newer' });
  });

  it('takes a bookmark as a resourceVersion only', () => {
    const items = new Map<string, Obj>();
    const r = applyWatchEvents(items, [{ type: 'BOOKMARK', object: obj('', '42') }], '10');
    expect(r).toEqual({ resourceVersion: '42', changed: false });
    expect(items.size).toBe(0);
  });

  it('stops at an ERROR event and returns its Status (410 Gone makes the caller re-list)', () => {
    const items = new Map<string, Obj>();
    const gone = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', code: 410, reason: 'Expired', message: 'too old resource version' } as const;
    const r = applyWatchEvents(items, [{ type: 'ADDED', object: obj('a', '3') }, { type: 'ERROR', object: gone }, { type: 'ADDED', object: obj('b', '4') }], '1');
    expect(r.error?.code).toBe(410);
    expect(r.resourceVersion).toBe('3');
    expect([...items.keys()]).toEqual(['default/a']);
  });
});

describe('helpers', () => {
  it('compares resourceVersions numerically and treats non-numeric ones as opaque', () => {
    expect(isOlder('9', '10')).toBe(true);
    expect(isOlder('10', '9')).toBe(false);
    expect(isOlder('10', '10')).toBe(false);
    expect(isOlder('abc', '10')).toBe(false);
    expect(isOlder(undefined, '10')).toBe(false);
  });

  it('sorts by namespace, then name', () => {
    const items = new Map<string, Obj>();
    replaceAll(items, [obj('b', '1'), obj('a', '2', {}, 'z'), obj('a', '3')]);
    expect(sortedValues(items).map((o) => `${o.metadata.namespace}/${o.metadata.name}`)).toEqual(['default/a', 'default/b', 'z/a']);
  });

  it('splits a newline-delimited JSON stream across chunk boundaries', () => {
    let r = splitLines('', '{"a":1}\n{"b":');
    expect(r).toEqual({ lines: ['{"a":1}'], rest: '{"b":' });
    r = splitLines(r.rest, '2}\n\n');
    expect(r).toEqual({ lines: ['{"b":2}'], rest: '' });
  });
});
