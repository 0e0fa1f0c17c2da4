/**
 * Real HAProxy for tests: master-worker mode with a master CLI, in a temp dir, as a foreground
 * child process (`haproxy -W -S <dir>/master.sock -f <dir>/haproxy.cfg`, never -D), plus a tiny
 * HTTP backend and a request helper. Tests never skip when haproxy is missing: as root with apt
 * we install it once, otherwise we fail with what to do.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { freePort } from '../../../api-server/test/support/ports.ts';
import { ensureDebianBinary } from '../../../scripts/lib/debian-package.ts';
import { createMasterCli, currentWorker, type MasterCliExt } from '../../src/haproxy/master-cli.ts';

// ---------------------------------------------------------------------------------------------
// The binary
// ---------------------------------------------------------------------------------------------

let binPromise: Promise<string> | undefined;

/**
 * The haproxy binary: $HQ_HAPROXY_BIN, else `haproxy` on PATH (or /usr/sbin), else Debian's
 * package installed once (as root with apt-get; scripts/lib/debian-package.ts).
 */
export function haproxyBin(): Promise<string> {
  binPromise ??= (async () => {
    const fromEnv = process.env.HQ_HAPROXY_BIN;
    if (fromEnv) {
      if (!existsSync(fromEnv)) throw new Error(`HQ_HAPROXY_BIN=${fromEnv} does not exist`);
      return fromEnv;
    }
    return ensureDebianBinary({
      binary: 'haproxy',
      pkg: 'haproxy',
      howTo: 'These tests need a real one: install it (Debian/Ubuntu: sudo apt-get install -y haproxy) or set HQ_HAPROXY_BIN to its path.',
    });
  })();
  return binPromise;
}

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

/** PIDs whose parent is `pid` (the master's workers), from /proc. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // pid (comm) state ppid ...; comm may contain spaces, so split after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

const running = new Set<HAProxyProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Workers outlive a SIGKILLed master (observed on 2.6): kill the whole family on the way out.
  process.on('exit', () => {
    for (const h of running) h.killSync();
  });
}

export interface HAProxyFile {
  path: string;
  content: string;
}

export interface StartHAProxyOptions {
  /** haproxy.cfg text, or a function of the free loopback ports picked for it. */
  config: string | ((ports: number[]) => string);
  /** Extra files relative to the config dir (maps, ACL lists...). */
  files?: HAProxyFile[];
  /** How many free loopback ports to pick and pass to `config` (default 1). */
  ports?: number;
  /** How long to wait for the master CLI to show a worker (default 10 s). */
  startTimeoutMs?: number;
}

export interface HAProxyProcess {
  dir: string;
  configPath: string;
  masterSocket: string;
  /** The master's PID. */
  pid: number;
  ports: number[];
  /** ports[0] */
  port: number;
  bin: string;
  cli: MasterCliExt;
  /** Everything HAProxy printed so far (NOTICE/WARNING/ALERT lines). */
  output(): string;
  /** Graceful: SIGTERM, then SIGKILL for stragglers; removes the temp dir. */
  stop(): Promise<void>;
  /** SIGKILL the master and its workers at once (a crash); the socket file stays behind. */
  kill(): Promise<void>;
  killSync(): void;
}

export async function startHAProxy(opts: StartHAProxyOptions): Promise<HAProxyProcess> {
  const bin = await haproxyBin();
  installExitHook();
  // A free port can be taken between picking and binding: retry with fresh ports.
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const ports: number[] = [];
    for (let i = 0; i < (opts.ports ?? 1); i++) ports.push(await freePort());
    try {
      return await startOnce(bin, opts, ports);
    } catch (err) {
      lastError = err as Error;
      if (typeof opts.config === 'string' || !/Address already in use/.test(lastError.message)) throw lastError;
    }
  }
  throw lastError ?? new Error('haproxy did not start');
}

async function startOnce(bin: string, opts: StartHAProxyOptions, ports: number[]): Promise<HAProxyProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'hq-haproxy-'));
  const configPath = join(dir, 'haproxy.cfg');
  const masterSocket = join(dir, 'master.sock');
  const config = typeof opts.config === 'string' ? opts.config : opts.config(ports);
  await writeFile(configPath, config);
  for (const f of opts.files ?? []) {
    const p = join(dir, f.path);
    await mkdir(dirname(p), { recursive: true });
    await writeFile(p, f.content);
  }

  let output = '';
  const child: ChildProcess = spawn(bin, ['-W', '-S', masterSocket, '-f', configPath], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (output += d));
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    });
  });
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const pid = child.pid;
  if (pid === undefined) throw await spawnError;

  const cli = createMasterCli(masterSocket, { commandTimeoutMs: 2_000 });
  let family = new Set<number>([pid]);
  const remember = () => {
    for (const c of childPids(pid)) family.add(c);
  };

  const h: HAProxyProcess = {
    dir,
    configPath,
    masterSocket,
    pid,
    ports,
    port: ports[0] ?? 0,
    bin,
    cli,
    output: () => output,
    killSync() {
      remember();
      for (const p of family) killQuietly(p, 'SIGKILL');
      running.delete(h);
    },
    async kill() {
      remember();
      for (const p of family) killQuietly(p, 'SIGKILL');
      await Promise.race([exit, delay(5_000)]);
      running.delete(h);
    },
    async stop() {
      remember();
      if (!exited) {
        killQuietly(pid, 'SIGTERM');
        await Promise.race([exit, delay(3_000)]);
      }
      for (const p of family) if (pidAlive(p)) killQuietly(p, 'SIGKILL');
      running.delete(h);
      family = new Set();
      await rm(dir, { recursive: true, force: true });
    },
  };
  running.add(h);

  const deadline = Date.now() + (opts.startTimeoutMs ?? 10_000);
  let lastErr = '';
  while (Date.now() < deadline) {
    if (exited) break;
    try {
      const proc = await cli.showProc();
      if (currentWorker(proc)) {
        remember();
        return h;
      }
      lastErr = 'no worker yet';
    } catch (err) {
      lastErr = (err as Error).message;
    }
    await delay(10);
  }
  await h.stop();
  const why = exited ? `exited (code ${exited.code}, signal ${exited.signal})` : `did not answer on ${masterSocket}: ${lastErr}`;
  throw new Error(`haproxy ${why}; its output:\n${output}`);
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers
// ---------------------------------------------------------------------------------------------

export interface HttpBackend {
  port: number;
  /** Requests served so far. */
  requests(): number;
  close(): Promise<void>;
}

/** A tiny HTTP server on a free loopback port: answers `body` (or runs `handler`). */
export async function startHttpBackend(
  body: string | ((req: IncomingMessage, res: ServerResponse) => void) = 'ok',
): Promise<HttpBackend> {
  let count = 0;
  const server = createServer((req, res) => {
    count++;
    if (typeof body === 'function') return body(req, res);
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(body);
  });
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      });
      return {
        port,
        requests: () => count,
        close: () =>
          new Promise<void>((resolve) => {
            server.closeAllConnections();
            server.close(() => resolve());
          }),
      };
    } catch (err) {
      if (attempt >= 3 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    }
  }
}

export interface HttpAnswer {
  status: number;
  body: string;
}

/**
 * One request on a fresh connection (no keep-alive: a kept connection would stay on an old
 * worker and hide what the current one serves).
 */
export function httpGet(port: number, path = '/', headers: Record<string, string> = {}, timeoutMs = 5_000): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: 'GET', agent: false, headers: { connection: 'close', ...headers }, timeout: timeoutMs },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET 127.0.0.1:${port}${path} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * A minimal config: one frontend answering `body` itself (no backend needed). HAProxy runs with
 * its temp dir as working directory, like `-C <config dir>`, so relative map paths in `extra`
 * resolve from there (on 2.6, `default-path config` does not cover pattern files).
 */
export const simpleConfig = (port: number, body: string, extra = '') => `global
    default-path config
    hard-stop-after 3s

defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s

frontend fe
    bind 127.0.0.1:${port}
    http-request return status 200 content-type text/plain string "${body}"
${extra}`;
