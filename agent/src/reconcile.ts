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
import type { ConfigRevision, HAProxyInstance, HAProxyInstanceStatus } from '@haproxyhq/schemas';
import type { ApplyResult, DesiredConfig } from './apply/types.ts';
import { ApiError, type HQClient } from './client.ts';
import type { MasterCli, ProcInfo } from './haproxy/types.ts';
import { buildStatus, significant, type Observed } from './status.ts';

/** The parts of the apply pipeline the loop uses. */
export interface Applier {
  apply(desired: DesiredConfig): Promise<ApplyResult>;
  /** Hash of the managed files on disk now. */
  localHash(): Promise<string | undefined>;
  /** What the manifest records as applied and verified. */
  applied(): Promise<{ revision: string; hash: string } | undefined>;
}

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
  /** Stats and heartbeat go out at most this often when nothing significant changed. */
  heartbeatMs: number;
  log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

export class Reconciler {
  private readonly client: HQClient;
  private readonly applier: Applier;
  private readonly cli: MasterCli;
  private readonly o: ReconcilerOptions;
  private readonly clock: Clock;
  private instance: HAProxyInstance | undefined;
  private readonly revisions = new Map<string, ConfigRevision>();
  /** Hash of a revision that failed: not retried until the desired revision changes. */
  private failedHash: string | undefined;
  private lastApply: ApplyResult | undefined;
  private reported: HAProxyInstanceStatus | undefined;
  private reportedAt = 0;
  private pending: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopWatch: (() => void) | undefined;
  private readonly abort = new AbortController();
  /** Resolves after each completed pass (tests and `pull` wait on it). */
  private passListeners: (() => void)[] = [];

  constructor(client: HQClient, applier: Applier, cli: MasterCli, options: ReconcilerOptions, clock: Clock = realClock) {
    this.client = client;
    this.applier = applier;
    this.cli = cli;
    this.o = options;
    this.clock = clock;
  }

  /** Register (or adopt) the instance, then watch and reconcile until stop(). */
  async run(): Promise<void> {
    const signal = this.abort.signal;
    await this.retry('register', () => this.register());
    void this.watchLoop();
    const resync = setInterval(() => this.schedule(), this.o.resyncMs);
    const probe = setInterval(() => this.schedule(), this.o.probeMs);
    this.schedule();
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    clearInterval(resync);
    clearInterval(probe);
    if (this.pending) clearTimeout(this.pending);
    this.stopWatch?.();
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
        // Our resourceVersion is gone from history: read the current state and go on from it.
        try {
          this.instance = (await this.client.getInstance(this.o.name)) ?? this.instance;
          rv = this.instance?.metadata.resourceVersion ?? '0';
          this.schedule();
          continue;
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
      const want = instance.spec?.configRevision;
      if (want) {
        const revision = await this.resolve(want);
        if (!revision) observed.revisionMissing = want;
        else {
          const desired: DesiredConfig = {
            revision: want,
            hash: revision.spec.contentHash,
            config: revision.spec.config.config,
            files: revision.spec.config.files?.map((f) => ({ path: f.path, content: f.content })) ?? [],
          };
          if (desired.hash !== this.failedHash) {
            const result = await this.applier.apply(desired);
            this.lastApply = result;
            this.failedHash = result.outcome === 'applied' || result.outcome === 'unchanged' ? undefined : desired.hash;
            if (result.outcome !== 'unchanged') await this.event(result);
          }
        }
      }
      observed.lastApply = this.lastApply;
      observed.applied = await this.applier.applied();
      const local = await this.applier.localHash();
      if (observed.applied && local !== undefined && local !== observed.applied.hash) {
        observed.drift = `the managed files on disk (${local.slice(0, 19)}…) differ from ${observed.applied.revision} (${observed.applied.hash.slice(0, 19)}…)`;
      }
      await this.probe(observed);
      await this.report(observed);
    } catch (err) {
      this.o.log('warn', 'reconcile pass failed; the next pass retries', { err: (err as Error).message });
    }
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
    const dueStats = this.clock.now() - this.reportedAt >= this.o.heartbeatMs || !this.reported?.stats;
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
    const changed = significant(next) !== significant(this.reported);
    const due = this.clock.now() - this.reportedAt >= this.o.heartbeatMs;
    if (!changed && !due) return;
    if (!changed && this.reported) next.heartbeatTime = next.heartbeatTime ?? this.reported.heartbeatTime;
    const updated = await this.client.patchInstanceStatus(this.o.name, next);
    this.instance = { ...updated, spec: updated.spec };
    this.reported = updated.status;
    this.reportedAt = this.clock.now();
  }

  private async event(result: ApplyResult): Promise<void> {
    const reasons = { applied: 'ConfigApplied', rejected: 'ConfigRejected', 'rolled-back': 'RolledBack', failed: 'ApplyFailed', unchanged: '' };
    const now = new Date(this.clock.now()).toISOString().replace(/\.\d+Z$/, 'Z');
    const where = result.error?.line ? ` at ${result.error.file ?? 'haproxy.cfg'}:${result.error.line}` : '';
    try {
      await this.client.createEvent({
        metadata: { generateName: `${this.o.name}-` },
        involvedObject: { apiVersion: 'haproxyhq.io/v1alpha1', kind: 'HAProxyInstance', name: this.o.name, namespace: this.client.namespace, uid: this.instance?.metadata.uid },
        type: result.outcome === 'applied' ? 'Normal' : 'Warning',
        reason: reasons[result.outcome],
        message: result.outcome === 'applied'
          ? `applied ${result.revision} in ${Math.round(result.timings.totalMs)} ms`
          : `${result.revision}${where}: ${result.error?.message ?? result.outcome}`,
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
