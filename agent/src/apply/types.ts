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
  error?: ConfigError & { stage: 'render' | 'stage' | 'check' | 'write' | 'reload' | 'verify' | 'rollback' };
  /** show proc after the last reload the pipeline did. */
  proc?: ProcInfo;
  timings: {
    checkMs?: number;
    writeMs?: number;
    reloadMs?: number;
    /** Restoring last-known-good files and reloading them (added). */
    rollbackMs?: number;
    totalMs: number;
  };
  /** `haproxy -c` warnings about the desired config (added). */
  warnings?: string[];
  /**
   * Set when this apply first had to finish an earlier, interrupted apply (agent killed between
   * writing files and recording the result): what recovery did (added).
   */
  recovered?: RecoverResult;
}

/** What recover() did about a journal left by an interrupted apply (added). */
export interface RecoverResult {
  /**
   * none: no interrupted apply. completed: the interrupted apply had already been verified and
   * recorded; only the journal was left. restored: last-known-good files were put back, reloaded
   * and verified. failed: they were put back but HAProxy could not be reloaded/verified (the
   * journal stays; the next apply or recover() tries again).
   */
  action: 'none' | 'completed' | 'restored' | 'failed';
  /** The revision that was being applied when the agent stopped. */
  interruptedRevision?: string;
  /** What runs now (manifest), when known. */
  revision?: string;
  hash?: string;
  error?: string;
  proc?: ProcInfo;
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
