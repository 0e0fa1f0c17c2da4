/**
 * Starts the real API server process (api-server/src/main.ts on the pinned Node) on a free
 * loopback port with its own data dir, and waits until it serves.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readOwnKubeconfig } from '../../src/kubeconfig.ts';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const MAIN = join(repo, 'api-server', 'src', 'main.ts');
/** The V8 flags and environment `npm start` runs the server with (package.json, README "Configuration"). */
export const SERVER_NODE_FLAGS = ['--max-semi-space-size=32', '--heap-growing-percent=100'];
export const SERVER_ENV = { MALLOC_MMAP_THRESHOLD_: '65536' };

export interface ServerProcess {
  url: string;
  token: string;
  /** PEM of the server's CA. */
  ca: string;
  dataDir: string;
  kubeconfig: string;
  child: ChildProcess;
  /** Everything the process wrote so far. */
  output(): string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
  /** Remove the data dir (after stop). */
  cleanup(): void;
}

export interface StartOptions {
  dataDir?: string;
  args?: string[];
  env?: Record<string, string>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export async function startServer(options: StartOptions = {}): Promise<ServerProcess> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'hq-server-'));
  // As `npm start` runs it (README, Configuration).
  const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, MAIN, '--listen', '127.0.0.1:0', '--data-dir', dataDir, ...(options.args ?? [])], {
    env: { ...SERVER_ENV, ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => {
    live.delete(child);
    resolve();
  }));
  const deadline = Date.now() + 30_000;
  while (!/HAProxyHQ API server listening on/.test(out)) {
    if (child.exitCode !== null) throw new Error(`api-server exited with ${child.exitCode}:\n${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`api-server did not start within 30 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const kubeconfig = join(dataDir, 'kubeconfig');
  const info = readOwnKubeconfig(kubeconfig);
  if (!info) throw new Error(`no kubeconfig at ${kubeconfig}`);
  const waitExit = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return {
    url: info.server,
    token: info.token,
    ca: info.ca,
    dataDir,
    kubeconfig,
    child,
    output: () => out,
    stop: () => waitExit('SIGTERM'),
    kill: () => waitExit('SIGKILL'),
    cleanup: () => rmSync(dataDir, { recursive: true, force: true }),
  };
}

/** One HTTPS request to a server, trusting its CA and sending its token. */
export function request(
  server: Pick<ServerProcess, 'url' | 'token' | 'ca'>,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any; text: string; headers: Record<string, string | string[] | undefined> }> {
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      server.url + path,
      {
        method,
        ca: server.ca,
        headers: {
          authorization: `Bearer ${server.token}`,
          ...(payload !== undefined ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode ?? 0, body: parsed, text, headers: res.headers });
        });
      },
    );
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}
