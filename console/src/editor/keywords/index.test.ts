import { describe, expect, it } from 'vitest';
import { AVAILABLE_VERSIONS, keywordData, keywordIndex, parseVersion, pickVersion } from './index.ts';

describe('keyword data versions', () => {
  it('reads major.minor from the versions agents report', () => {
    expect(parseVersion('2.6.12-1+deb12u2')).toEqual([2, 6]);
    expect(parseVersion('3.0.5')).toEqual([3, 0]);
    expect(parseVersion('unknown')).toBeUndefined();
  });

  it('picks the same minor, else the newest older one, else the oldest; the newest without a version', () => {
    const available = ['2.4', '2.6', '2.8', '3.0'];
    expect(pickVersion('2.6.12-1+deb12u2', available)).toBe('2.6');
    expect(pickVersion('2.9-dev3', available)).toBe('2.8');
    expect(pickVersion('3.2.1', available)).toBe('3.0');
    expect(pickVersion('2.2.30', available)).toBe('2.4');
    expect(pickVersion(undefined, available)).toBe('3.0');
    expect(pickVersion('garbage', available)).toBe('3.0');
  });

  it('loads every committed data file', () => {
    expect(AVAILABLE_VERSIONS).toContain('2.6');
    expect(keywordData('2.6.12').version).toBe('2.6');
    expect(keywordData('9.9.9').version).toBe(AVAILABLE_VERSIONS[AVAILABLE_VERSIONS.length - 1]);
  });

  it('indexes proxy keywords by the sections they are valid in', () => {
    const index = keywordIndex(keywordData('2.6'));
    expect(index.keywords('backend').has('balance')).toBe(true);
    expect(index.keywords('frontend').has('balance')).toBe(false);
    expect(index.keywords('defaults').has('default_backend')).toBe(true);
    expect(index.keywords('peers').has('peer')).toBe(true);
    expect(index.firstWords('defaults').has('option')).toBe(true);
    expect(index.keywords('no-such-section').size).toBe(0);
    expect(keywordIndex(keywordData('2.6'))).toBe(index);
  });
});
