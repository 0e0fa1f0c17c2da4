/**
 * What the agent needs from HAProxy, as interfaces: the master CLI (reload, show proc, commands
 * forwarded to the current worker), `haproxy -c`, and the parsed shapes of their output.
 */

/** One line of the master CLI's `show proc`. */
export interface ProcEntry {
  pid: number;
  type: 'master' | 'worker' | 'program';
  /** For the master: reloads since it started; for workers: the reload generation they belong to. */
  reloads: number;
  /** Only on the master line (2.6: "N [failed: M]"). */
  failedReloads?: number;
  uptimeSeconds: number;
  version: string;
  /** Workers listed under `# old workers`: leaving, draining their connections (added). */
  old?: boolean;
}

export interface ProcInfo {
  master: ProcEntry;
  /** Current workers first (lowest `reloads`), then old workers still draining. */
  workers: ProcEntry[];
}

/** A rejected configuration, in HAProxy's own words. */
export interface ConfigError {
  /** HAProxy's [ALERT] lines, verbatim (without the PID prefix noise). */
  message: string;
  /** File the first alert points at, relative to the config dir when inside it. */
  file?: string;
  /** Line the first alert points at. */
  line?: number;
}

export interface CheckResult {
  ok: boolean;
  error?: ConfigError;
  /** [WARNING] lines. */
  warnings: string[];
  durationMs: number;
}

export interface StatRow {
  /** pxname */
  proxy: string;
  /** svname: FRONTEND, BACKEND, or the server name */
  name: string;
  type: 'frontend' | 'backend' | 'server' | 'listener';
  status: string;
  currentSessions: number;
  maxSessions: number;
  totalSessions: number;
  sessionRate: number;
  requestRate?: number;
  weight?: number;
  checkStatus?: string;
}

export interface MasterCli {
  /** Send one command to the master CLI and return its whole answer (half-closes after sending). */
  command(cmd: string, timeoutMs?: number): Promise<string>;
  showProc(): Promise<ProcInfo>;
  /** `show info` of the current worker (`@1 show info`), as key/value pairs. */
  showInfo(): Promise<Record<string, string>>;
  /** `show stat` of the current worker (`@1 show stat`), parsed. */
  showStat(): Promise<StatRow[]>;
  /** Ask for a reload and wait until `show proc` proves it happened (or failed). */
  reload(timeoutMs?: number): Promise<ReloadResult>;
}

export interface ReloadResult {
  ok: boolean;
  before: ProcInfo;
  after?: ProcInfo;
  /** Why it is not ok: failed counter moved, no new worker, timeout, socket error. */
  reason?: string;
  durationMs: number;
  /**
   * Whether the `reload` command reached the master (added). false: HAProxy was not touched,
   * e.g. the socket was missing or refused the connection.
   */
  sent?: boolean;
  /**
   * Where it failed (added): 'reload' when HAProxy refused or never got the reload (not sent,
   * failed-reload counter went up, `Success=0`); 'verify' when the reload registered but could not
   * be proven (no new worker, new worker silent or with PAUSED frontends, timeout).
   */
  failedAt?: 'reload' | 'verify';
}
