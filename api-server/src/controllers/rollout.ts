/**
 * The rollout controller: for each HAProxyConfig, move the instances its selector matches to its
 * latest ConfigRevision by its strategy, and say how it is going in the config's status.
 *
 * Level-driven like Kubernetes' Deployment and DaemonSet controllers: every sync reads the cached
 * config, instances and revisions and computes what to do from scratch, so a restart, a missed
 * event or a new leader picks up exactly where things stand. The only memory a rollout has is in
 * the store: each instance's spec.configRevision (with the time it was set, in an annotation)
 * and the config's status conditions (a halt is remembered there, per revision).
 */
import {
  API_VERSION,
  CONFIG_LABEL,
  DEFAULT_REVISION_HISTORY_LIMIT,
  REVISION_SET_AT_ANNOTATION,
  TemplateError,
  renderConfig,
  revisionName,
  type Condition,
  type ConfigRevision,
  type HAProxyConfig,
  type HAProxyInstance,
} from '@haproxyhq/schemas';
import type { Static } from '@sinclair/typebox';
import type { HAProxyConfigStatusSchema } from '@haproxyhq/schemas';
import { SYSTEM_ACTORS } from '../audit/log.ts';
import { ApiError } from '../errors.ts';
import type { ApiObject, ResourceRegistry } from '../registry/registry.ts';
import { matchesLabels, requirementsFromSelector, type Requirement } from '../registry/selectors.ts';
import { objectKey, startInformer, type Informer } from './informer.ts';

type ConfigStatus = Static<typeof HAProxyConfigStatusSchema>;

/** Default health deadline: how long an updated instance may take to be ConfigApplied and Ready. */
export const DEFAULT_HEALTH_DEADLINE_SECONDS = 120;
/** Rolling default after the canary, as Deployments default maxUnavailable to 25%. */
export const DEFAULT_MAX_UNAVAILABLE = '25%';

export interface RolloutControllerOptions {
  registries: ReadonlyMap<string, ResourceRegistry>;
  log(level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>): void;
  /** Periodic full resync (deadlines, lost agents); default 5 s. */
  resyncMs?: number;
  now?: () => number;
  /** Identity written as the Events' source host. */
  identity?: string;
}

export interface Controller {
  /** Resolves once every informer has listed. */
  readonly synced: Promise<void>;
  stop(): void;
}

/** Every write of the controller is audited under its name. */
const actor = SYSTEM_ACTORS.rollout;

const isoNow = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
const cond = (o: { status?: unknown }, type: string): Condition | undefined =>
  ((o.status as { conditions?: Condition[] } | undefined)?.conditions ?? []).find((c) => c.type === type);

/** maxUnavailable as a count of `total` (a percentage rounds down, as in Kubernetes, but is at least 1). */
export function resolveMaxUnavailable(value: number | string | undefined, total: number): number {
  const v = value ?? DEFAULT_MAX_UNAVAILABLE;
  if (typeof v === 'number') return Math.max(1, v);
  return Math.max(1, Math.floor((total * Number(v.slice(0, -1))) / 100));
}

/**
 * The controller's cached copy of an instance: what rolloutView, instanceView, the template check
 * and markLostAgents read, and no more. Above all not the stats summary, which can be 150 KiB per
 * host (1,000 servers): ten thousand of them would be gigabytes; nor HAProxy's details, the agent's
 * or the heartbeat. Every condition stays: markLostAgents writes the list back whole.
 */
function trimInstance(obj: ApiObject): ApiObject {
  const status = obj.status as HAProxyInstance['status'];
  if (!status) return obj;
  const kept: NonNullable<HAProxyInstance['status']> = {};
  if (status.conditions !== undefined) kept.conditions = status.conditions;
  if (status.appliedRevision !== undefined) kept.appliedRevision = status.appliedRevision;
  if (status.lastApplyError !== undefined) kept.lastApplyError = status.lastApplyError;
  return { ...obj, status: kept };
}

/** What of a Lease's spec the controller reads. */
type LeaseSpec = { leaseDurationSeconds?: number; holderIdentity?: string };

/** The controller's cached copy of a Lease: whose it is and for how long (leaseSeen reads no more). */
function trimLease(obj: ApiObject): ApiObject {
  const spec = (obj.spec ?? {}) as LeaseSpec;
  const { name, namespace, resourceVersion } = obj.metadata;
  return {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    metadata: { name, namespace, resourceVersion },
    spec: { leaseDurationSeconds: spec.leaseDurationSeconds, holderIdentity: spec.holderIdentity },
  };
}

/** rolloutView of each cached instance (an informer replaces an object when it changes, never edits it). */
const rolloutViews = new WeakMap<ApiObject, string>();

/** What of an instance a rollout reads: a change to anything else (stats, heartbeats) is ignored. */
function rolloutView(obj: ApiObject): string {
  let view = rolloutViews.get(obj);
  if (view === undefined) rolloutViews.set(obj, (view = computeRolloutView(obj)));
  return view;
}

function computeRolloutView(obj: ApiObject): string {
  const i = obj as unknown as HAProxyInstance;
  const s = i.status;
  return JSON.stringify([
    i.metadata.labels,
    i.metadata.annotations?.[REVISION_SET_AT_ANNOTATION],
    i.spec?.configRevision,
    i.spec?.paused,
    i.spec?.values,
    s?.appliedRevision,
    s?.lastApplyError?.revision,
    s?.lastApplyError?.message,
    (s?.conditions ?? []).filter((c) => c.type !== 'HAProxyRunning' && c.type !== 'Drifted').map((c) => [c.type, c.status, c.reason, c.message]),
  ]);
}

interface InstanceView {
  obj: ApiObject;
  name: string;
  onTarget: boolean;
  ready: boolean;
  /** Why it counts as failed on the target revision, when it does. */
  failure?: string;
}

/** Where one instance stands against the target revision. */
export function instanceView(obj: ApiObject, target: string, nowMs: number, deadlineMs: number): InstanceView {
  const i = obj as unknown as HAProxyInstance;
  const name = i.metadata.name!;
  const onTarget = i.spec?.configRevision === target;
  const status = i.status ?? {};
  const applied = cond(obj, 'ConfigApplied');
  const ready = onTarget && status.appliedRevision === target && applied?.status === 'True' && cond(obj, 'Ready')?.status === 'True';
  let failure: string | undefined;
  if (onTarget && !ready) {
    if (applied?.status === 'False' && status.lastApplyError?.revision === target) {
      failure = `${name}: ${applied.reason ?? 'ApplyFailed'}: ${applied.message ?? status.lastApplyError.message}`;
    } else {
      const setAt = Date.parse(i.metadata.annotations?.[REVISION_SET_AT_ANNOTATION] ?? '');
      if (Number.isFinite(setAt) && nowMs - setAt > deadlineMs) {
        const why = cond(obj, 'Ready')?.message ?? applied?.message ?? 'no status from its agent';
        failure = `${name}: not ConfigApplied and Ready on ${target} within ${Math.round(deadlineMs / 1000)} s (${why})`;
      }
    }
  }
  return { obj, name, onTarget, ready, failure };
}

/** instanceView of each cached instance against a target, while it cannot change with the clock. */
const instanceViews = new WeakMap<ApiObject, { target: string; deadlineMs: number; view: InstanceView }>();

/**
 * instanceView, reused while the object, target and deadline are the same (an informer replaces
 * an object when it changes). Only an instance told to run the target and not yet ready on it
 * can fail with the passing of time: that one is looked at again every sync.
 */
function cachedInstanceView(obj: ApiObject, target: string, nowMs: number, deadlineMs: number): InstanceView {
  const c = instanceViews.get(obj);
  if (c && c.target === target && c.deadlineMs === deadlineMs) return c.view;
  const view = instanceView(obj, target, nowMs, deadlineMs);
  if (!view.onTarget || view.ready || view.failure) instanceViews.set(obj, { target, deadlineMs, view });
  return view;
}

export function startRolloutController(o: RolloutControllerOptions): Controller {
  const now = o.now ?? Date.now;
  const reg = (plural: string) => o.registries.get(plural)!;
  const configsReg = reg('haproxyconfigs');
  const instancesReg = reg('haproxyinstances');
  const revisionsReg = reg('configrevisions');
  const eventsReg = reg('events');

  const queue = new Set<string>();
  let draining = false;
  let stopped = false;
  // Render checks are pure in (revision, name, labels, values): cache them across syncs.
  const renderCache = new Map<string, string | null>();

  const enqueueNamespace = (ns: string | undefined) => {
    for (const c of configs.items.values()) if (c.metadata.namespace === ns) queue.add(objectKey(c));
    drain();
  };
  const onError = (err: unknown) => o.log('warn', 'rollout controller: informer error; re-listing', { err: (err as Error).message });
  // A config's selector changes what its neighbours may touch (conflicts): sync the namespace.
  const configs: Informer = startInformer(configsReg, (c) => enqueueNamespace(c.metadata.namespace), onError);
  // Most instance writes are agents refreshing stats: only what a rollout reads wakes the controller.
  const instances: Informer = startInformer(
    instancesReg,
    (i, old, type) => {
      if (type === 'MODIFIED' && old && rolloutView(old) === rolloutView(i)) return;
      enqueueNamespace(i.metadata.namespace);
    },
    onError,
    trimInstance,
  );
  const revisions: Informer = startInformer(revisionsReg, () => {}, onError);
  // Agent liveness, as Kubernetes' node lifecycle controller does it: when each agent's Lease last
  // changed, by our own clock (never comparing the agent's clock with ours).
  const leaseSeen = new Map<string, { rv: string; at: number; durationMs: number; holder?: string }>();
  const leases: Informer = startInformer(reg('leases'), (l, _old, type) => {
    const key = objectKey(l);
    if (type === 'DELETED') leaseSeen.delete(key);
    else {
      const spec = (l.spec ?? {}) as LeaseSpec;
      leaseSeen.set(key, { rv: l.metadata.resourceVersion!, at: now(), durationMs: (spec.leaseDurationSeconds ?? 40) * 1000, holder: spec.holderIdentity });
    }
  }, onError, trimLease);
  const synced = Promise.all([configs.synced, instances.synced, revisions.synced]).then(() => {
    for (const c of configs.items.values()) queue.add(objectKey(c));
    drain();
  });
  const resync = setInterval(() => {
    for (const c of configs.items.values()) queue.add(objectKey(c));
    drain();
    void markLostAgents().catch((err: unknown) => o.log('warn', 'rollout controller: agent liveness check failed', { err: (err as Error).message }));
  }, o.resyncMs ?? 5_000);
  resync.unref();

  // A sync reads the whole fleet, so with ten thousand instances it is not free: after a sync that
  // took d ms, the same config waits 3d (at most 1 s) before the next one, so status writes
  // streaming in are folded into few syncs and the controller stays under ~25% of the event loop.
  const notBefore = new Map<string, number>();
  const deferred = new Set<string>();
  function drain(): void {
    if (draining || stopped) return;
    draining = true;
    // Let a burst of watch events land first: one sync sees them all.
    setImmediate(async () => {
      try {
        await synced;
        while (queue.size > 0 && !stopped) {
          const key = queue.values().next().value!;
          queue.delete(key);
          const wait = (notBefore.get(key) ?? 0) - now();
          if (wait > 0) {
            if (!deferred.has(key)) {
              deferred.add(key);
              setTimeout(() => {
                deferred.delete(key);
                queue.add(key);
                drain();
              }, wait).unref();
            }
            continue;
          }
          const started = performance.now();
          try {
            await sync(key);
            notBefore.set(key, now() + Math.min(1_000, 3 * (performance.now() - started)));
          } catch (err) {
            if (err instanceof ApiError && err.reason === 'Conflict') queue.add(key);
            else o.log('warn', `rollout controller: sync of ${key} failed; will retry`, { err: (err as Error).message });
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      } finally {
        draining = false;
        if (queue.size > 0 && !stopped) drain();
      }
    });
  }

  /** Record an Event about a config or an instance; failing to record one never fails a sync. */
  async function event(about: ApiObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const t = isoNow(now());
    const meta = about.metadata;
    try {
      await eventsReg.create(meta.namespace!, {
        apiVersion: API_VERSION,
        kind: 'Event',
        metadata: { generateName: `${meta.name}.`, namespace: meta.namespace },
        involvedObject: { apiVersion: API_VERSION, kind: about.kind ?? 'HAProxyConfig', name: meta.name!, namespace: meta.namespace, uid: meta.uid },
        type,
        reason,
        message: message.slice(0, 32_000),
        count: 1,
        firstTimestamp: t,
        lastTimestamp: t,
        source: { component: 'rollout-controller', ...(o.identity ? { host: o.identity } : {}) },
      }, { actor });
    } catch (err) {
      o.log('warn', `rollout controller: could not record event ${reason}`, { err: (err as Error).message });
    }
  }

  function renderError(rev: ConfigRevision, inst: ApiObject): string | undefined {
    if (!rev.spec.config.template) return undefined;
    const i = inst as unknown as HAProxyInstance;
    const key = `${rev.metadata.name}\0${i.metadata.name}\0${JSON.stringify(i.metadata.labels ?? {})}\0${JSON.stringify(i.spec?.values ?? {})}`;
    let out = renderCache.get(key);
    if (out === undefined) {
      try {
        renderConfig(rev.spec.config, i);
        out = null;
      } catch (e) {
        if (!(e instanceof TemplateError)) throw e;
        out = e.message;
      }
      if (renderCache.size > 100_000) renderCache.clear();
      renderCache.set(key, out);
    }
    return out ?? undefined;
  }

  async function sync(key: string): Promise<void> {
    const obj = configs.items.get(key);
    if (!obj) return;
    const config = obj as unknown as HAProxyConfig;
    const ns = config.metadata.namespace!;
    const name = config.metadata.name!;
    const generation = config.metadata.generation ?? 1;
    const target = revisionName(name, generation);
    const rev = revisions.items.get(`${ns}/${target}`) as unknown as ConfigRevision | undefined;
    if (!rev) {
      // Recorded in the same transaction as the config: our revision watch is just behind.
      setTimeout(() => {
        queue.add(key);
        drain();
      }, 50);
      return;
    }
    const spec = config.spec;
    const old: ConfigStatus = config.status ?? {};
    const t = now();
    const strategy = spec.strategy ?? { type: 'AllAtOnce' as const };
    const deadlineMs = (strategy.healthDeadlineSeconds ?? DEFAULT_HEALTH_DEADLINE_SECONDS) * 1000;

    // Who this config selects, and who else selects them. No selector selects nothing: a config
    // without one runs only where a person pins it (an empty selector, {}, selects everything).
    const selectors = new Map<string, Requirement[]>();
    for (const c of configs.items.values()) {
      const s = (c as unknown as HAProxyConfig).spec.instanceSelector;
      if (c.metadata.namespace === ns && s) selectors.set(c.metadata.name!, requirementsFromSelector(s));
    }
    const mine = selectors.get(name);
    const otherSelectors = [...selectors].filter(([n]) => n !== name);
    const matched: ApiObject[] = [];
    const conflicts: { instance: string; configs: string[] }[] = [];
    let pausedInstances = 0;
    const eligible: ApiObject[] = [];
    if (mine) {
      for (const i of instances.items.values()) {
        if (i.metadata.namespace !== ns || !matchesLabels(mine, i.metadata.labels ?? {})) continue;
        matched.push(i);
        const others = otherSelectors.filter(([, r]) => matchesLabels(r, i.metadata.labels ?? {})).map(([n]) => n);
        if (others.length > 0) conflicts.push({ instance: i.metadata.name!, configs: [name, ...others].sort() });
        else if ((i.spec as { paused?: boolean } | undefined)?.paused) pausedInstances++;
        else eligible.push(i);
      }
    }
    eligible.sort((a, b) => (a.metadata.name! < b.metadata.name! ? -1 : 1));
    conflicts.sort((a, b) => (a.instance < b.instance ? -1 : 1));

    const views = eligible.map((i) => cachedInstanceView(i, target, t, deadlineMs));
    const updated = views.filter((v) => v.onTarget);
    const ready = updated.filter((v) => v.ready);
    const failures = updated.filter((v) => v.failure).map((v) => v.failure!);
    const pending = views.filter((v) => !v.onTarget);

    // Templates: an instance whose labels/values cannot fill the template is never moved.
    const renderFailures: string[] = [];
    for (const v of pending) {
      const e = renderError(rev, v.obj);
      if (e) renderFailures.push(`${v.name}: ${e}`);
    }

    const wasHalted = cond(obj, 'Halted')?.status === 'True' && old.latestRevision === target && old.observedGeneration === generation;
    let halt: { reason: string; message: string } | undefined = wasHalted
      ? { reason: cond(obj, 'Halted')!.reason ?? 'Halted', message: cond(obj, 'Halted')!.message ?? '' }
      : undefined;
    const isRolling = strategy.type === 'Rolling';
    if (!halt && failures.length > 0) {
      const canaryPhase = isRolling && updated.length <= (strategy.canary ?? 1);
      halt = {
        reason: canaryPhase ? 'CanaryFailed' : 'InstanceFailed',
        message: `rollout of ${target} halted: ${failures.length} instance(s) failed; the rest stay on their revision. ${failures.slice(0, 5).join('; ')}`,
      };
    }
    if (!halt && renderFailures.length > 0) {
      halt = {
        reason: 'RenderFailed',
        message: `rollout of ${target} halted before moving ${renderFailures.length} instance(s) that cannot render the template: ${renderFailures.slice(0, 5).join('; ')}`,
      };
    }

    let moves: InstanceView[] = [];
    if (!halt && !spec.paused) {
      if (!isRolling) moves = pending;
      else {
        const canary = Math.min(strategy.canary ?? 1, views.length);
        const maxUnavailable = resolveMaxUnavailable(strategy.maxUnavailable, views.length);
        const inFlight = updated.length - ready.length;
        if (updated.length < canary) moves = pending.slice(0, canary - updated.length);
        else if (ready.length >= canary) moves = pending.slice(0, Math.max(0, maxUnavailable - inFlight));
      }
    }
    if (moves.length > 0) {
      const stamp = isoNow(t);
      const { written, conflicts: raced } = await instancesReg.updateMany(
        ns,
        moves.map((v) => ({
          name: v.name,
          resourceVersion: v.obj.metadata.resourceVersion!,
          mutate: (stored) => ({
            ...stored,
            metadata: { ...stored.metadata, annotations: { ...stored.metadata.annotations, [REVISION_SET_AT_ANNOTATION]: stamp } },
            spec: { ...(stored.spec as object), configRevision: target },
          }),
        })),
        actor,
      );
      // Our own writes go into the cache now, so the next sync does not move them again.
      for (const w of written) instances.observe(trimInstance(w));
      if (raced.length > 0) queue.add(key);
      if (old.latestRevision !== target || old.observedGeneration !== generation) {
        if (updated.length === 0) await event(obj, 'Normal', 'RolloutStarted', `rolling out ${target} (${strategy.type}) to ${views.length} instance(s)`);
      }
      o.log('info', `rollout controller: ${key}: moved ${written.length} instance(s) to ${target}`);
    }

    const updatedCount = updated.length + moves.length;
    const complete = !halt && views.length > 0 ? ready.length === views.length : !halt && views.length === 0;
    const conditions: Condition[] = [];
    const setCond = (type: string, status: 'True' | 'False' | 'Unknown', reason: string, message: string) => {
      const prev = cond(obj, type);
      const lastTransitionTime = prev && prev.status === status ? prev.lastTransitionTime : isoNow(t);
      conditions.push({ type, status, reason, message, lastTransitionTime, observedGeneration: generation } as Condition);
    };
    const progress = `${updatedCount} of ${views.length} instance(s) updated to ${target}, ${ready.length} ready`;
    if (halt) setCond('Progressing', 'False', 'RolloutHalted', halt.message);
    else if (spec.paused) setCond('Progressing', 'False', 'Paused', `rollout paused: ${progress}`);
    else if (complete) setCond('Progressing', 'True', 'RolloutComplete', views.length === 0 ? (mine ? 'no instances match the selector' : 'no instanceSelector: instances run this config only where pinned') : `every instance runs ${target} and is Ready`);
    else setCond('Progressing', 'True', 'RollingOut', progress);
    setCond('Complete', complete ? 'True' : 'False', complete ? 'RolloutComplete' : halt ? 'RolloutHalted' : 'InProgress', complete ? `${ready.length} instance(s) Ready on ${target}` : progress);
    if (halt) setCond('Halted', 'True', halt.reason, halt.message);
    else setCond('Halted', 'False', 'NotHalted', 'no instance failed');
    if (conflicts.length > 0) {
      setCond('Conflict', 'True', 'SelectorOverlap', `${conflicts.length} instance(s) matched by more than one config are left alone: ${conflicts.slice(0, 5).map((c) => `${c.instance} (${c.configs.join(', ')})`).join('; ')}`);
    } else setCond('Conflict', 'False', 'NoOverlap', 'no instance is matched by another config');

    const next: ConfigStatus = {
      observedGeneration: generation,
      latestRevision: target,
      instances: matched.length,
      updated: updatedCount,
      ready: ready.length,
      failed: failures.length + renderFailures.length,
      pausedInstances,
      ...(conflicts.length > 0 ? { conflicts: conflicts.slice(0, 100) } : {}),
      conditions,
    };
    if (JSON.stringify(next) !== JSON.stringify(old)) {
      configs.observe(await configsReg.update(ns, name, { ...obj, status: next }, 'status', { actor }));
      if (halt && !wasHalted) await event(obj, 'Warning', 'RolloutHalted', halt.message);
      if (complete && cond(obj, 'Complete')?.status !== 'True' && views.length > 0) {
        await event(obj, 'Normal', 'RolloutComplete', `${ready.length} instance(s) run ${target}`);
      }
      const hadConflict = JSON.stringify(old.conflicts ?? []);
      if (conflicts.length > 0 && hadConflict !== JSON.stringify(next.conflicts)) {
        await event(obj, 'Warning', 'SelectorOverlap', cond({ status: next }, 'Conflict')!.message!);
      }
    }
    await collectRevisions(ns, config, target);
  }

  /**
   * An instance whose agent says AgentConnected=True but whose Lease has not been renewed for a
   * whole lease duration is marked AgentConnected=False (LeaseExpired) and Ready=Unknown, with an
   * AgentLost event: the agent's own status cannot say it has gone. Its next report puts it back.
   */
  async function markLostAgents(): Promise<void> {
    const t = now();
    for (const i of instances.items.values()) {
      const connected = cond(i, 'AgentConnected');
      if (connected?.status !== 'True') continue;
      const seen = leaseSeen.get(objectKey(i));
      if (!seen || t - seen.at <= seen.durationMs) continue;
      const stamp = isoNow(t);
      const silent = Math.round((t - seen.at) / 1000);
      const status = (i.status ?? {}) as { conditions?: Condition[] };
      const conditions = (status.conditions ?? []).map((c): Condition => {
        if (c.type === 'AgentConnected') {
          return { ...c, status: 'False', reason: 'LeaseExpired', message: `agent ${seen.holder ?? ''} has not renewed its Lease for ${silent} s`.replace('  ', ' '), lastTransitionTime: stamp };
        }
        if (c.type === 'Ready') return { ...c, status: 'Unknown', reason: 'AgentLost', message: 'the agent stopped reporting; HAProxy state unknown', lastTransitionTime: stamp };
        return c;
      });
      try {
        // A merge patch of the conditions alone, guarded by the version we judged: our cached
        // copy lacks the stats, which must not be written back.
        const patch = { metadata: { resourceVersion: i.metadata.resourceVersion }, status: { conditions } };
        instances.observe(trimInstance(await instancesReg.patch(i.metadata.namespace!, i.metadata.name!, 'merge', patch, 'status', { actor })));
      } catch (err) {
        if (err instanceof ApiError && (err.reason === 'Conflict' || err.reason === 'NotFound')) continue;
        throw err;
      }
      await event(i, 'Warning', 'AgentLost', `no Lease renewal for ${silent} s: marked AgentConnected=False`);
      o.log('warn', `rollout controller: agent of ${objectKey(i)} lost (no Lease renewal for ${silent} s)`);
    }
  }

  /** Keep the latest revision, any an instance runs or is told to run, and revisionHistoryLimit more. */
  async function collectRevisions(ns: string, config: HAProxyConfig, target: string): Promise<void> {
    const limit = config.spec.revisionHistoryLimit ?? DEFAULT_REVISION_HISTORY_LIMIT;
    const own = [...revisions.items.values()].filter((r) => r.metadata.namespace === ns && r.metadata.labels?.[CONFIG_LABEL] === config.metadata.name);
    if (own.length <= limit + 1) return;
    const inUse = new Set<string>([target]);
    for (const i of instances.items.values()) {
      if (i.metadata.namespace !== ns) continue;
      const inst = i as unknown as HAProxyInstance;
      if (inst.spec?.configRevision) inUse.add(inst.spec.configRevision);
      if (inst.status?.appliedRevision) inUse.add(inst.status.appliedRevision);
    }
    const old = own
      .filter((r) => !inUse.has(r.metadata.name!))
      .sort((a, b) => (b as unknown as ConfigRevision).spec.revision - (a as unknown as ConfigRevision).spec.revision)
      .slice(limit);
    for (const r of old) {
      try {
        await revisionsReg.delete(ns, r.metadata.name!, { preconditions: { uid: r.metadata.uid }, actor });
      } catch (err) {
        if (!(err instanceof ApiError && (err.reason === 'NotFound' || err.reason === 'Conflict'))) throw err;
      }
    }
  }

  return {
    synced: synced.then(() => undefined),
    stop() {
      stopped = true;
      clearInterval(resync);
      configs.stop();
      instances.stop();
      revisions.stop();
      leases.stop();
    },
  };
}
