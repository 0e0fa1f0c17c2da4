/**
 * The apply pipeline: make this host run a DesiredConfig, or leave it exactly as it was.
 *
 *   (a) unchanged?  disk hashes to desired.hash, the manifest says that hash was applied and
 *                   verified, and HAProxy answers: nothing to do, no reload.
 *   (b) stage       every desired file in a fresh dir under stateDir, laid out like the target;
 *                   host files we do not manage are symlinked in, so the check sees what the
 *                   reload will see. Paths that could escape the config dir are refused.
 *   (c) check       `haproxy -c -f <config basename>` with cwd = stage dir. Refused → 'rejected',
 *                   nothing on the host touched.
 *       preflight   `show proc` must answer before anything is written: never write files we
 *                   cannot reload.
 *   (d) journal     pending.json: what is being applied plus the complete rollback image (the
 *                   verified last-known-good files from the manifest, and the prior content of
 *                   every other path this apply will write). Written atomically before any
 *                   target file changes: it is the commit point for crash recovery.
 *   (e) write       every file atomically (temp in the same dir, fsync, rename, fsync dir), the
 *                   config last; then remove files managed before but no longer desired.
 *   (f) reload      through the master CLI, verified with `show proc` (MasterCli.reload).
 *   (g) rollback    on failure: restore the rollback image atomically, reload, verify →
 *                   'rolled-back' with the original error; 'failed' if that cannot be verified.
 *   (h) record      manifest.json (hash, revision, files, time, and the content itself as the new
 *                   last-known-good) atomically, then remove the journal.
 *
 * Crash recovery rule (recover(), and the start of every apply()): if pending.json exists, an
 * apply was interrupted after it may have touched the host. If the manifest already records the
 * journal's hash, the apply had finished (killed between manifest and journal removal): just drop
 * the journal. Otherwise put the journal's rollback image back on disk, reload, verify, record it
 * as the manifest and drop the journal. The host therefore converges to the last verified config,
 * never to a mix; the caller's next apply() moves it forward again. The reload is done even when
 * the disk already matches the image, because the interrupted apply may have reloaded HAProxy
 * with the new files before dying. If that reload cannot be verified the journal stays, and
 * apply() refuses to do anything else until recovery succeeds.
 *
 * Without a journal, a disk that differs from the manifest is drift (a person edited the files);
 * it is not touched here: localHash() exposes it, and the next apply() overwrites it (rolling back,
 * if needed, to the manifest's verified copy, not to the drifted files).
 *
 * First apply on a host (no manifest): the config currently on disk is what HAProxy runs, so it
 * becomes the rollback image (with no managed extra files); files the new config brings that
 * already exist on disk are saved in the journal too, and put back on rollback.
 *
 * Paths: HAProxy resolves relative file names from its working directory. `default-path config`
 * (HAProxy >= 2.4) moves some of them to the config's directory, but not all: in 2.6 pattern files
 * (`map(...)`, `-f` ACL lists) still resolve from the working directory (checked on 2.6.12; see
 * e2e/examples.test.ts). So HAProxy should run with `-C <config dir>` and configs should use
 * relative paths (e.g. `map(maps/hosts.map)`): `haproxy -c` here runs with the stage dir as its
 * working directory, which checks the staged files exactly as `-C` will load the live ones.
 * Absolute paths into the live directory are checked against the live (old) files; the verified
 * reload still catches a bad new file, but later.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import {
  lstat,
  mkdir,
  mkdtemp,
  open,
  readdir,
  readFile,
  realpath,
  rename,
  rm,
  stat,
  symlink,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { contentHashInput } from '@haproxyhq/schemas';
import { checkConfig, HAProxyBinaryError } from '../haproxy/check.ts';
import { createMasterCli, currentWorker, parseShowProc, type MasterCliExt } from '../haproxy/master-cli.ts';
import type { CheckResult, ConfigError, ProcInfo, ReloadResult } from '../haproxy/types.ts';
import type { ApplyResult, ApplyTarget, DesiredConfig, RecoverResult } from './types.ts';

export interface ApplierDeps {
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Master CLI to use (default: createMasterCli(target.masterSocket)). */
  cli?: MasterCliExt;
  /** Test hooks at crash-relevant points of the pipeline. */
  hooks?: {
    /** Before each target file is replaced (path relative to the config dir). */
    beforeWrite?: (path: string) => void | Promise<void>;
    /** After the journal and every target file are written, before the reload. */
    afterWrite?: () => void | Promise<void>;
    /** After a verified reload, before the manifest records it. */
    afterReload?: () => void | Promise<void>;
  };
}

export interface ProbeResult {
  ok: boolean;
  proc?: ProcInfo;
  error?: string;
  durationMs: number;
}

export interface LocalFiles {
  config: string;
  files: { path: string; content: string }[];
}

export interface Applier {
  apply(desired: DesiredConfig): Promise<ApplyResult>;
  /** Hash of the managed files as they are on disk now (undefined when the config is missing). */
  localHash(): Promise<string | undefined>;
  /** The managed files as they are on disk now. */
  readLocal(): Promise<LocalFiles | undefined>;
  /** Finish or undo an apply interrupted by a crash (see the rule at the top of this file). */
  recover(): Promise<RecoverResult>;
  /** Is HAProxy's master answering? Fails fast when it is not. */
  probe(timeoutMs?: number): Promise<ProbeResult>;
  /** What the manifest says runs (last applied and verified), if anything. */
  manifest(): Promise<Manifest | undefined>;
  /** Revision and hash the manifest records as applied and verified (the reconcile loop's view). */
  applied(): Promise<{ revision: string; hash: string } | undefined>;
}

/** stateDir/manifest.json: what HAProxy runs, verified, and a copy of it (the last-known-good). */
export interface Manifest {
  version: 1;
  configPath: string;
  revision: string;
  hash: string;
  /** Managed extra files, relative to the config dir. */
  files: string[];
  appliedAt: string;
  /** applied: by this pipeline; restored: by a rollback or recovery; adopted: found on the host. */
  source: 'applied' | 'restored' | 'adopted';
  lkg: { config: string; files: { path: string; content: string }[] };
}

/** The rollback image kept in the journal. */
interface RollbackImage {
  revision: string;
  hash: string;
  verified: boolean;
  config: string;
  /** Managed files after a rollback. */
  files: { path: string; content: string }[];
  /** Other paths this apply writes: their content before it (null: did not exist). */
  others: { path: string; content: string | null }[];
}

/** stateDir/pending.json: an apply in progress. */
interface Journal {
  version: 1;
  configPath: string;
  startedAt: string;
  pid: number;
  revision: string;
  hash: string;
  files: string[];
  rollback: RollbackImage;
}

const MANIFEST = 'manifest.json';
const JOURNAL = 'pending.json';
const LOCK = 'apply.lock';
const TMP_MARK = '.hqtmp-';
const DEFAULT_CHECK_TIMEOUT_MS = 30_000;
const DEFAULT_RELOAD_TIMEOUT_MS = 10_000;

/** Same rule as the schema's ConfigFileSchema.path: no absolute paths, no "." or ".." segments. */
const SAFE_PATH = /^[A-Za-z0-9_-][A-Za-z0-9._-]*(\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$/;

export function contentHash(spec: { config: string; files?: { path: string; content: string }[] }): string {
  return `sha256:${createHash('sha256').update(contentHashInput(spec)).digest('hex')}`;
}

// ---------------------------------------------------------------------------------------------
// Durable file helpers
// ---------------------------------------------------------------------------------------------

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, fsConstants.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === code;
}

async function readIfExists(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return null;
    throw err;
  }
}

/**
 * Replace `path` with `content` so that a crash leaves either the old or the new file, never a
 * torn one: write a temp file in the same directory, fsync it, rename it over the target (atomic
 * on POSIX), fsync the directory so the rename itself is durable. An existing file's mode and
 * (when root) owner are kept: HAProxy may run as another user that must still read it.
 */
export async function writeFileAtomic(path: string, content: string, newFileMode = 0o644): Promise<void> {
  const dir = dirname(path);
  let mode = newFileMode;
  let owner: { uid: number; gid: number } | undefined;
  try {
    const st = await stat(path);
    mode = st.mode & 0o7777;
    owner = { uid: st.uid, gid: st.gid };
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
  const tmp = join(dir, `.${basename(path)}${TMP_MARK}${process.pid}-${randomBytes(4).toString('hex')}`);
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(content, 'utf8');
    await fh.chmod(mode);
    if (owner && process.getuid?.() === 0) await fh.chown(owner.uid, owner.gid);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(dir);
}

async function removeDurably(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return;
    throw err;
  }
  await fsyncDir(dirname(path));
}

/** mkdir -p, fsyncing each parent whose entry list changed. `mode` applies to the last level. */
async function ensureDir(dir: string, mode = 0o755): Promise<void> {
  try {
    await mkdir(dir, { mode });
    await fsyncDir(dirname(dir));
    return;
  } catch (err) {
    if (isErrno(err, 'EEXIST')) return;
    if (!isErrno(err, 'ENOENT')) throw err;
  }
  await ensureDir(dirname(dir));
  await ensureDir(dir, mode);
}

/** The state dir holds copies of configs (which may carry `stats auth` passwords): owner only. */
const STATE_DIR_MODE = 0o700;
const STATE_FILE_MODE = 0o600;

async function readJson<T>(path: string, what: string): Promise<T | undefined> {
  const text = await readIfExists(path);
  if (text === null) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new Error(`${what} ${path} is not valid JSON (${(err as Error).message}): inspect it, then remove it`);
  }
}

function isInside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
}

class StageError extends Error {}

// ---------------------------------------------------------------------------------------------
// The applier
// ---------------------------------------------------------------------------------------------

export function createApplier(target: ApplyTarget, deps: ApplierDeps = {}): Applier {
  const now = deps.now ?? (() => performance.now());
  const sleep = deps.sleep ?? ((ms: number) => delay(ms));
  const configPath = resolve(target.configPath);
  const configDir = dirname(configPath);
  const configName = basename(configPath);
  const stateDir = resolve(target.stateDir);
  const checkTimeout = target.checkTimeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
  const reloadTimeout = target.reloadTimeoutMs ?? DEFAULT_RELOAD_TIMEOUT_MS;
  const cli = deps.cli ?? createMasterCli(target.masterSocket, { reloadTimeoutMs: reloadTimeout, now, sleep });
  const manifestPath = join(stateDir, MANIFEST);
  const journalPath = join(stateDir, JOURNAL);
  const abs = (rel: string) => join(configDir, ...rel.split('/'));

  // One apply at a time in this process; the lock file guards against a second agent.
  let chain: Promise<unknown> = Promise.resolve();
  const serialize = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = chain.then(fn, fn);
    chain = run.catch(() => undefined);
    return run;
  };

  async function withLock<T>(fn: () => Promise<T>): Promise<T> {
    await ensureDir(stateDir, STATE_DIR_MODE);
    const lockPath = join(stateDir, LOCK);
    for (let attempt = 0; ; attempt++) {
      try {
        const fh = await open(lockPath, 'wx', 0o600);
        await fh.writeFile(String(process.pid));
        await fh.close();
        break;
      } catch (err) {
        if (!isErrno(err, 'EEXIST') || attempt > 0) throw err;
        // A lock left by a dead agent (SIGKILL, power loss) is stale; a live one is another agent.
        const holder = Number((await readIfExists(lockPath))?.trim());
        if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && pidAlive(holder)) {
          throw new Error(
            `another agent (PID ${holder}) is applying to ${configPath} (lock ${lockPath}); run one agent per HAProxy`,
          );
        }
        await rm(lockPath, { force: true });
      }
    }
    try {
      return await fn();
    } finally {
      await rm(lockPath, { force: true });
    }
  }

  const readManifest = async (): Promise<Manifest | undefined> => {
    const m = await readJson<Manifest>(manifestPath, 'manifest');
    // A manifest written for another config path does not describe this target.
    return m && m.version === 1 && m.configPath === configPath ? m : undefined;
  };

  const writeManifest = async (m: Manifest) => {
    await ensureDir(stateDir, STATE_DIR_MODE);
    await writeFileAtomic(manifestPath, `${JSON.stringify(m)}\n`, STATE_FILE_MODE);
  };

  async function readManaged(files: string[]): Promise<LocalFiles | undefined> {
    const config = await readIfExists(configPath);
    if (config === null) return undefined;
    const out: LocalFiles = { config, files: [] };
    for (const path of files) {
      const content = await readIfExists(abs(path));
      if (content !== null) out.files.push({ path, content });
    }
    return out;
  }

  async function diskHash(files: string[]): Promise<string | undefined> {
    const local = await readManaged(files);
    if (!local || local.files.length !== files.length) return undefined;
    return contentHash(local);
  }

  /**
   * Put the rollback image on disk: managed files back to their last-known-good content, other
   * paths the failed apply wrote back to what they were (or removed). Only files that differ are
   * rewritten.
   */
  async function restoreImage(image: RollbackImage): Promise<void> {
    for (const f of image.files) {
      if ((await readIfExists(abs(f.path))) !== f.content) {
        await ensureDir(dirname(abs(f.path)));
        await writeFileAtomic(abs(f.path), f.content);
      }
    }
    for (const o of image.others) {
      const current = await readIfExists(abs(o.path));
      if (o.content === null) {
        if (current !== null) await removeDurably(abs(o.path));
      } else if (current !== o.content) {
        await ensureDir(dirname(abs(o.path)));
        await writeFileAtomic(abs(o.path), o.content);
      }
    }
    if ((await readIfExists(configPath)) !== image.config) await writeFileAtomic(configPath, image.config);
  }

  const imageManifest = (image: RollbackImage, source: Manifest['source']): Manifest => ({
    version: 1,
    configPath,
    revision: image.revision,
    hash: image.hash,
    files: image.files.map((f) => f.path),
    appliedAt: new Date().toISOString(),
    source,
    lkg: { config: image.config, files: image.files },
  });

  /** Temp files from writes and stage dirs a killed agent left behind. */
  async function sweepLeftovers(journal: Journal | undefined): Promise<void> {
    const dirs = new Set([configDir]);
    for (const p of journal?.files ?? []) dirs.add(dirname(abs(p)));
    for (const dir of dirs) {
      const entries = await readdir(dir).catch(() => [] as string[]);
      for (const name of entries) if (name.includes(TMP_MARK)) await rm(join(dir, name), { force: true });
    }
    const stateEntries = await readdir(stateDir).catch(() => [] as string[]);
    for (const name of stateEntries) {
      if (name.startsWith('stage-') || name.includes(TMP_MARK)) await rm(join(stateDir, name), { recursive: true, force: true });
    }
  }

  async function reloadAndVerify(): Promise<ReloadResult> {
    try {
      return await cli.reload(reloadTimeout);
    } catch (err) {
      // The pre-reload show proc failed: nothing was sent.
      const t: ReloadResult = {
        ok: false,
        before: { master: { pid: 0, type: 'master', reloads: 0, uptimeSeconds: 0, version: '' }, workers: [] },
        reason: `reload not sent: ${(err as Error).message}`,
        durationMs: 0,
        sent: false,
        failedAt: 'reload',
      };
      return t;
    }
  }

  async function recoverLocked(): Promise<RecoverResult> {
    const journal = await readJson<Journal>(journalPath, 'apply journal');
    await sweepLeftovers(journal);
    if (!journal) return { action: 'none' };
    if (journal.configPath !== configPath) {
      throw new Error(
        `apply journal ${journalPath} belongs to ${journal.configPath}, not ${configPath}: use a separate --state-dir per HAProxy`,
      );
    }
    const manifest = await readManifest();
    if (manifest && manifest.hash === journal.hash) {
      // Killed after recording success: the apply completed.
      await removeDurably(journalPath);
      return { action: 'completed', interruptedRevision: journal.revision, revision: manifest.revision, hash: manifest.hash };
    }
    await restoreImage(journal.rollback);
    const r = await reloadAndVerify();
    if (!r.ok) {
      const out: RecoverResult = {
        action: 'failed',
        interruptedRevision: journal.revision,
        revision: journal.rollback.revision,
        hash: journal.rollback.hash,
        error:
          `an apply of revision ${journal.revision} was interrupted; its last-known-good files ` +
          `(revision ${journal.rollback.revision || '(found on host)'}) are back on disk but HAProxy ` +
          `could not be reloaded: ${r.reason ?? 'unknown'}`,
      };
      if (r.after) out.proc = r.after;
      return out;
    }
    await writeManifest(imageManifest(journal.rollback, journal.rollback.verified ? 'restored' : 'adopted'));
    await removeDurably(journalPath);
    const out: RecoverResult = {
      action: 'restored',
      interruptedRevision: journal.revision,
      revision: journal.rollback.revision,
      hash: journal.rollback.hash,
    };
    if (r.after) out.proc = r.after;
    return out;
  }

  /** Validates desired paths; returns them sorted. Throws StageError. */
  async function validatePaths(desired: DesiredConfig): Promise<string[]> {
    const seen = new Set<string>();
    for (const f of desired.files) {
      if (!SAFE_PATH.test(f.path)) {
        throw new StageError(
          `file path ${JSON.stringify(f.path)} is not allowed: paths are relative to the config directory, ` +
            'without "." or ".." segments or hidden names',
        );
      }
      const full = abs(f.path);
      if (!isInside(configDir, full)) throw new StageError(`file path ${JSON.stringify(f.path)} escapes ${configDir}`);
      if (f.path === configName) throw new StageError(`file path ${JSON.stringify(f.path)} would overwrite the config itself`);
      if (isInside(stateDir, full) || full === stateDir) {
        throw new StageError(`file path ${JSON.stringify(f.path)} points into the agent's state dir ${stateDir}`);
      }
      if (seen.has(f.path)) throw new StageError(`file path ${JSON.stringify(f.path)} is listed twice`);
      seen.add(f.path);
    }
    for (const p of seen) {
      const parts = p.split('/');
      for (let i = 1; i < parts.length; i++) {
        const prefix = parts.slice(0, i).join('/');
        if (seen.has(prefix)) throw new StageError(`file ${JSON.stringify(prefix)} is also a directory of ${JSON.stringify(p)}`);
      }
    }
    // An existing directory on the way that is a symlink leaving the config dir would make the
    // write land elsewhere on the host.
    const realConfigDir = await realpath(configDir);
    for (const p of seen) {
      let dir = dirname(abs(p));
      while (dir !== configDir && isInside(configDir, dir)) {
        const st = await lstat(dir).catch(() => undefined);
        if (st?.isSymbolicLink()) {
          const real = await realpath(dir);
          if (!isInside(realConfigDir, real)) {
            throw new StageError(`file path ${JSON.stringify(p)} goes through ${dir}, a symlink to ${real} outside ${configDir}`);
          }
        } else if (st && !st.isDirectory()) {
          throw new StageError(`file path ${JSON.stringify(p)} needs ${dir} to be a directory, but it is a file on the host`);
        }
        dir = dirname(dir);
      }
      const st = await lstat(abs(p)).catch(() => undefined);
      if (st?.isDirectory()) throw new StageError(`file path ${JSON.stringify(p)} is a directory on the host`);
    }
    return [...seen].sort();
  }

  /**
   * Link host entries we do not manage into the stage dir, so that `haproxy -c` sees the same
   * tree the reload will see (certificates, Lua files, maps placed by other tools).
   */
  async function mirrorUnmanaged(stageDir: string, rel: string, desired: Set<string>, dropped: Set<string>): Promise<void> {
    const hostDir = rel === '' ? configDir : abs(rel);
    let entries: string[];
    try {
      entries = await readdir(hostDir);
    } catch {
      return;
    }
    for (const name of entries) {
      const relPath = rel === '' ? name : `${rel}/${name}`;
      const hostPath = join(hostDir, name);
      if (rel === '' && name === configName) continue;
      if (name.includes(TMP_MARK) || desired.has(relPath) || dropped.has(relPath)) continue;
      if (hostPath === stateDir || isInside(hostPath, stateDir)) continue;
      const holdsDesired = [...desired].some((p) => p.startsWith(`${relPath}/`));
      const holdsDropped = [...dropped].some((p) => p.startsWith(`${relPath}/`));
      if (holdsDesired || holdsDropped) {
        await mkdir(join(stageDir, ...relPath.split('/')), { recursive: true });
        await mirrorUnmanaged(stageDir, relPath, desired, dropped);
      } else {
        await symlink(hostPath, join(stageDir, ...relPath.split('/')));
      }
    }
  }

  type Stage = NonNullable<ApplyResult['error']>['stage'];

  async function applyLocked(desired: DesiredConfig, t0: number, progress: { stage: Stage }): Promise<ApplyResult> {
    const timings: ApplyResult['timings'] = { totalMs: 0 };
    const base = { revision: desired.revision, hash: desired.hash };
    const done = (r: Omit<ApplyResult, 'revision' | 'hash' | 'timings'>): ApplyResult => {
      timings.totalMs = Math.round(now() - t0);
      return { ...base, ...r, timings };
    };
    const fail = (
      outcome: ApplyResult['outcome'],
      stage: NonNullable<ApplyResult['error']>['stage'],
      error: ConfigError,
      extra: Partial<ApplyResult> = {},
    ) => done({ outcome, error: { ...error, stage }, ...extra });

    // Finish an interrupted apply first: never build on an unknown state.
    const recovered = await recoverLocked();
    const extra: Partial<ApplyResult> = recovered.action === 'none' ? {} : { recovered };
    if (recovered.action === 'failed') {
      return fail('failed', 'rollback', { message: recovered.error ?? 'recovery failed' }, extra);
    }

    const ownHash = contentHash(desired);
    if (ownHash !== desired.hash) {
      return fail(
        'rejected',
        'stage',
        {
          message:
            `desired hash ${desired.hash} does not match its content (which hashes to ${ownHash}): ` +
            'refusing a corrupted revision',
        },
        extra,
      );
    }

    const manifest = await readManifest();

    // (a) Already there and verified? (A matching hash means the same paths as the manifest's,
    // which were validated when they were applied.)
    if (manifest && manifest.hash === desired.hash && (await diskHash(desired.files.map((f) => f.path))) === desired.hash) {
      const probe = await probeOnce(2_000);
      if (probe.ok && probe.proc && currentWorker(probe.proc)) {
        // Same bytes under a new revision name (an undo to identical content): record the name,
        // so the status says which revision runs, without touching HAProxy.
        if (manifest.revision !== desired.revision) await writeManifest({ ...manifest, revision: desired.revision });
        return done({ outcome: 'unchanged', proc: probe.proc, ...extra });
      }
      return fail(
        'failed',
        'verify',
        {
          message:
            `revision ${desired.revision} is on disk and recorded as applied, but HAProxy does not answer: ` +
            (probe.error ?? 'no current worker'),
        },
        { ...extra, ...(probe.proc ? { proc: probe.proc } : {}) },
      );
    }

    // (b) Stage.
    progress.stage = 'stage';
    let paths: string[];
    try {
      paths = await validatePaths(desired);
    } catch (err) {
      if (err instanceof StageError) return fail('rejected', 'stage', { message: err.message }, extra);
      throw err;
    }
    const desiredSet = new Set(paths);
    const previouslyManaged = manifest?.files ?? [];
    const dropped = new Set(previouslyManaged.filter((p) => !desiredSet.has(p)));

    await ensureDir(stateDir, STATE_DIR_MODE);
    const stageDir = await mkdtemp(join(stateDir, 'stage-'));
    try {
      try {
        // A throwaway copy: no fsync needed.
        await writeFile(join(stageDir, configName), desired.config);
        for (const f of desired.files) {
          const p = join(stageDir, ...f.path.split('/'));
          await mkdir(dirname(p), { recursive: true });
          await writeFile(p, f.content);
        }
        await mirrorUnmanaged(stageDir, '', desiredSet, dropped);
      } catch (err) {
        return fail('failed', 'stage', { message: `cannot stage the files in ${stageDir}: ${(err as Error).message}` }, extra);
      }

      // (c) haproxy -c on the staged copy.
      progress.stage = 'check';
      let check: CheckResult;
      try {
        check = await checkConfig({
          haproxyBin: target.haproxyBin,
          configPath: configName,
          cwd: stageDir,
          timeoutMs: checkTimeout,
        });
      } catch (err) {
        if (err instanceof HAProxyBinaryError) return fail('failed', 'check', { message: err.message }, extra);
        throw err;
      }
      timings.checkMs = check.durationMs;
      const warnings = check.warnings.map((w) => w.split(stageDir).join(configDir));
      if (warnings.length > 0) extra.warnings = warnings;
      if (!check.ok) {
        const e = check.error ?? { message: 'haproxy -c failed' };
        const error: ConfigError = { message: e.message.split(stageDir).join(configDir) };
        if (e.file !== undefined) error.file = e.file.split(stageDir).join(configDir);
        if (e.line !== undefined) error.line = e.line;
        return fail('rejected', 'check', error, extra);
      }
    } finally {
      await rm(stageDir, { recursive: true, force: true }).catch(() => undefined);
    }

    // Preflight: HAProxy must answer before we touch anything.
    const pre = await probeOnce(5_000);
    if (!pre.ok || !pre.proc) {
      return fail('failed', 'reload', { message: `${pre.error ?? 'HAProxy does not answer'}; nothing was written` }, extra);
    }
    const preWorker = currentWorker(pre.proc);

    // (d) Rollback image + journal.
    let rollback: RollbackImage;
    if (manifest) {
      const managed = new Set(manifest.files);
      rollback = {
        revision: manifest.revision,
        hash: manifest.hash,
        // A manifest is only ever written after a verified reload.
        verified: true,
        config: manifest.lkg.config,
        files: manifest.lkg.files,
        others: [],
      };
      for (const p of paths) if (!managed.has(p)) rollback.others.push({ path: p, content: await readIfExists(abs(p)) });
    } else {
      const current = await readIfExists(configPath);
      if (current === null) {
        return fail('failed', 'write', {
          message: `${configPath} does not exist, so HAProxy cannot be running it: start HAProxy with -f ${configPath} first`,
        }, extra);
      }
      rollback = {
        revision: '',
        hash: contentHash({ config: current, files: [] }),
        verified: false,
        config: current,
        files: [],
        others: [],
      };
      for (const p of paths) rollback.others.push({ path: p, content: await readIfExists(abs(p)) });
    }
    const journal: Journal = {
      version: 1,
      configPath,
      startedAt: new Date().toISOString(),
      pid: process.pid,
      revision: desired.revision,
      hash: desired.hash,
      files: paths,
      rollback,
    };

    // Put the image back, reload it if needed, verify: the common tail of every failure after (d).
    const rollBack = async (
      original: { stage: 'write' | 'reload' | 'verify'; message: string },
      reloadSent: boolean,
      lastProc: ProcInfo | undefined,
    ): Promise<ApplyResult> => {
      const r0 = now();
      const procExtra = (p: ProcInfo | undefined) => (p ? { proc: p } : {});
      try {
        await restoreImage(rollback);
      } catch (err) {
        timings.rollbackMs = Math.round(now() - r0);
        return fail('failed', 'rollback', {
          message: `${original.message}; restoring last-known-good files failed too: ${(err as Error).message}`,
        }, { ...extra, ...procExtra(lastProc) });
      }
      if (!reloadSent) {
        // HAProxy never got the new files: it still runs what it ran. Prove it is there.
        const p = await probeOnce(2_000);
        timings.rollbackMs = Math.round(now() - r0);
        const same = p.ok && p.proc && currentWorker(p.proc)?.pid === preWorker?.pid;
        if (same) {
          await writeManifest(imageManifest(rollback, rollback.verified ? 'restored' : 'adopted'));
          await removeDurably(journalPath);
          return fail(
            'rolled-back',
            original.stage,
            { message: `${original.message}; last-known-good files restored, HAProxy was not reloaded` },
            { ...extra, ...procExtra(p.proc) },
          );
        }
        return fail('failed', original.stage, {
          message:
            `${original.message}; last-known-good files restored on disk, but HAProxy cannot be verified: ` +
            `${p.error ?? 'its worker changed'} (the next apply or recover() reloads them once HAProxy answers)`,
        }, { ...extra, ...procExtra(p.proc ?? lastProc) });
      }
      const rr = await reloadAndVerify();
      timings.rollbackMs = Math.round(now() - r0);
      if (rr.ok) {
        await writeManifest(imageManifest(rollback, rollback.verified ? 'restored' : 'adopted'));
        await removeDurably(journalPath);
        return fail('rolled-back', original.stage, { message: original.message }, { ...extra, ...procExtra(rr.after) });
      }
      return fail('failed', 'rollback', {
        message:
          `${original.message}; rollback to last-known-good ` +
          `${rollback.revision ? `revision ${rollback.revision}` : '(found on host)'} also failed: ${rr.reason ?? 'unknown'}`,
      }, { ...extra, ...procExtra(rr.after ?? lastProc) });
    };

    // (e) Write.
    progress.stage = 'write';
    const w0 = now();
    try {
      await writeFileAtomic(journalPath, `${JSON.stringify(journal)}\n`, STATE_FILE_MODE);
      for (const f of desired.files) {
        const p = abs(f.path);
        if ((await readIfExists(p)) === f.content) continue;
        await deps.hooks?.beforeWrite?.(f.path);
        await ensureDir(dirname(p));
        await writeFileAtomic(p, f.content);
      }
      if ((await readIfExists(configPath)) !== desired.config) {
        await deps.hooks?.beforeWrite?.(configName);
        await writeFileAtomic(configPath, desired.config);
      }
      for (const p of dropped) await removeDurably(abs(p));
    } catch (err) {
      timings.writeMs = Math.round(now() - w0);
      if (!(await readIfExists(journalPath))) {
        const message = `cannot write the apply journal ${journalPath}: ${(err as Error).message}; nothing was changed`;
        return fail('failed', 'write', { message }, extra);
      }
      return rollBack({ stage: 'write', message: `writing the files failed: ${(err as Error).message}` }, false, pre.proc);
    }
    timings.writeMs = Math.round(now() - w0);
    await deps.hooks?.afterWrite?.();

    // (f) Reload and verify.
    progress.stage = 'reload';
    const r = await reloadAndVerify();
    timings.reloadMs = r.durationMs;
    if (!r.ok) {
      // (g)
      return rollBack(
        { stage: r.failedAt ?? 'verify', message: r.reason ?? 'reload could not be verified' },
        r.sent !== false,
        r.after,
      );
    }

    await deps.hooks?.afterReload?.();

    // (h) Record.
    await writeManifest({
      version: 1,
      configPath,
      revision: desired.revision,
      hash: desired.hash,
      files: paths,
      appliedAt: new Date().toISOString(),
      source: 'applied',
      lkg: {
        config: desired.config,
        files: [...desired.files]
          .sort((a, b) => (a.path < b.path ? -1 : 1))
          .map((f) => ({ path: f.path, content: f.content })),
      },
    });
    await removeDurably(journalPath);
    const result: Partial<ApplyResult> = { ...extra };
    if (r.after) result.proc = r.after;
    return done({ outcome: 'applied', ...result });
  }

  async function probeOnce(timeoutMs: number): Promise<ProbeResult> {
    const p0 = now();
    try {
      const proc = parseShowProc(await cli.command('show proc', timeoutMs));
      return { ok: true, proc, durationMs: Math.round(now() - p0) };
    } catch (err) {
      return { ok: false, error: (err as Error).message, durationMs: Math.round(now() - p0) };
    }
  }

  return {
    apply(desired) {
      const t0 = now();
      const progress: { stage: Stage } = { stage: 'rollback' };
      return serialize(() => withLock(() => applyLocked(desired, t0, progress))).catch(async (err: unknown) => {
        // Unexpected (EACCES on the state dir, disk full while recording...). If the journal is
        // there, the host may be half-way: the next apply() or recover() restores last-known-good.
        const journalLeft = (await readIfExists(journalPath).catch(() => null)) !== null;
        const result: ApplyResult = {
          outcome: 'failed',
          revision: desired.revision,
          hash: desired.hash,
          error: {
            stage: progress.stage,
            message:
              `unexpected error during ${progress.stage}: ${err instanceof Error ? err.message : String(err)}` +
              (journalLeft
                ? `; the apply journal ${journalPath} is kept: the next apply or recover() restores the last-known-good files`
                : ''),
          },
          timings: { totalMs: Math.round(now() - t0) },
        };
        return result;
      });
    },
    recover() {
      return serialize(() => withLock(() => recoverLocked()));
    },
    async localHash() {
      const m = await readManifest();
      const local = await readManaged(m?.files ?? []);
      return local ? contentHash(local) : undefined;
    },
    async readLocal() {
      const m = await readManifest();
      return readManaged(m?.files ?? []);
    },
    probe(timeoutMs = 2_000) {
      return probeOnce(timeoutMs);
    },
    manifest: readManifest,
    async applied() {
      const m = await readManifest();
      return m ? { revision: m.revision, hash: m.hash } : undefined;
    },
  };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, 'EPERM');
  }
}
