import { describe, expect, it } from 'vitest';
import { generatePassword, hashPassword, needsRehash, verifyPassword } from './password.ts';

const FAST = { N: 1024, r: 8, p: 1, keyLength: 32 };

describe('passwords', () => {
  it('hashes with scrypt, a fresh salt each time, and records the parameters', async () => {
    const a = await hashPassword('hunter2 hunter2', FAST);
    const b = await hashPassword('hunter2 hunter2', FAST);
    expect(a).toMatchObject({ algorithm: 'scrypt', ...FAST });
    expect(Buffer.from(a.salt, 'base64')).toHaveLength(16);
    expect(a.salt).not.toBe(b.salt);
    expect(a.hash).not.toBe(b.hash);
    expect(JSON.stringify(a)).not.toContain('hunter2');
    expect(await verifyPassword('hunter2 hunter2', a)).toBe(true);
    expect(await verifyPassword('hunter2 hunter3', a)).toBe(false);
  });

  it('matches the same text however it is composed (NFC)', async () => {
    const h = await hashPassword('caf\u00e9 au lait', FAST);
    expect(await verifyPassword('cafe\u0301 au lait', h)).toBe(true);
  });

  it('says when a hash was made with weaker parameters than today\'s, so sign-in can re-make it', async () => {
    const weak = await hashPassword('x'.repeat(12), FAST);
    expect(needsRehash(weak)).toBe(true);
    expect(needsRehash(weak, FAST)).toBe(false);
  });

  it('refuses, without throwing, stored hashes that are malformed or absurdly expensive', async () => {
    const h = await hashPassword('x'.repeat(12), FAST);
    for (const bad of [{ ...h, N: 1000 }, { ...h, N: 2 ** 24 }, { ...h, algorithm: 'md5' as 'scrypt' }, { ...h, hash: 'AAAA' }, { ...h, p: 0 }]) {
      expect(await verifyPassword('x'.repeat(12), bad)).toBe(false);
    }
  });

  it('generates passwords of 160 random bits', () => {
    const p = generatePassword();
    expect(p).toMatch(/^[A-Za-z0-9_-]{27}$/);
    expect(generatePassword()).not.toBe(p);
  });
});
