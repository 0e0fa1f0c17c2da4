import { describe, expect, it } from 'vitest';
import { parseServer, withChange } from './servers.ts';

describe('server verbs', () => {
  it('parses BACKEND/SERVER with the names HAProxy allows', () => {
    expect(parseServer('app/app-1.a:b')).toEqual({ backend: 'app', server: 'app-1.a:b' });
    for (const bad of ['app', '/a', 'a/', 'a/b/c', 'a b/c', 'a/b;c']) {
      expect(() => parseServer(bad)).toThrow(`"${bad}" is not BACKEND/SERVER`);
    }
  });

  it('updates the existing entry, keeping its other field, or appends one', () => {
    const servers = [{ backend: 'app', server: 'a1', state: 'drain' as const, weight: 5 }];
    expect(withChange(servers, [{ backend: 'app', server: 'a1' }], { state: 'ready' })).toEqual([{ backend: 'app', server: 'a1', state: 'ready', weight: 5 }]);
    expect(withChange(servers, [{ backend: 'app', server: 'a2' }], { weight: 0 })).toEqual([...servers, { backend: 'app', server: 'a2', weight: 0 }]);
    expect(servers[0]!.state).toBe('drain');
  });
});
