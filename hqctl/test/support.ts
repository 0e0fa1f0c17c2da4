/**
 * Runs hqctl as a person or a pipeline does: a real child process on the pinned Node, so exit
 * codes, stdout and stderr are the real ones. The environment is cleared of kubeconfig and HQ_*
 * variables so a developer's own settings never leak into a test.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServerProcess } from '../../api-server/test/support/server.ts';

export const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const NODE = join(repo, 'node_modules', '.bin', 'node');
export const HQCTL = join(repo, 'hqctl', 'src', 'main.ts');
export const EXAMPLES = join(repo, 'manifests', 'examples');
export const BASE = '/apis/haproxyhq.io/v1alpha1';

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k === 'KUBECONFIG' || k.startsWith('HQ_')) continue;
    env[k] = v;
  }
  // No ~/.kube/config of the developer's either.
  env.HOME = '/nonexistent';
  return { ...env, ...extra };
}

export interface RunOptions {
  input?: string;
  env?: Record<string, string>;
  /** Do not pass the server's kubeconfig (tests of --server/--token and of no configuration). */
  noKubeconfig?: boolean;
  cwd?: string;
}

/** Run `hqctl ARGS` against `server` (through HQ_KUBECONFIG) and collect what it printed. */
export function hqctl(server: ServerProcess | undefined, args: string[], opts: RunOptions = {}): Promise<Result> {
  const env = cleanEnv({ ...(server && !opts.noKubeconfig ? { HQ_KUBECONFIG: server.kubeconfig } : {}), ...opts.env });
  return new Promise((resolve, reject) => {
    const child = execFile(NODE, [HQCTL, ...args], { env, cwd: opts.cwd ?? repo, timeout: 30_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') {
        if (err.killed) return resolve({ code: -1, stdout, stderr: `${stderr}\n[hqctl ${args.join(' ')} killed after 30 s]` });
        return reject(err);
      }
      resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
    });
    child.stdin!.end(opts.input ?? '');
  });
}

/** A long-running hqctl (get -w, rollout status): read its output as it comes, stop it at will. */
export interface Running {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when stdout matches. */
  waitFor(re: RegExp, what?: string): Promise<void>;
  /** Resolves with the exit code once it exits by itself. */
  exited: Promise<number>;
  /** SIGTERM, then wait. */
  stop(): Promise<number>;
}

export function start(server: ServerProcess, args: string[]): Running {
  const child = spawn(NODE, [HQCTL, ...args], { env: cleanEnv({ HQ_KUBECONFIG: server.kubeconfig }), cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters: { re: RegExp; resolve(): void }[] = [];
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    for (const w of [...waiters]) {
      if (w.re.test(out)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : -1))));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    waitFor(re, what = String(re)) {
      if (re.test(out)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        waiters.push({ re, resolve });
        void exited.then(() => reject(new Error(`hqctl ${args.join(' ')} exited before printing ${what}:\nstdout:\n${out}\nstderr:\n${err}`)));
      });
    },
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

export const lines = (s: string) => s.split('\n').filter((l) => l !== '');
