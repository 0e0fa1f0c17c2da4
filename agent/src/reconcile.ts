/**
 * The reconcile loop. Level-driven, as Kubernetes controllers are: every pass computes desired
 * (the instance's spec.configRevision, resolved) against actual (what the manifest says is
 * applied, what is on disk, what HAProxy reports) from scratch, so a missed event, a restart or
 * a reconnect cannot leave it wrong. Passes run on every watch event, on reconnect and
 * periodically; bursts coalesce into one pass (and so into at most one reload).
 *
 * When the API server is unreachable, HAProxy keeps its last good config: no pass applies
 * anything it cannot resolve, and nothing is reloaded for nothing.
 */
import { HAPROXY_NAME, revisionName, type ConfigRevision, type HAProxyInstance, type HAProxyInstanceStatus } from '@haproxyhq/schemas';
import type { ApplyResult, DesiredConfig } from './apply/types.ts';
import { desiredFor } from './desired.ts';
import { ApiError, type HQClient } from './client.ts';
import { unifiedDiff, type FileSet, type FileWatcher } from './drift.ts';
import type { MasterCli, ProcInfo } from './haproxy/types.ts';
import { buildStatus, significant, type Observed } from './status.ts';

/** The parts of the apply pipeline the loop uses. */
export interface Applier {
  apply(desired: DesiredConfig): Promise<ApplyResult>;
  /** Hash of the managed files on disk now. */
  localHash(): Promise<string | undefined>;
  /** What the manifest records as applied and verified. */
  applied(): Promise<{ revision: string; hash: string } | undefined>;
  /** The managed files as they are on disk now. */
  readLocal(): Promise<FileSet | undefined>;
  /** Finish or undo an apply a crash interrupted; runs before anything else, API or not. */
  recover(): Promise<{ action: string; interruptedRevision?: string; revision?: string; error?: string }>;
}

/** The live files on this host: validated and watched for local edits. */
export interface LocalFiles {
  /** `haproxy -c` on the live config as it is now. */
  check(): Promise<{ ok: boolean; error?: { message: string; line?: number; file?: string } }>;
  watch(onChange: (path: string) => void): FileWatcher;
}

export type DriftPolicy = 'report' | 'push' | 'revert';

export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  random(): number;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      signal?.addEventListener('abort', () => {
        clearTimeout(t);
        resolve();
      }, { once: true });
    }),
  random: Math.random,
};

export interface ReconcilerOptions {
  name: string;
  labels: Record<string, string>;
  agentVersion: string;
  hostname: string;
  /** Changes arriving within this window coalesce into one pass. */
  coalesceMs: number;
  /** A pass at least this often, even without events. */
  resyncMs: number;
  /** How often HAProxy is probed (show proc) for HAProxyRunning. */
  probeMs: number;
  /** How often the agent renews its Lease (the cheap liveness signal). */
  heartbeatMs: number;
  /** Stats (and status.heartbeatTime) are rewritten at most this often when nothing significant changed. */
  statsMs: number;
  /** What to do about local edits: report them (default), push them up as a new revision, or revert them. */
  onDrift: DriftPolicy;
  log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

export class Reconciler {
  private readonly client: HQClient;
  private readonly applier: Applier;
  private readonly cli: MasterCli;
  private readonly local: LocalFiles;
  private readonly o: ReconcilerOptions;
  private readonly clock: Clock;
  private instance: HAProxyInstance | undefined;
  private readonly revisions = new Map<string, ConfigRevision>();
  /** Hash of a revision that failed: not retried until the desired revision changes. */
  private failedHash: string | undefined;
  private lastApply: ApplyResult | undefined;
  private reported: HAProxyInstanceStatus | undefined;
  private reportedAt = 0;
  /** resourceVersion our last status write produced: only newer writes can be someone else's. */
  private reportedRv = 0;
  private pending: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopWatch: (() => void) | undefined;
  private readonly abort = new AbortController();
  /** Resolves after each completed pass (tests and `pull` wait on it). */
  private passListeners: (() => void)[] = [];
  /** The local hash drift was last reported / pushed for (once each, not every pass). */
  private driftEventHash: string | undefined;
  private pushedHash: string | undefined;
  /** Last server-state errors reported (an Event each time they change). */
  private serverErrors = '';

  constructor(client: HQClient, applier: Applier, cli: MasterCli, local: LocalFiles, options: ReconcilerOptions, clock: Clock = realClock) {
    this.client = client;
    this.applier = applier;
    this.cli = cli;
    this.local = local;
    this.o = options;
    this.clock = clock;
  }

  /** Register (or adopt) the instance, then watch and reconcile until stop(). */
  async run(): Promise<void> {
    const signal = this.abort.signal;
    // A previous agent killed mid-apply left a journal: put the host back on a verified config
    // before talking to anyone.
    const recovered = await this.applier.recover();
    if (recovered.action !== 'none') {
      this.o.log(recovered.action === 'failed' ? 'error' : 'warn', `recovered from an interrupted apply: ${recovered.action}`, { ...recovered });
    }
    await this.retry('register', () => this.register());
    // An edit to a managed file is seen within the coalescing window, not at the next resync.
    const files = this.local.watch(() => this.schedule());
    void this.watchLoop();
    const resync = setInterval(() => this.schedule(), this.o.resyncMs);
    const probe = setInterval(() => this.schedule(), this.o.probeMs);
    // Liveness rides on a small Lease, renewed often; the large status is written only when
    // something significant changed, or every statsMs for traffic counters.
    const renew = () =>
      void this.client
        .renewLease(this.o.name, this.o.hostname, Math.ceil((this.o.heartbeatMs * 4) / 1000), new Date(this.clock.now()))
        .catch((err: unknown) => this.o.log('warn', 'lease renewal failed', { err: (err as Error).message }));
    const lease = setInterval(renew, this.o.heartbeatMs);
    renew();
    this.schedule();
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    clearInterval(resync);
    clearInterval(probe);
    clearInterval(lease);
    if (this.pending) clearTimeout(this.pending);
    this.stopWatch?.();
    await files.close();
    await this.running;
  }

  stop(): void {
    this.abort.abort();
  }

  /** Resolves after the next complete pass. */
  nextPass(): Promise<void> {
    return new Promise((resolve) => this.passListeners.push(resolve));
  }

  private async retry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (this.abort.signal.aborted) throw err;
        const delay = this.backoff(attempt);
        this.o.log('warn', `${what} failed; retrying in ${delay} ms`, { err: (err as Error).message });
        await this.clock.sleep(delay, this.abort.signal);
      }
    }
  }

  /** Jittered exponential backoff: 0.5 s doubling to 30 s, ±50%, so a fleet does not reconnect in lockstep. */
  private backoff(attempt: number): number {
    const base = Math.min(30_000, 500 * 2 ** Math.min(attempt, 6));
    return Math.round(base * (0.5 + this.clock.random()));
  }

  private async register(): Promise<void> {
    const existing = await this.client.getInstance(this.o.name);
    if (!existing) {
      try {
        this.instance = await this.client.createInstance({
          apiVersion: 'haproxyhq.io/v1alpha1',
          kind: 'HAProxyInstance',
          metadata: { name: this.o.name, labels: this.o.labels },
          spec: {},
        });
        this.o.log('info', `registered HAProxyInstance ${this.client.namespace}/${this.o.name}`);
        return;
      } catch (err) {
        if (!(err instanceof ApiError && err.code === 409)) throw err;
        // Created meanwhile (another start of this agent): adopt it.
        return this.register();
      }
    }
    // Adopt: add the labels given on the command line that it lacks; never remove a person's.
    const missing = Object.entries(this.o.labels).filter(([k, v]) => existing.metadata.labels?.[k] !== v);
    this.instance = missing.length
      ? await this.client.patchInstance(this.o.name, { metadata: { labels: Object.fromEntries(missing) } })
      : existing;
    this.reported = existing.status;
    this.o.log('info', `adopted HAProxyInstance ${this.client.namespace}/${this.o.name}`);
  }

  /** Watch the instance; on any end, resume from the last resourceVersion (re-get after a 410). */
  private async watchLoop(): Promise<void> {
    let rv = this.instance?.metadata.resourceVersion ?? '0';
    for (let attempt = 0; !this.abort.signal.aborted; ) {
      const ended = new Promise<Error | undefined>((resolve) => {
        this.client
          .watchInstance(this.o.name, rv, {
            onEvent: (type, obj, resourceVersion) => {
              attempt = 0;
              if (resourceVersion) rv = resourceVersion;
              if (type === 'DELETED') {
                // Deleted by a person: register again on the next pass (a fresh, unassigned instance).
                this.instance = undefined;
              } else if (obj) this.instance = obj;
              if (type !== 'BOOKMARK') this.schedule();
            },
            onDone: resolve,
          })
          .then((stop) => (this.stopWatch = stop), resolve);
      });
      const err = await ended;
      if (this.abort.signal.aborted) return;
      if (err instanceof ApiError && err.code === 410) {
        // Our resourceVersion is gone from history: list the current state and resume from the
        // list's revision (the object's own may be older than the history too: a hot loop of
        // 410s). Backoff still applies if 410s repeat.
        try {
          const listed = await this.client.listInstance(this.o.name);
          if (listed.instance) this.instance = listed.instance;
          rv = listed.resourceVersion;
          this.o.log('info', `watch history expired; re-listed, resuming at resourceVersion ${rv}`);
          this.schedule();
          if (attempt++ === 0) continue;
        } catch {
          // fall through to backoff
        }
      }
      if (err) {
        const delay = this.backoff(attempt++);
        this.o.log('warn', `watch ended (${err.message}); reconnecting in ${delay} ms`);
        await this.clock.sleep(delay, this.abort.signal);
      }
      // Reconnected (or a normal server-side close): a pass catches up on anything missed.
      this.schedule();
    }
  }

  /** Ask for a pass; changes within the coalescing window share it. */
  schedule(): void {
    if (this.abort.signal.aborted || this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      if (this.running) {
        this.again = true;
        return;
      }
      this.running = this.pass().finally(() => {
        this.running = undefined;
        for (const l of this.passListeners.splice(0)) l();
        if (this.again) {
          this.again = false;
          this.schedule();
        }
      });
    }, this.o.coalesceMs);
  }

  /** One pass: desired vs actual from scratch, apply if needed, report. */
  async pass(): Promise<void> {
    try {
      if (!this.instance) await this.register();
      const instance = this.instance!;
      const observed: Observed = {
        generation: instance.metadata.generation,
        unassigned: !instance.spec?.configRevision,
        agentVersion: this.o.agentVersion,
        hostname: this.o.hostname,
      };
      const applied = await this.applier.applied();
      const localHash = await this.applier.localHash();
      const drifted = applied !== undefined && localHash !== undefined && localHash !== applied.hash;
      const want = instance.spec?.configRevision;
      if (want) {
        const revision = await this.resolve(want);
        if (!revision) observed.revisionMissing = want;
        else {
          const resolved = desiredFor(revision, instance);
          if ('rejected' in resolved) {
            if (this.lastApply?.error?.message !== resolved.rejected.error?.message) await this.event(resolved.rejected);
            this.lastApply = resolved.rejected;
          }
          const desired = 'desired' in resolved ? resolved.desired : undefined;
          // A local edit alone (the desired revision is the one applied) is overwritten only
          // under --on-drift=revert; a new desired revision always wins over local edits.
          const onlyDrift = drifted && applied.hash === desired?.hash;
          if (desired && desired.hash !== this.failedHash && !(onlyDrift && this.o.onDrift !== 'revert')) {
            const result = await this.applier.apply(desired);
            this.lastApply = result;
            this.failedHash = result.outcome === 'applied' || result.outcome === 'unchanged' ? undefined : desired.hash;
            if (result.outcome !== 'unchanged') await this.event(result);
          }
        }
      }
      observed.lastApply = this.lastApply;
      observed.applied = await this.applier.applied();
      const nowLocal = await this.applier.localHash();
      if (observed.applied && nowLocal !== undefined && nowLocal !== observed.applied.hash) {
        observed.drift = await this.describeDrift(observed.applied, nowLocal);
      }
      await this.probe(observed);
      if (observed.proc) await this.enforceServers(instance, observed);
      await this.report(observed);
    } catch (err) {
      this.o.log('warn', 'reconcile pass failed; the next pass retries', { err: (err as Error).message });
    }
  }

  /** Drift as people want to read it: is the edit valid, and the unified diff. Acts on the policy. */
  private async describeDrift(applied: { revision: string; hash: string }, localHash: string): Promise<string> {
    const [local, check] = await Promise.all([this.applier.readLocal(), this.local.check()]);
    let diff = '';
    try {
      const rev = await this.resolve(applied.revision);
      const resolved = rev && this.instance ? desiredFor(rev, this.instance) : undefined;
      if (resolved && 'desired' in resolved && local) diff = unifiedDiff(resolved.desired, local);
    } catch {
      // API unreachable and revision not cached: report without the diff.
    }
    const validity = check.ok
      ? 'the edited files pass haproxy -c'
      : `the edited files fail haproxy -c${check.error?.line ? ` at line ${check.error.line}` : ''}: ${check.error?.message ?? 'invalid'}`;
    const message = `local edits differ from ${applied.revision}; ${validity}${diff ? `\n${diff}` : ''}`;
    if (this.driftEventHash !== localHash) {
      this.driftEventHash = localHash;
      await this.recordEvent('Warning', 'DriftDetected', message.slice(0, 32_000));
    }
    if (this.o.onDrift === 'push' && check.ok && this.pushedHash !== localHash) {
      this.pushedHash = localHash;
      try {
        const pushed = await this.push();
        return `${message.split('\n')[0]}; pushed as ${pushed}${diff ? `\n${diff}` : ''}`;
      } catch (err) {
        this.o.log('warn', 'pushing local edits failed', { err: (err as Error).message });
      }
    }
    return message;
  }

  /**
   * Send the local files up as a new revision of the config this host runs, and point this
   * instance at it (as the original agent's --push did). Returns the new revision's name.
   */
  async push(): Promise<string> {
    if (!this.instance) await this.register();
    const from = (await this.applier.applied())?.revision ?? this.instance?.spec?.configRevision;
    if (!from) throw new Error('nothing to push to: this instance has not run a revision of any HAProxyConfig yet');
    const rev = await this.resolve(from);
    if (!rev) throw new Error(`ConfigRevision ${from} no longer exists: cannot tell which HAProxyConfig to push to`);
    if (rev.spec.config.template) {
      throw new Error(`HAProxyConfig ${rev.spec.configName} is a template: pushing this host's rendered files would replace it for every instance; edit the template instead`);
    }
    const local = await this.applier.readLocal();
    if (!local) throw new Error('the managed config file is missing: nothing to push');
    const check = await this.local.check();
    if (!check.ok) {
      throw new Error(`the local config fails haproxy -c${check.error?.line ? ` at line ${check.error.line}` : ''}: ${check.error?.message ?? 'invalid'}; fix it before pushing`);
    }
    const kinds = new Map((rev.spec.config.files ?? []).map((f) => [f.path, f.kind]));
    const files = local.files.map((f) => (kinds.get(f.path) ? { ...f, kind: kinds.get(f.path) } : f));
    const config = await this.client.patchConfig(rev.spec.configName, { spec: { config: local.config, files } });
    const name = revisionName(rev.spec.configName, config.metadata.generation ?? 1);
    this.instance = await this.client.patchInstance(this.o.name, { spec: { configRevision: name } });
    await this.recordEvent('Normal', 'LocalEditsPushed', `pushed the local files as ${name}`);
    this.o.log('info', `pushed local files as ${name}`);
    return name;
  }

  /**
   * Hold the declared server states and weights through the runtime API. Level-driven: checked
   * every pass against HAProxy's own `show stat`, so a reload (which starts a worker with the
   * config's states) is corrected on the pass that did it.
   */
  private async enforceServers(instance: HAProxyInstance, o: Observed): Promise<void> {
    const declared = instance.spec?.servers ?? [];
    if (declared.length === 0) return;
    const name = new RegExp(HAPROXY_NAME);
    const stats = await this.cli.showStat();
    const errors: string[] = [];
    let changed = false;
    for (const d of declared) {
      const id = `${d.backend}/${d.server}`;
      // Never trust a name into a CLI command line, even one the server validated.
      if (!name.test(d.backend) || !name.test(d.server)) {
        errors.push(`${JSON.stringify(id)}: not a valid HAProxy name`);
        continue;
      }
      const row = stats.find((s) => s.type === 'server' && s.proxy === d.backend && s.name === d.server);
      if (!row) {
        errors.push(`${id}: no such server in the running config`);
        continue;
      }
      const current = row.status.startsWith('MAINT') ? 'maint' : row.status.startsWith('DRAIN') ? 'drain' : 'ready';
      const commands: string[] = [];
      if (d.state && d.state !== current) commands.push(`@1 set server ${id} state ${d.state}`);
      if (d.weight !== undefined && row.weight !== d.weight) commands.push(`@1 set weight ${id} ${d.weight}`);
      for (const cmd of commands) {
        const answer = (await this.cli.command(cmd)).trim();
        changed = true;
        if (answer) errors.push(`${id}: ${answer}`);
      }
    }
    if (changed) o.stats = await this.cli.showStat();
    const summary = errors.join('; ');
    if (summary && summary !== this.serverErrors) {
      await this.recordEvent('Warning', 'ServerStateFailed', summary.slice(0, 32_000));
      this.o.log('warn', 'could not apply declared server states', { errors });
    }
    this.serverErrors = summary;
  }

  private async resolve(name: string): Promise<ConfigRevision | undefined> {
    // Revisions are immutable: fetched once, cached forever (bounded by what this host runs).
    const cached = this.revisions.get(name);
    if (cached) return cached;
    const rev = await this.client.getRevision(name);
    if (rev) {
      this.revisions.set(name, rev);
      if (this.revisions.size > 16) this.revisions.delete(this.revisions.keys().next().value!);
    }
    return rev;
  }

  private async probe(o: Observed): Promise<void> {
    let proc: ProcInfo;
    try {
      proc = await this.cli.showProc();
    } catch (err) {
      o.procError = (err as Error).message;
      return;
    }
    o.proc = proc;
    o.haproxyVersion = proc.master.version;
    const dueStats = this.clock.now() - this.reportedAt >= this.o.statsMs || !this.reported?.stats;
    if (dueStats) {
      try {
        [o.info, o.stats] = await Promise.all([this.cli.showInfo(), this.cli.showStat()]);
      } catch (err) {
        this.o.log('warn', 'show info/stat failed', { err: (err as Error).message });
      }
    }
  }

  private async report(o: Observed): Promise<void> {
    const next = buildStatus(o, this.reported, new Date(this.clock.now()));
    if (!o.stats && this.reported?.stats) next.stats = this.reported.stats;
    // Someone else rewrote our status (the server marks an agent lost when its Lease lapses):
    // put the truth back at once rather than at the next stats interval.
    // (Only a version newer than our own last write counts: the watch echoes our writes late.)
    const overwritten =
      this.instance?.status !== undefined &&
      this.reported !== undefined &&
      Number(this.instance.metadata.resourceVersion) > this.reportedRv &&
      significant(this.instance.status) !== significant(this.reported);
    const changed = overwritten || significant(next) !== significant(this.reported);
    const due = this.clock.now() - this.reportedAt >= this.o.statsMs;
    if (!changed && !due) return;
    if (!changed && this.reported) next.heartbeatTime = next.heartbeatTime ?? this.reported.heartbeatTime;
    // A merge patch keeps what it leaves out: clear a fixed apply error explicitly.
    const clear = this.reported?.lastApplyError && !next.lastApplyError ? { lastApplyError: null } : {};
    const updated = await this.client.patchInstanceStatus(this.o.name, { ...next, ...clear });
    this.instance = { ...updated, spec: updated.spec };
    this.reported = updated.status;
    this.reportedRv = Number(updated.metadata.resourceVersion);
    this.reportedAt = this.clock.now();
  }

  private async event(result: ApplyResult): Promise<void> {
    const reasons = { applied: 'ConfigApplied', rejected: 'ConfigRejected', 'rolled-back': 'RolledBack', failed: 'ApplyFailed', unchanged: '' };
    const where = result.error?.line ? ` at ${result.error.file ?? 'haproxy.cfg'}:${result.error.line}` : '';
    await this.recordEvent(
      result.outcome === 'applied' ? 'Normal' : 'Warning',
      reasons[result.outcome],
      result.outcome === 'applied'
        ? `applied ${result.revision} in ${Math.round(result.timings.totalMs)} ms`
        : `${result.revision}${where}: ${result.error?.message ?? result.outcome}`,
    );
  }

  private async recordEvent(type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = new Date(this.clock.now()).toISOString().replace(/\.\d+Z$/, 'Z');
    try {
      await this.client.createEvent({
        metadata: { generateName: `${this.o.name}-` },
        involvedObject: { apiVersion: 'haproxyhq.io/v1alpha1', kind: 'HAProxyInstance', name: this.o.name, namespace: this.client.namespace, uid: this.instance?.metadata.uid },
        type,
        reason,
        message,
        count: 1,
        firstTimestamp: now,
        lastTimestamp: now,
        source: { component: 'hq-agent', host: this.o.hostname },
      });
    } catch (err) {
      this.o.log('warn', 'could not record an Event', { err: (err as Error).message });
    }
  }
}
