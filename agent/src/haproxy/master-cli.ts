/**
 * HAProxy's master CLI (`haproxy -W -S <socket>`): one command per connection, parsers for
 * `show proc`, `show info` and `show stat`, and a reload that proves it happened.
 *
 * Protocol notes (observed on 2.6.12, see management.txt section 9.4):
 * - The master CLI keeps the connection open after answering (no "prompt" mode needed, but no
 *   close either), so we write `<command>\n`, half-close our side (shutdown SHUT_WR) and read
 *   until the master closes. Without the half-close the read would only end at our timeout.
 * - `reload` re-executes the master (execvp). 2.6 answers with nothing and the connection simply
 *   ends; for a few milliseconds afterwards connects are refused (ECONNREFUSED), and while the new
 *   master retries binds it may reset connections (ECONNRESET). 2.7+ answers `Success=1` or
 *   `Success=0`, then `--` and the startup logs.
 * - `show proc` is the only proof of a reload in 2.6: the master line's reload counter goes up, and
 *   either its `[failed: N]` counter goes up (the old worker keeps serving) or a new worker appears
 *   under `# workers` and the previous one moves to `# old workers` while it drains. The failed
 *   counter is reset to 0 by a successful reload (mworker_run_master), so "did not increase" is the
 *   test, not "unchanged".
 * - `@1 <command>` forwards a command to the current worker; `@1 show info` answering with the new
 *   worker's Pid proves that worker finished starting and runs its event loop. It also works when
 *   the agent lives in another PID namespace, where a kill(pid, 0) check would not.
 */
import { connect } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import type { MasterCli, ProcEntry, ProcInfo, ReloadResult, StatRow } from './types.ts';

/** Why a master CLI command failed. `sent` tells whether the command reached the socket. */
export type MasterCliErrorCode = 'ENOENT' | 'ECONNREFUSED' | 'EACCES' | 'TIMEOUT' | 'RESET' | 'PROTOCOL' | 'OTHER';

export class MasterCliError extends Error {
  readonly code: MasterCliErrorCode;
  readonly socketPath: string;
  /** True when the command was written before the failure: the master may have acted on it. */
  readonly sent: boolean;
  constructor(message: string, code: MasterCliErrorCode, socketPath: string, sent: boolean) {
    super(message);
    this.name = 'MasterCliError';
    this.code = code;
    this.socketPath = socketPath;
    this.sent = sent;
  }
}

export interface MasterCliOptions {
  /** Default per-command timeout. */
  commandTimeoutMs?: number;
  /** Default timeout of reload() (request + verification). */
  reloadTimeoutMs?: number;
  /** How often reload() polls `show proc`. */
  pollIntervalMs?: number;
  /**
   * After a new worker is found, how long reload() waits for its frontends to leave PAUSED
   * before calling the reload failed (see reload()).
   */
  pausedGraceMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export const DEFAULT_COMMAND_TIMEOUT_MS = 5_000;
/**
 * A failed reload on 2.6 can take over 2 s: when a bind fails with EADDRINUSE the new master
 * retries for up to 200 x 10 ms (MAX_START_RETRIES) before giving up. Large configs load slower
 * still. 10 s leaves room for both.
 */
export const DEFAULT_RELOAD_TIMEOUT_MS = 10_000;

// ---------------------------------------------------------------------------------------------
// Parsers
// ---------------------------------------------------------------------------------------------

/** "0d00h02m07s" → 127. Unknown formats give 0 rather than failing a whole `show proc`. */
export function parseUptime(text: string): number {
  const m = /^(\d+)d(\d+)h(\d+)m(\d+)s$/.exec(text.trim());
  if (!m) return 0;
  return Number(m[1]) * 86400 + Number(m[2]) * 3600 + Number(m[3]) * 60 + Number(m[4]);
}

// <pid> <type> <reloads>[ [failed: N]] <uptime> <version>
const PROC_LINE = /^(\d+)\s+(\S+)\s+(\d+)(?:\s+\[failed:\s*(\d+)\])?\s+(\d+d\d+h\d+m\d+s)\s*(.*)$/;

/**
 * Parses `show proc`. Sections: the master line, `# workers` (current), `# old workers` (leaving,
 * still draining connections; 2.6 prints this block only when there are any), `# programs`.
 * The result lists current workers first, then old ones, each group by ascending `reloads`.
 */
export function parseShowProc(text: string): ProcInfo {
  let section: 'master' | 'workers' | 'old' | 'programs' = 'master';
  let master: ProcEntry | undefined;
  const current: ProcEntry[] = [];
  const old: ProcEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('#<PID>')) continue;
    if (line.startsWith('#')) {
      const name = line.slice(1).trim().toLowerCase();
      if (name === 'workers') section = 'workers';
      else if (name === 'old workers') section = 'old';
      else if (name === 'programs' || name === 'old programs') section = 'programs';
      continue;
    }
    // Programs (`# programs`, type column = the program's name) are not part of ProcInfo; skipping
    // the section also keeps a program named "worker" from passing for one.
    if (section === 'programs') continue;
    const m = PROC_LINE.exec(line);
    if (!m) continue;
    const typeText = m[2] ?? '';
    const entry: ProcEntry = {
      pid: Number(m[1]),
      type: typeText === 'master' ? 'master' : typeText === 'worker' ? 'worker' : 'program',
      reloads: Number(m[3]),
      uptimeSeconds: parseUptime(m[5] ?? ''),
      version: (m[6] ?? '').trim(),
    };
    if (m[4] !== undefined) entry.failedReloads = Number(m[4]);
    if (entry.type === 'master') {
      master = entry;
    } else if (entry.type === 'worker') {
      if (section === 'old') {
        entry.old = true;
        old.push(entry);
      } else {
        current.push(entry);
      }
    }
  }
  if (!master) {
    throw new Error(`unexpected "show proc" answer (no master line): ${JSON.stringify(text.slice(0, 300))}`);
  }
  const byReloads = (a: ProcEntry, b: ProcEntry) => a.reloads - b.reloads;
  return { master, workers: [...current.sort(byReloads), ...old.sort(byReloads)] };
}

/** The worker serving new connections: the first one listed under `# workers`. */
export function currentWorker(info: ProcInfo): ProcEntry | undefined {
  return info.workers.find((w) => !w.old);
}

/** Parses `show info` ("Key: value" per line) into key/value pairs. */
export function parseShowInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

/** Splits one CSV line; HAProxy quotes fields containing commas or quotes (csv_enc). */
function splitCsv(line: string): string[] {
  const fields: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"') {
        if (line[i + 1] === '"') {
          cur += '"';
          i++;
        } else {
          quoted = false;
        }
      } else {
        cur += c;
      }
    } else if (c === '"') {
      quoted = true;
    } else if (c === ',') {
      fields.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  fields.push(cur);
  return fields;
}

const STAT_TYPES: Record<string, StatRow['type']> = { '0': 'frontend', '1': 'backend', '2': 'server', '3': 'listener' };

/** Parses `show stat` CSV (header `# pxname,svname,...`). Columns are found by name. */
export function parseShowStat(text: string): StatRow[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const headerLine = lines.find((l) => l.startsWith('# pxname') || l.startsWith('#pxname'));
  if (!headerLine) {
    throw new Error(`unexpected "show stat" answer (no "# pxname" header): ${JSON.stringify(text.slice(0, 300))}`);
  }
  const header = splitCsv(headerLine.replace(/^#\s*/, ''));
  const col = new Map(header.map((name, i) => [name.trim(), i]));
  const rows: StatRow[] = [];
  for (const line of lines) {
    if (line.startsWith('#')) continue;
    const f = splitCsv(line);
    const get = (name: string): string => {
      const i = col.get(name);
      return i === undefined ? '' : (f[i] ?? '');
    };
    const num = (name: string): number => {
      const v = get(name);
      return v === '' ? 0 : Number(v);
    };
    const optNum = (name: string): number | undefined => {
      const v = get(name);
      return v === '' ? undefined : Number(v);
    };
    const svname = get('svname');
    const typeCode = get('type');
    const type: StatRow['type'] =
      STAT_TYPES[typeCode] ?? (svname === 'FRONTEND' ? 'frontend' : svname === 'BACKEND' ? 'backend' : 'server');
    const row: StatRow = {
      proxy: get('pxname'),
      name: svname,
      type,
      status: get('status'),
      currentSessions: num('scur'),
      maxSessions: num('smax'),
      totalSessions: num('stot'),
      sessionRate: num('rate'),
    };
    const reqRate = optNum('req_rate');
    if (reqRate !== undefined) row.requestRate = reqRate;
    const weight = optNum('weight');
    if (weight !== undefined) row.weight = weight;
    const check = get('check_status');
    if (check !== '') row.checkStatus = check;
    rows.push(row);
  }
  return rows;
}

/** 2.7+ answers `reload` with `Success=0|1`, then `--` and the startup logs. 2.6 answers nothing. */
export function parseReloadAnswer(text: string): { success?: boolean; logs: string } {
  const m = /^\s*Success=([01])\s*\n?/.exec(text);
  if (!m) return { logs: text.trim() };
  const rest = text.slice(m[0].length).replace(/^--\s*\n?/, '');
  return { success: m[1] === '1', logs: rest.trim() };
}

// ---------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------

function describeConnectError(socketPath: string, err: NodeJS.ErrnoException, cmd: string, sent: boolean): MasterCliError {
  switch (err.code) {
    case 'ENOENT':
      return new MasterCliError(
        `HAProxy master CLI socket ${socketPath} does not exist: is HAProxy running in master-worker mode with ` +
          `"-W -S ${socketPath}"? (set --master-socket / HQ_HAPROXY_MASTER_SOCKET if it lives elsewhere)`,
        'ENOENT',
        socketPath,
        false,
      );
    case 'ECONNREFUSED':
      return new MasterCliError(
        `nothing is listening on HAProxy master CLI socket ${socketPath} (connection refused): ` +
          'HAProxy is not running, or its master is restarting',
        'ECONNREFUSED',
        socketPath,
        false,
      );
    case 'EACCES':
    case 'EPERM':
      return new MasterCliError(
        `permission denied on HAProxy master CLI socket ${socketPath}: run the agent as a user that may open it ` +
          '(see the "mode", "uid" and "gid" options of -S)',
        'EACCES',
        socketPath,
        false,
      );
    case 'ECONNRESET':
    case 'EPIPE':
      return new MasterCliError(
        `HAProxy master CLI at ${socketPath} dropped the connection during "${cmd}" (${err.code})`,
        'RESET',
        socketPath,
        sent,
      );
    default:
      return new MasterCliError(
        `HAProxy master CLI at ${socketPath} failed during "${cmd}": ${err.message}`,
        'OTHER',
        socketPath,
        sent,
      );
  }
}

/** Sends one command on a fresh connection, half-closes, reads until EOF. */
export function sendCommand(socketPath: string, cmd: string, timeoutMs: number): Promise<string> {
  if (cmd.includes('\n')) {
    return Promise.reject(new Error(`master CLI command must be one line: ${JSON.stringify(cmd)}`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let sent = false;
    let settled = false;
    const sock = connect({ path: socketPath });
    const finish = (err: MasterCliError | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const timer = setTimeout(() => {
      finish(
        new MasterCliError(
          `HAProxy master CLI at ${socketPath} did not answer "${cmd}" within ${timeoutMs} ms`,
          'TIMEOUT',
          socketPath,
          sent,
        ),
      );
    }, timeoutMs);
    sock.on('connect', () => {
      sent = true;
      // Half-close: the 2.6 master answers, then waits for more commands until we close.
      sock.end(`${cmd}\n`);
    });
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('end', () => finish(undefined));
    sock.on('close', () => finish(undefined));
    sock.on('error', (err: NodeJS.ErrnoException) => finish(describeConnectError(socketPath, err, cmd, sent)));
  });
}

export interface MasterCliExt extends MasterCli {
  readonly socketPath: string;
  /** `@1 show info`'s Pid: the PID of the worker that actually answers for relative process 1. */
  workerPid(timeoutMs?: number): Promise<number | undefined>;
}

export function createMasterCli(socketPath: string, options: MasterCliOptions = {}): MasterCliExt {
  const commandTimeout = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const pollInterval = options.pollIntervalMs ?? 10;
  const pausedGrace = options.pausedGraceMs ?? 500;
  const now = options.now ?? (() => performance.now());
  const sleep = options.sleep ?? ((ms: number) => delay(ms));

  const command = (cmd: string, timeoutMs?: number) => sendCommand(socketPath, cmd, timeoutMs ?? commandTimeout);

  const showProc = async (timeoutMs?: number): Promise<ProcInfo> => {
    const answer = await command('show proc', timeoutMs);
    try {
      return parseShowProc(answer);
    } catch (err) {
      throw new MasterCliError(
        `${(err as Error).message}: is ${socketPath} HAProxy's master CLI (-S), not a worker's stats socket?`,
        'PROTOCOL',
        socketPath,
        true,
      );
    }
  };

  const showInfo = async (): Promise<Record<string, string>> => parseShowInfo(await command('@1 show info'));
  const showStat = async (): Promise<StatRow[]> => parseShowStat(await command('@1 show stat'));

  const workerPid = async (timeoutMs?: number): Promise<number | undefined> => {
    const info = parseShowInfo(await command('@1 show info', timeoutMs));
    const pid = Number(info['Pid']);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  };

  /**
   * Asks the master to reload and waits until `show proc` proves the outcome.
   *
   * ok only when, after the master's reload counter went up:
   *  - its failed-reload counter did not go up (2.6 keeps the old worker on failure), and
   *  - the current worker (`# workers`) has a new PID, and
   *  - `@1 show info` is answered by that PID (it finished starting), and
   *  - none of its frontends is PAUSED. Observed on 2.6.12: when a bind fails with EADDRINUSE the
   *    new master pauses the old worker's listeners (SIGTTOU) and retries for ~2 s; if the port
   *    frees up within that window the load "succeeds" but the new worker starts with the other
   *    frontends PAUSED, refusing every connection, while show proc looks healthy.
   *
   * Rejects (MasterCliError, sent=false) only when the first `show proc` fails: nothing was sent.
   */
  const reload = async (timeoutMs?: number): Promise<ReloadResult> => {
    const budget = timeoutMs ?? options.reloadTimeoutMs ?? DEFAULT_RELOAD_TIMEOUT_MS;
    const t0 = now();
    const deadline = t0 + budget;
    const remaining = () => Math.max(1, Math.ceil(deadline - now()));
    const elapsed = () => Math.round(now() - t0);
    const before = await showProc(Math.min(commandTimeout, budget));
    const beforeWorker = currentWorker(before);
    const beforeFailed = before.master.failedReloads ?? 0;
    const result = (
      ok: boolean,
      after: ProcInfo | undefined,
      reason?: string,
      failedAt?: 'reload' | 'verify',
      sent = true,
    ): ReloadResult => {
      const r: ReloadResult = { ok, before, durationMs: elapsed(), sent };
      if (after) r.after = after;
      if (reason !== undefined) r.reason = reason;
      if (!ok) r.failedAt = failedAt ?? 'verify';
      return r;
    };

    let answerNote = '';
    try {
      const answer = await command('reload', Math.min(commandTimeout, remaining()));
      const parsed = parseReloadAnswer(answer);
      if (parsed.success === false) {
        // 2.7+: the master tells us directly. Still take a show proc for the record.
        const after = await showProc(Math.min(commandTimeout, remaining())).catch(() => undefined);
        return result(
          false,
          after,
          `reload failed: HAProxy answered Success=0${parsed.logs ? `: ${parsed.logs}` : ''}`,
          'reload',
        );
      }
      if (parsed.success === undefined && parsed.logs !== '') {
        if (/permission denied|unknown command/i.test(parsed.logs)) {
          return result(false, undefined, `master CLI refused "reload": ${parsed.logs}`, 'reload');
        }
        answerNote = ` (reload answer: ${parsed.logs.slice(0, 200)})`;
      }
    } catch (err) {
      if (!(err instanceof MasterCliError)) throw err;
      // Not sent: the master never saw the command, HAProxy is untouched.
      if (!err.sent) return result(false, undefined, `reload not sent: ${err.message}`, 'reload', false);
      // Sent, then the connection dropped or timed out: the master re-execs on reload and may
      // close or reset the connection before answering. show proc will tell what happened.
    }

    let last: ProcInfo | undefined;
    let lastError: string | undefined;
    let pausedSince: number | undefined;
    let lastIssue = '';
    while (now() < deadline) {
      let p: ProcInfo;
      const limit = Math.min(commandTimeout, remaining());
      try {
        p = await showProc(limit);
      } catch (err) {
        // ECONNREFUSED/ECONNRESET are expected for a few ms (or ~2 s on bind retries) while the
        // master re-executes. A poll that timed out only because the budget was nearly spent says
        // nothing new: what the polls before it saw stands.
        if (!(err instanceof MasterCliError && err.code === 'TIMEOUT' && limit < commandTimeout)) lastError = (err as Error).message;
        await sleep(pollInterval);
        continue;
      }
      last = p;
      lastError = undefined;
      if (p.master.pid !== before.master.pid) {
        return result(
          false,
          p,
          `the HAProxy master changed (PID ${before.master.pid} -> ${p.master.pid}): HAProxy was restarted, not reloaded`,
          'verify',
        );
      }
      if (p.master.reloads <= before.master.reloads) {
        await sleep(pollInterval);
        continue;
      }
      const failed = p.master.failedReloads ?? 0;
      if (failed > beforeFailed) {
        const keeps = currentWorker(p);
        return result(
          false,
          p,
          `reload failed: HAProxy's failed-reload counter went from ${beforeFailed} to ${failed}` +
            (keeps ? `; worker ${keeps.pid} keeps serving the previous configuration` : '') +
            ' (HAProxy logs the cause on its stderr/journal)',
          'reload',
        );
      }
      const worker = currentWorker(p);
      if (!worker || worker.pid === beforeWorker?.pid) {
        lastIssue = worker ? `current worker is still PID ${worker.pid}` : 'no current worker listed';
        await sleep(pollInterval);
        continue;
      }
      // A new worker is listed: make sure it is the one answering and it actually listens.
      try {
        const pid = await workerPid(Math.min(commandTimeout, remaining()));
        if (pid !== worker.pid) {
          lastIssue = `new worker ${worker.pid} listed, but @1 is answered by PID ${pid ?? 'none'}`;
          await sleep(pollInterval);
          continue;
        }
        // "-1 1 -1": all proxies, frontends only (type mask 1), all servers: small on big configs.
        const stats = parseShowStat(await command('@1 show stat -1 1 -1', Math.min(commandTimeout, remaining())));
        const paused = stats.filter((s) => s.type === 'frontend' && s.status === 'PAUSED').map((s) => s.proxy);
        if (paused.length > 0) {
          pausedSince ??= now();
          lastIssue = `new worker ${worker.pid} has PAUSED frontends: ${paused.join(', ')}`;
          if (now() - pausedSince >= pausedGrace) {
            return result(
              false,
              p,
              `reload left the new worker ${worker.pid} with PAUSED frontends (${paused.join(', ')}): ` +
                'it refuses connections (seen on 2.6 after a bind retry during reload)',
              'verify',
            );
          }
          await sleep(pollInterval);
          continue;
        }
      } catch (err) {
        lastIssue = `new worker ${worker.pid} did not answer yet: ${(err as Error).message}`;
        await sleep(pollInterval);
        continue;
      }
      return result(true, p);
    }

    let reason: string;
    if (!last || last.master.reloads <= before.master.reloads) {
      reason = lastError
        ? `HAProxy did not confirm the reload within ${budget} ms; master CLI: ${lastError}`
        : `HAProxy did not register the reload within ${budget} ms (master reload counter still ${before.master.reloads})`;
    } else {
      reason = `no new worker after ${budget} ms${lastIssue ? ` (${lastIssue})` : ''}`;
    }
    return result(false, last, reason + answerNote, 'verify');
  };

  return {
    socketPath,
    command,
    showProc: () => showProc(),
    showInfo,
    showStat,
    workerPid,
    reload,
  };
}
