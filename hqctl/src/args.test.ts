import { describe, expect, it } from 'vitest';
import { GLOBAL_FLAGS, findVerb, parseArgs, parseDuration, type FlagSpec } from './args.ts';

const specs: FlagSpec[] = [
  ...GLOBAL_FLAGS,
  { name: 'output', short: 'o', type: 'string', help: '' },
  { name: 'filename', short: 'f', type: 'strings', help: '' },
  { name: 'watch', short: 'w', type: 'bool', help: '' },
];

describe('parseArgs', () => {
  it('takes flags anywhere, in every form kubectl accepts', () => {
    const p = parseArgs(['hi', '-n', 'prod', '-oyaml', 'edge-1', '--kubeconfig=/k', '-f', 'a.yaml', '--filename', 'b.yaml', '-w'], specs, 'get');
    expect(p.positionals).toEqual(['hi', 'edge-1']);
    expect(p.flags).toMatchObject({ namespace: 'prod', output: 'yaml', kubeconfig: '/k', filename: ['a.yaml', 'b.yaml'], watch: true });
  });

  it('reads --bool=false and stops at --', () => {
    const p = parseArgs(['--watch=false', '--', '-n'], specs, 'get');
    expect(p.flags.watch).toBe(false);
    expect(p.positionals).toEqual(['-n']);
  });

  it('names an unknown flag, a missing value and a bad boolean', () => {
    expect(() => parseArgs(['--bogus'], specs, 'get')).toThrow("unknown flag: --bogus\nSee 'hqctl get --help' for usage.");
    expect(() => parseArgs(['-x'], specs, 'get')).toThrow("unknown shorthand flag: 'x' in -x");
    expect(() => parseArgs(['-n'], specs, 'get')).toThrow('flag needs an argument');
    expect(() => parseArgs(['--watch=maybe'], specs, 'get')).toThrow('invalid argument "maybe" for "--watch" flag');
  });
});

describe('findVerb', () => {
  it('skips global flags and their values', () => {
    expect(findVerb(['-n', 'prod', '--kubeconfig', 'k', 'get', 'hi'])).toEqual({ verb: 'get', rest: ['-n', 'prod', '--kubeconfig', 'k', 'hi'] });
    expect(findVerb(['--help']).verb).toBeUndefined();
  });
});

describe('parseDuration', () => {
  it('reads kubectl durations in milliseconds', () => {
    expect(parseDuration('0', 'timeout')).toBe(0);
    expect(parseDuration('90s', 'timeout')).toBe(90_000);
    expect(parseDuration('1h30m', 'timeout')).toBe(5_400_000);
    expect(parseDuration('250ms', 'timeout')).toBe(250);
    expect(() => parseDuration('10', 'timeout')).toThrow('invalid argument "10" for "--timeout" flag');
    expect(() => parseDuration('5x', 'timeout')).toThrow(/expected a duration/);
  });
});
