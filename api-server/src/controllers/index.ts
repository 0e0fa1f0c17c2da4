/**
 * The controllers a server runs, under leader election: with several replicas on etcd exactly one
 * runs them; on the embedded store the single server wins the election at once.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { ResourceRegistry } from '../registry/registry.ts';
import { startLeaderElection } from './leader.ts';
import { startRolloutController, type Controller } from './rollout.ts';

/** Where the controllers' Lease lives (as kube-controller-manager's lives in kube-system). */
export const CONTROLLER_LEASE = { namespace: 'haproxyhq-system', name: 'rollout-controller' };

export interface ControllersOptions {
  registries: ReadonlyMap<string, ResourceRegistry>;
  leaseSeconds: number;
  log(level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>): void;
}

export function startControllers(o: ControllersOptions): { stop(): Promise<void>; isLeader(): boolean } {
  const identity = `${hostname()}_${process.pid}_${randomBytes(4).toString('hex')}`;
  let rollout: Controller | undefined;
  const leaseMs = o.leaseSeconds * 1000;
  const elector = startLeaderElection({
    leases: o.registries.get('leases')!,
    ...CONTROLLER_LEASE,
    identity,
    // client-go's defaults are 15 s / 10 s / 2 s: keep the same proportions.
    leaseDurationMs: leaseMs,
    renewDeadlineMs: Math.round((leaseMs * 2) / 3),
    retryPeriodMs: Math.max(200, Math.round(leaseMs / 7.5)),
    onStartedLeading: () => {
      rollout = startRolloutController({ registries: o.registries, log: o.log, identity });
    },
    onStoppedLeading: () => {
      rollout?.stop();
      rollout = undefined;
    },
    log: o.log,
  });
  return { stop: () => elector.stop(), isLeader: () => elector.isLeader() };
}
