/**
 * Password hashing with scrypt (node:crypto): a random 16-byte salt per password, and the cost
 * parameters stored beside the hash, so they can be raised later: a hash made with weaker ones
 * is re-made at the user's next sign-in (needsRehash). Verification compares with
 * timingSafeEqual. Passwords are NFC-normalised, so the same text typed on two systems matches.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

export interface ScryptParams {
  /** CPU/memory cost (a power of two). */
  N: number;
  /** Block size. */
  r: number;
  /** Parallelisation. */
  p: number;
  keyLength: number;
}

export interface PasswordHash extends ScryptParams {
  algorithm: 'scrypt';
  /** base64 */
  salt: string;
  /** base64 */
  hash: string;
}

/**
 * OWASP's scrypt alternative to N=2^17, r=8, p=1 with a quarter of the memory: N=2^15, r=8, p=3
 * (32 MiB and about 190 ms per hash on the 2-core test machine).
 */
export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 15, r: 8, p: 3, keyLength: 32 };

/** Hashes at once, at most: each takes 128·N·r bytes and a libuv thread, which file I/O also needs. */
const MAX_CONCURRENT = 2;
let running = 0;
const waiting: (() => void)[] = [];

async function limited<T>(fn: () => Promise<T>): Promise<T> {
  // A finishing hash hands its slot straight to the next waiter, so none can jump the queue.
  if (running >= MAX_CONCURRENT) await new Promise<void>((resolve) => waiting.push(resolve));
  else running++;
  try {
    return await fn();
  } finally {
    const next = waiting.shift();
    if (next) next();
    else running--;
  }
}

function derive(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  const options: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + 1024 * 1024 };
  return limited(
    () =>
      new Promise((resolve, reject) => {
        scrypt(password.normalize('NFC'), salt, params.keyLength, options, (err, key) => (err ? reject(err) : resolve(key)));
      }),
  );
}

/** A new hash of `password` with a fresh salt. */
export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<PasswordHash> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, params);
  return { algorithm: 'scrypt', N: params.N, r: params.r, p: params.p, keyLength: params.keyLength, salt: salt.toString('base64'), hash: key.toString('base64') };
}

/** Whether `password` matches; false (never a throw) for a malformed stored hash. */
export async function verifyPassword(password: string, stored: PasswordHash): Promise<boolean> {
  if (stored.algorithm !== 'scrypt' || !isSaneParams(stored)) return false;
  const expected = Buffer.from(stored.hash, 'base64');
  if (expected.length !== stored.keyLength) return false;
  const key = await derive(password, Buffer.from(stored.salt, 'base64'), stored);
  return timingSafeEqual(key, expected);
}

/** Whether a stored hash was made with weaker parameters than `current`. */
export const needsRehash = (stored: PasswordHash, current: ScryptParams = DEFAULT_SCRYPT) =>
  stored.N * stored.r * stored.p < current.N * current.r * current.p || stored.keyLength < current.keyLength;

function isSaneParams(p: ScryptParams): boolean {
  const pow2 = Number.isInteger(p.N) && p.N >= 2 && (p.N & (p.N - 1)) === 0;
  return pow2 && p.N <= 2 ** 20 && Number.isInteger(p.r) && p.r >= 1 && p.r <= 32 && Number.isInteger(p.p) && p.p >= 1 && p.p <= 16 && p.keyLength >= 16 && p.keyLength <= 64;
}

/**
 * The hash that sign-ins of unknown users are checked against, so they take as long as those of
 * real users (the answer's timing must not tell whether a user exists).
 */
let dummy: Promise<PasswordHash> | undefined;
export const dummyHash = () => (dummy ??= hashPassword(randomBytes(16).toString('base64')));

/** A random password for a generated account: 160 bits, URL-safe characters. */
export const generatePassword = () => randomBytes(20).toString('base64url');
