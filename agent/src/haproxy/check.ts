/**
 * `haproxy -c`: HAProxy's own verdict on a configuration, without binding anything.
 *
 * Output shape (2.6.12), on stderr, one line per message:
 *   [NOTICE]   (24604) : haproxy version is 2.6.12-1+deb12u3
 *   [ALERT]    (24604) : config : parsing [m.cfg:12] : error detected in frontend 'fe' while parsing ...
 *   [ALERT]    (24604) : config : Error(s) found in configuration file : m.cfg
 *   [WARNING]  (24604) : config : parsing [m.cfg:3] : ...
 * Older versions (2.0-2.3) also print a date: `[ALERT] 301/123456 (1234) : ...`.
 * Exit status 0 means valid ("Configuration file is valid" on stdout), anything else invalid.
 * `haproxy -c` does not bind ports: it cannot prove that a reload will succeed.
 */
import { execFile, type ExecFileException } from 'node:child_process';
import { isAbsolute, relative, resolve } from 'node:path';
import type { CheckResult, ConfigError } from './types.ts';

export interface CheckOptions {
  haproxyBin: string;
  /** Config file to check; relative paths are resolved against cwd by HAProxy itself. */
  configPath: string;
  /** Working directory for haproxy (relative file references resolve from here without `default-path`). */
  cwd?: string;
  timeoutMs: number;
}

/** The haproxy binary could not be run at all: not a verdict on the configuration. */
export class HAProxyBinaryError extends Error {
  readonly bin: string;
  constructor(message: string, bin: string) {
    super(message);
    this.name = 'HAProxyBinaryError';
    this.bin = bin;
  }
}

const MESSAGE_LINE = /^\[(ALERT|WARNING|NOTICE)\]\s+(?:\d+\/\d+\s+)?\(\d+\)\s*:\s?(.*)$/;

export interface ParsedCheckOutput {
  alerts: string[];
  warnings: string[];
}

/** Splits haproxy's output into alert and warning messages, without the `[LEVEL] (pid) : ` prefix. */
export function parseCheckOutput(output: string): ParsedCheckOutput {
  const alerts: string[] = [];
  const warnings: string[] = [];
  let lastList: string[] | undefined;
  for (const raw of output.split('\n')) {
    const line = raw.replace(/\r$/, '');
    const m = MESSAGE_LINE.exec(line);
    if (m) {
      const level = m[1];
      const text = (m[2] ?? '').trimEnd();
      if (level === 'ALERT') {
        alerts.push(text);
        lastList = alerts;
      } else if (level === 'WARNING') {
        warnings.push(text);
        lastList = warnings;
      } else {
        lastList = undefined;
      }
      continue;
    }
    // Some messages continue on following lines (e.g. "  | hint"): keep them with their message.
    if (lastList && line.trim() !== '' && /^\s/.test(line)) {
      const i = lastList.length - 1;
      lastList[i] = `${lastList[i]}\n${line.trimEnd()}`;
    } else if (line.trim() !== '') {
      lastList = undefined;
    }
  }
  return { alerts, warnings };
}

/**
 * Where the first alert points: `parsing [<file>:<line>]` first (syntax errors), else any
 * `[<file>:<line>]` (post-parse checks like "Proxy 'x', server 'y' [haproxy.cfg:17] ...").
 */
export function locateError(alerts: string[], configDir?: string): { file?: string; line?: number } {
  const patterns = [/parsing \[([^\]\n]+):(\d+)\]/g, /\[([^\]\n]+):(\d+)\]/g];
  for (const pattern of patterns) {
    for (const alert of alerts) {
      for (const m of alert.matchAll(pattern)) {
        const file = m[1];
        // "[127.0.0.1:8080]" is an address, not a place in a file.
        if (file === undefined || /^[\d.]+$|^[0-9a-f:]+$/i.test(file)) continue;
        return { file: relativeToDir(file, configDir), line: Number(m[2]) };
      }
    }
  }
  return {};
}

function relativeToDir(file: string, dir: string | undefined): string {
  if (!dir || !isAbsolute(file)) return file.replace(/^\.\//, '');
  const rel = relative(resolve(dir), file);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

export async function checkConfig(opts: CheckOptions): Promise<CheckResult> {
  const t0 = performance.now();
  const { haproxyBin, configPath, cwd, timeoutMs } = opts;
  const run = await new Promise<{ err: ExecFileException | null; stdout: string; stderr: string }>((done) => {
    execFile(
      haproxyBin,
      ['-c', '-f', configPath],
      { cwd, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024, encoding: 'utf8', windowsHide: true },
      (err, stdout, stderr) => done({ err, stdout, stderr }),
    );
  });
  const durationMs = Math.round(performance.now() - t0);
  const { err, stdout, stderr } = run;
  if (err && typeof err.code === 'string') {
    // Spawn failed (ENOENT, EACCES): not the configuration's fault.
    throw new HAProxyBinaryError(
      err.code === 'ENOENT'
        ? `haproxy binary not found: ${haproxyBin} (install haproxy, or set --haproxy-bin / HQ_HAPROXY_BIN)`
        : `cannot run haproxy binary ${haproxyBin}: ${err.message}`,
      haproxyBin,
    );
  }
  const { alerts, warnings } = parseCheckOutput(`${stderr}\n${stdout}`);
  if (err && err.killed) {
    return {
      ok: false,
      error: { message: `haproxy -c did not finish within ${timeoutMs} ms` },
      warnings,
      durationMs,
    };
  }
  if (!err) return { ok: true, warnings, durationMs };

  const configDir = cwd ?? process.cwd();
  const error: ConfigError = {
    message:
      alerts.length > 0
        ? alerts.join('\n')
        : `haproxy -c exited with ${err.signal ? `signal ${err.signal}` : `code ${String(err.code)}`}: ${(stderr || stdout).trim()}`,
  };
  const where = locateError(alerts, configDir);
  if (where.file !== undefined) error.file = where.file;
  if (where.line !== undefined) error.line = where.line;
  return { ok: false, error, warnings, durationMs };
}

/** `haproxy -v` → "2.6.12-1+deb12u3". */
export async function haproxyVersion(bin: string, timeoutMs = 5_000): Promise<string> {
  const out = await new Promise<string>((done, fail) => {
    execFile(bin, ['-v'], { timeout: timeoutMs, killSignal: 'SIGKILL', encoding: 'utf8' }, (err, stdout) => {
      if (err && typeof err.code === 'string') {
        fail(
          new HAProxyBinaryError(
            err.code === 'ENOENT'
              ? `haproxy binary not found: ${bin} (install haproxy, or set --haproxy-bin / HQ_HAPROXY_BIN)`
              : `cannot run haproxy binary ${bin}: ${err.message}`,
            bin,
          ),
        );
      } else if (err) {
        fail(new Error(`"${bin} -v" failed: ${err.message}`));
      } else {
        done(stdout);
      }
    });
  });
  const m = /HA-?Proxy version (\S+)/i.exec(out);
  if (!m || m[1] === undefined) throw new Error(`cannot read the version from "${bin} -v": ${out.slice(0, 200)}`);
  return m[1];
}
