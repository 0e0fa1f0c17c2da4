import { describe, expect, it } from 'vitest';
import { declaredFor, describeChange, withServerChange } from './servers.ts';

describe('server declarations', () => {
  it('updates the entry for a server, keeping its other fields, and never mutates the input', () => {
    const before = [{ backend: 'app', server: 's1', state: 'ready' as const, weight: 50 }];
    const after = withServerChange(before, 'app', 's1', { state: 'drain' });
    expect(after).toEqual([{ backend: 'app', server: 's1', state: 'drain', weight: 50 }]);
    expect(before[0]!.state).toBe('ready');
  });

  it('appends an entry for a server not declared yet', () => {
    expect(withServerChange([], 'app', 's2', { weight: 10 })).toEqual([{ backend: 'app', server: 's2', weight: 10 }]);
  });

  it('finds a declaration and words the change for the confirmation', () => {
    expect(declaredFor([{ backend: 'app', server: 's1', state: 'maint' }], 'app', 's1')?.state).toBe('maint');
    expect(declaredFor(undefined, 'app', 's1')).toBeUndefined();
    expect(describeChange({ state: 'drain' }, 'app', 's1', 'edge-1')).toMatch(/^Drain app\/s1 on edge-1/);
    expect(describeChange({ weight: 0 }, 'app', 's1', 'edge-1')).toBe('Set the weight of app/s1 on edge-1 to 0.');
  });
});
