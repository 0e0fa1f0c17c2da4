/**
 * The real binaries tests and benchmarks need (haproxy, etcd, chromium, wrk), from Debian's
 * packages: found on PATH, or, as root with apt-get (CI), installed once. One lock for every
 * package, because dpkg has one lock: test files starting in parallel wait for each other
 * instead of failing on it. Never a skip: missing and not installable is an error saying what to do.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, rmSync } from 'node:fs';
import { open, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

const EXTRA_DIRS = ['/usr/sbin', '/usr/local/sbin', '/sbin', '/usr/bin'];
const LOCK = join(tmpdir(), 'haproxyhq-apt-install.lock');
const LOCK_STALE_MS = 15 * 60_000;

/** An executable named `name` on PATH (or in the sbin dirs a non-login PATH may lack). */
export function findOnPath(name: string): string | undefined {
  for (const d of (process.env.PATH ?? '').split(delimiter).concat(EXTRA_DIRS)) {
    if (!d) continue;
    const p = join(d, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, output: `${stdout}${stderr}` });
    });
  });
}

async function withLock<T>(fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 20 * 60_000;
  for (;;) {
    try {
      const h = await open(LOCK, 'wx');
      await h.writeFile(String(process.pid));
      await h.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const info = await stat(LOCK).catch(() => undefined);
      if (info && Date.now() - info.mtimeMs > LOCK_STALE_MS) {
        await unlink(LOCK).catch(() => {});
        continue;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${LOCK} (another apt-get install)`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(LOCK, { force: true });
  }
}

export interface DebianBinary {
  /** The executable's name, e.g. haproxy. */
  binary: string;
  /** The Debian package that ships it, e.g. haproxy. */
  pkg: string;
  /** What a person should do when it cannot be installed here. */
  howTo: string;
  /** Minutes apt-get may take (chromium is large). Default 10. */
  timeoutMinutes?: number;
}

/** The binary's path, installing its package with apt-get when missing and allowed (root). */
export async function ensureDebianBinary(o: DebianBinary): Promise<string> {
  const found = findOnPath(o.binary);
  if (found) return found;
  const apt = findOnPath('apt-get');
  if (process.getuid?.() !== 0 || !apt) throw new Error(`${o.binary} is not installed. ${o.howTo}`);
  return withLock(async () => {
    const again = findOnPath(o.binary);
    if (again) return again; // installed by another process while we waited
    const ms = (o.timeoutMinutes ?? 10) * 60_000;
    // Wait for a dpkg lock held by something else (unattended upgrades) rather than fail on it.
    const install = () => run(apt, ['-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '--no-install-recommends', o.pkg], ms);
    let r = await install();
    if (r.code !== 0) {
      // Usually a stale or missing package list.
      await run(apt, ['-o', 'DPkg::Lock::Timeout=300', 'update'], ms);
      r = await install();
    }
    const bin = findOnPath(o.binary);
    if (!bin) throw new Error(`apt-get install -y ${o.pkg} failed (exit ${r.code}):\n${r.output.slice(-2000)}\n${o.howTo}`);
    return bin;
  });
}
