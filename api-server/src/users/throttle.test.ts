import { describe, expect, it } from 'vitest';
import { LoginThrottle } from './throttle.ts';

describe('LoginThrottle', () => {
  const make = () => {
    let now = 1_000_000;
    const t = new LoginThrottle({ now: () => now });
    return { t, advance: (ms: number) => (now += ms) };
  };

  it('locks a name after 5 failures for 30 s, then doubles per failure up to 15 minutes', () => {
    const { t, advance } = make();
    for (let i = 0; i < 5; i++) expect(t.attempt(`10.0.0.${i}`, 'alice')).toBe(0);
    expect(t.attempt('10.0.1.1', 'alice')).toBe(30_000);
    advance(30_000);
    const locks: number[] = [];
    for (let i = 0; i < 8; i++) {
      expect(t.attempt('10.0.2.1', 'alice')).toBe(0);
      locks.push(t.attempt('10.0.2.2', 'alice'));
      advance(locks.at(-1)!);
    }
    expect(locks).toEqual([60_000, 120_000, 240_000, 480_000, 900_000, 900_000, 900_000, 900_000]);
  });

  it('locks an address after 10 failures whatever the names; a success gives back only its own attempt', () => {
    const { t, advance } = make();
    for (let i = 0; i < 10; i++) expect(t.attempt('10.0.0.1', `user-${i}`)).toBe(0);
    expect(t.attempt('10.0.0.1', 'bob')).toBe(30_000);
    expect(t.attempt('10.0.0.2', 'bob')).toBe(0);
    advance(30_000);
    expect(t.attempt('10.0.0.1', 'bob')).toBe(0);
    t.succeeded('10.0.0.1', 'bob');
    // Not locked by the attempt that succeeded; the next failure locks again, longer.
    expect(t.attempt('10.0.0.1', 'carol')).toBe(0);
    expect(t.attempt('10.0.0.1', 'carol')).toBe(60_000);
  });

  it('counts an attempt as failed from its start, and forgets failures 15 minutes after the last', () => {
    const { t } = make();
    // Five concurrent attempts pass; the sixth, before any has failed, does not.
    for (let i = 0; i < 5; i++) expect(t.attempt(`10.0.0.${i}`, 'dan')).toBe(0);
    expect(t.attempt('10.0.0.9', 'dan')).toBeGreaterThan(0);
    const { t: t2, advance: advance2 } = make();
    for (let i = 0; i < 4; i++) t2.attempt('10.0.0.1', 'erin');
    advance2(15 * 60_000 + 1);
    for (let i = 0; i < 4; i++) expect(t2.attempt('10.0.0.1', 'erin')).toBe(0);
    expect(t2.attempt('10.0.0.1', 'erin')).toBe(0);
    expect(t2.attempt('10.0.0.1', 'erin')).toBe(30_000);
  });

  it('a success starts the name afresh', () => {
    const { t } = make();
    for (let i = 0; i < 4; i++) t.attempt(`10.0.0.${i}`, 'fay');
    t.attempt('10.0.0.9', 'fay');
    t.succeeded('10.0.0.9', 'fay');
    for (let i = 0; i < 5; i++) expect(t.attempt(`10.0.1.${i}`, 'fay')).toBe(0);
  });
});
