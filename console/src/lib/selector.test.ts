import { describe, expect, it } from 'vitest';
import { selectorToString } from './selector.ts';

describe('selectorToString', () => {
  it('writes matchLabels and every matchExpressions operator in the API query form', () => {
    expect(
      selectorToString({
        matchLabels: { env: 'prod', tier: 'edge' },
        matchExpressions: [
          { key: 'region', operator: 'In', values: ['eu', 'us'] },
          { key: 'zone', operator: 'NotIn', values: ['a'] },
          { key: 'canary', operator: 'Exists' },
          { key: 'legacy', operator: 'DoesNotExist' },
        ],
      }),
    ).toBe('env=prod,tier=edge,region in (eu,us),zone notin (a),canary,!legacy');
  });

  it('is empty for no selector (which matches everything in the namespace)', () => {
    expect(selectorToString(undefined)).toBe('');
    expect(selectorToString({})).toBe('');
  });
});
