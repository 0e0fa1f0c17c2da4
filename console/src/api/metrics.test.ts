import { describe, expect, it } from 'vitest';
import { alignSeries } from './metrics.ts';

describe('alignSeries', () => {
  it('puts series sampled at different times on one axis, null where a series has no sample', () => {
    const r = alignSeries([
      { t: [10, 20, 30], values: [1, 2, 3] },
      { t: [20, 40], values: [5, 6] },
    ]);
    expect(r.t).toEqual([10, 20, 30, 40]);
    expect(r.values).toEqual([
      [1, 2, 3, null],
      [null, 5, null, 6],
    ]);
  });
});
