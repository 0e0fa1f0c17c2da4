/**
 * Leader election on a Lease, as client-go's leaderelection does: one replica holds the Lease and
 * renews it; the others watch it and take over only when it has not changed for a whole
 * leaseDuration by their own clock (never by comparing clocks across hosts). Every write is a
 * compare-and-swap on the Lease's resourceVersion, so two candidates cannot both win. The store
 * is the arbiter, so this works the same on etcd (replicas) and on the embedded store (one).
 */
import { API_VERSION } from '@haproxyhq/schemas';
import { SYSTEM_ACTORS } from '../audit/log.ts';
import { ApiError } from '../errors.ts';
import type { ApiObject, ResourceRegistry } from '../registry/registry.ts';

export interface LeaderElectionOptions {
  leases: ResourceRegistry;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  /** A leader that cannot renew within this long steps down (must be < leaseDurationMs). */
  renewDeadlineMs: number;
  retryPeriodMs: number;
  onStartedLeading(): void;
  onStoppedLeading(): void;
  log(level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>): void;
  now?: () => number;
}

export interface LeaderElector {
  isLeader(): boolean;
  stop(): Promise<void>;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

/** Lease writes are the server's own: audited under one system name. */
const actor = SYSTEM_ACTORS.leaderElection;

const stamp = (ms: number) => new Date(ms).toISOString().replace(/(\.\d{3})\d*Z$/, '$1Z');

export function startLeaderElection(o: LeaderElectionOptions): LeaderElector {
  const now = o.now ?? Date.now;
  let leader = false;
  let stopped = false;
  let lastRenew = 0;
  // What we last saw of the Lease, and when (by our clock) it last changed.
  let observedRv: string | undefined;
  let observedAt = 0;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  const spec = (l: ApiObject) => (l.spec ?? {}) as LeaseSpec;

  async function tryAcquireOrRenew(): Promise<boolean> {
    const t = now();
    const current = await o.leases.find(o.namespace, o.name);
    const mine: LeaseSpec = {
      holderIdentity: o.identity,
      leaseDurationSeconds: Math.ceil(o.leaseDurationMs / 1000),
      renewTime: stamp(t),
    };
    if (!current) {
      await o.leases.create(o.namespace, {
        apiVersion: API_VERSION,
        kind: 'Lease',
        metadata: { name: o.name, namespace: o.namespace },
        spec: { ...mine, acquireTime: stamp(t), leaseTransitions: 0 },
      }, { actor });
      return true;
    }
    if (current.metadata.resourceVersion !== observedRv) {
      observedRv = current.metadata.resourceVersion;
      observedAt = t;
    }
    const held = spec(current);
    const ours = held.holderIdentity === o.identity;
    const durationMs = (held.leaseDurationSeconds ?? Math.ceil(o.leaseDurationMs / 1000)) * 1000;
    if (!ours && held.holderIdentity && t < observedAt + durationMs) return false;
    const next: LeaseSpec = ours
      ? { ...held, ...mine }
      : { ...mine, acquireTime: stamp(t), leaseTransitions: (held.leaseTransitions ?? 0) + 1 };
    const updated = await o.leases.update(o.namespace, o.name, { ...current, spec: next }, undefined, { actor });
    observedRv = updated.metadata.resourceVersion;
    observedAt = t;
    return true;
  }

  async function tick(): Promise<void> {
    if (stopped) return;
    let ok = false;
    try {
      ok = await tryAcquireOrRenew();
    } catch (err) {
      // A 409 means someone else wrote the Lease first: we lost this round, not an error.
      if (!(err instanceof ApiError && (err.reason === 'Conflict' || err.reason === 'AlreadyExists'))) {
        o.log('warn', 'leader election: cannot reach the Lease', { err: (err as Error).message });
      }
    }
    const t = now();
    if (ok) lastRenew = t;
    if (ok && !leader && !stopped) {
      leader = true;
      o.log('info', `leader election: ${o.identity} is now the leader (${o.namespace}/${o.name})`);
      o.onStartedLeading();
    } else if (!ok && leader && t - lastRenew > o.renewDeadlineMs) {
      // Could not renew in time: another replica may take over at any moment, so stop first.
      leader = false;
      o.log('warn', `leader election: ${o.identity} lost the lease (no renewal for ${t - lastRenew} ms)`);
      o.onStoppedLeading();
    }
  }

  const loop = () => {
    if (stopped) return;
    running = tick().finally(() => {
      if (!stopped) timer = setTimeout(loop, o.retryPeriodMs);
    });
  };
  loop();

  return {
    isLeader: () => leader,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
      if (leader) {
        leader = false;
        o.onStoppedLeading();
        // Release: let a standby take over at once instead of waiting out the lease.
        try {
          const current = await o.leases.find(o.namespace, o.name);
          if (current && spec(current).holderIdentity === o.identity) {
            await o.leases.update(o.namespace, o.name, { ...current, spec: { ...spec(current), holderIdentity: '', leaseDurationSeconds: 1 } }, undefined, { actor });
          }
        } catch {
          // Best effort: the lease expires by itself.
        }
      }
    },
  };
}
