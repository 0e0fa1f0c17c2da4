/** The apply pipeline's contract: desired files in, a precise outcome out. */
import type { ConfigError, ProcInfo } from '../haproxy/types.ts';

/** What HAProxyHQ says this host should run: one ConfigRevision, resolved. */
export interface DesiredConfig {
  /** ConfigRevision name, e.g. web-3. */
  revision: string;
  /** The revision's contentHash ("sha256:<hex>" of contentHashInput). */
  hash: string;
  /** haproxy.cfg text, byte for byte. */
  config: string;
  /** Extra files, paths relative to the directory of haproxy.cfg. */
  files: { path: string; content: string }[];
}

export type ApplyOutcome =
  /** Written, reloaded, verified. */
  | 'applied'
  /** Already on disk and running: nothing done, no reload. */
  | 'unchanged'
  /** Refused by `haproxy -c` (or staging): nothing on the host changed. */
  | 'rejected'
  /** Passed -c but failed on reload/verify; last-known-good restored, reloaded and verified. */
  | 'rolled-back'
  /** Something failed and even the rollback could not be verified: HAProxy needs a person. */
  | 'failed';

export interface ApplyResult {
  outcome: ApplyOutcome;
  revision: string;
  hash: string;
  /** Where it went wrong, with HAProxy's own message and line when it has one. */
  error?: ConfigError & { stage: 'stage' | 'check' | 'write' | 'reload' | 'verify' | 'rollback' };
  /** show proc after the last reload the pipeline did. */
  proc?: ProcInfo;
  timings: { checkMs?: number; writeMs?: number; reloadMs?: number; totalMs: number };
}

export interface ApplyTarget {
  /** The managed haproxy.cfg, e.g. /etc/haproxy/haproxy.cfg. */
  configPath: string;
  /** HAProxy's master CLI socket (-S), e.g. /run/haproxy-master.sock. */
  masterSocket: string;
  /** haproxy binary. */
  haproxyBin: string;
  /** Where the agent keeps last-known-good copies and its manifest of managed files. */
  stateDir: string;
  checkTimeoutMs?: number;
  reloadTimeoutMs?: number;
}
