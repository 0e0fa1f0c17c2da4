import { describe, expect, it } from 'vitest';
import { unifiedDiff } from './drift.ts';

describe('unifiedDiff', () => {
  it('shows changed lines of the config and of extra files, like diff -u', () => {
    const d = unifiedDiff(
      { config: 'global\n    maxconn 100\n', files: [{ path: 'maps/a.map', content: 'x 1\n' }] },
      { config: 'global\n    maxconn 200\n', files: [{ path: 'maps/a.map', content: 'x 1\n' }, { path: 'maps/b.map', content: 'y 2\n' }] },
    );
    expect(d).toContain('--- a/haproxy.cfg');
    expect(d).toContain('+++ b/haproxy.cfg');
    expect(d).toContain('-    maxconn 100');
    expect(d).toContain('+    maxconn 200');
    expect(d).toContain('+++ b/maps/b.map');
    expect(d).not.toContain('a.map');
  });
  it('is empty when nothing differs', () => {
    expect(unifiedDiff({ config: 'a\n', files: [] }, { config: 'a\n', files: [] })).toBe('');
  });
});
