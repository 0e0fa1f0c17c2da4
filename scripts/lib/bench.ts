/** What the benchmark scripts share: timing, /proc readings, and writing their section of docs/benchmarks.md. */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DOC = join(REPO, 'docs', 'benchmarks.md');

export const hr = () => process.hrtime.bigint();
export const msSince = (t0: bigint) => Number(hr() - t0) / 1e6;

let clockTicks: number | undefined;
/** CPU time (user + system, ms) a process has used so far, from /proc/PID/stat. */
export function processCpuMs(pid: number): number {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which is in parentheses and may hold spaces): utime is 14th, stime 15th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
}

/** VmRSS and VmHWM (peak RSS) in MiB, from /proc/PID/status. */
export function memory(pid: number): { rss: number; hwm: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rss: kib('VmRSS') / 1024, hwm: kib('VmHWM') / 1024 };
}

/**
 * Replace this script's section of docs/benchmarks.md (between `<!-- bench:NAME:start -->` and
 * `<!-- bench:NAME:end -->`; `body` includes both markers), keeping every other section.
 */
export function writeDocSection(name: string, body: string): void {
  const start = `<!-- bench:${name}:start -->`;
  const end = `<!-- bench:${name}:end -->`;
  let doc: string;
  if (existsSync(DOC)) {
    doc = readFileSync(DOC, 'utf8');
    const a = doc.indexOf(start);
    const b = doc.indexOf(end);
    if (a >= 0 && b > a) doc = doc.slice(0, a) + body + doc.slice(b + end.length);
    else if (a >= 0 || b >= 0) throw new Error(`${DOC} has only one of the markers ${start} / ${end}: fix it by hand`);
    else doc = doc.replace(/\n*$/, '\n\n') + body + '\n';
  } else {
    doc =
      '# Benchmarks\n\n' +
      'Measured numbers, one section per benchmark script. Each script rewrites only its own section ' +
      '(between its `<!-- bench:NAME:start -->` and `<!-- bench:NAME:end -->` markers) and says in it how to ' +
      'reproduce it, when it ran and on what machine.\n\n' +
      body +
      '\n';
  }
  mkdirSync(dirname(DOC), { recursive: true });
  writeFileSync(DOC, doc);
}

/** A command-line mistake: printed with the usage, exit 2. */
export class UsageError extends Error {}

/** A comma-separated list of whole numbers of at least `min`, for option --name; a UsageError naming the bad one otherwise. */
export function intListOption(v: string, name: string, min: number): number[] {
  return v.split(',').map((part) => {
    const n = Number(part.trim());
    if (part.trim() === '' || !Number.isInteger(n) || n < min) throw new UsageError(`--${name}: ${JSON.stringify(part)} is not an integer of at least ${min}`);
    return n;
  });
}

/** A whole number of at least `min` for option --name, `fallback` when it is not given. */
export function intOption(v: string | undefined, fallback: number, name: string, min: number): number {
  if (v === undefined) return fallback;
  const [n, ...more] = intListOption(v, name, min);
  if (more.length > 0) throw new UsageError(`--${name} takes one number, not a list`);
  return n!;
}

/** Run a script's main: exit with its code (or process.exitCode), 2 with the usage on a UsageError, 1 on a failure. */
export function runMain(name: string, usage: string, main: () => Promise<number | void>): void {
  main().then(
    (code) => process.exit(typeof code === 'number' ? code : (process.exitCode ?? 0)),
    (err: unknown) => {
      if (err instanceof UsageError) {
        process.stderr.write(`${name}: ${err.message}\n\n${usage}`);
        process.exit(2);
      }
      process.stderr.write(`\n${name} FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}

/** Nearest-rank quantile of an ascending array (NaN when empty). */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** The filesystem a path is on (longest mount point that contains it), e.g. "tmpfs on /dev/shm". */
export function filesystemOf(path: string): string {
  let best = { mount: '', type: 'unknown' };
  for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
    const [, mount, type] = line.split(' ');
    if (!mount || !type) continue;
    const inside = path === mount || path.startsWith(mount.endsWith('/') ? mount : mount + '/');
    if (inside && mount.length > best.mount.length) best = { mount, type };
  }
  return `${best.type} on ${best.mount}`;
}

/** A plain-text table for the terminal: columns padded to width, text columns left-aligned, numbers right. */
export function textTable(head: string[], rows: string[][], isText: (column: number, columns: number) => boolean = () => true): string {
  const all = [head, ...rows];
  const widths = head.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (isText(i, r.length) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The machine a benchmark ran on, as every section of docs/benchmarks.md states it. */
export interface Machine {
  cpu: string;
  cores: number;
  memGiB: number;
  node: string;
  os: string;
  /** 1-minute load average when the run started: other work on the machine skews the numbers. */
  load: number;
}

export function machineFacts(): Machine {
  const c = cpus();
  return { cpu: c[0]?.model.trim() ?? 'unknown', cores: c.length, memGiB: totalmem() / 1024 ** 3, node: process.version, os: `${platform()} ${release()}`, load: loadavg()[0] ?? 0 };
}
