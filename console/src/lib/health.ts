/**
 * How an instance stands, from the conditions its agent reports (and the server's AgentLost
 * marking): pure functions shared by the fleet summary, the filters and the badges.
 */
import type { Condition, HAProxyInstance } from '@haproxyhq/schemas';

export const CONDITION_TYPES = ['Ready', 'AgentConnected', 'HAProxyRunning', 'ConfigApplied', 'Drifted'] as const;
export type ConditionType = (typeof CONDITION_TYPES)[number];

/** For Drifted, True is the bad state; for the others, False is. */
export const BAD_WHEN_TRUE: ReadonlySet<string> = new Set(['Drifted']);

export function conditionOf(obj: { status?: { conditions?: Condition[] } }, type: string): Condition | undefined {
  return obj.status?.conditions?.find((c) => c.type === type);
}

export type Tone = 'good' | 'bad' | 'unknown';

/** good / bad / unknown for one condition as displayed. */
export function toneOf(type: string, c: Condition | undefined): Tone {
  if (!c || c.status === 'Unknown') return 'unknown';
  const bad = BAD_WHEN_TRUE.has(type) ? c.status === 'True' : c.status === 'False';
  return bad ? 'bad' : 'good';
}

export type Health = 'ready' | 'not-ready' | 'disconnected' | 'unknown';

/** One word for an instance: disconnected beats not ready beats unknown. */
export function healthOf(i: HAProxyInstance): Health {
  if (conditionOf(i, 'AgentConnected')?.status === 'False') return 'disconnected';
  const ready = conditionOf(i, 'Ready');
  if (!ready || ready.status === 'Unknown') return 'unknown';
  return ready.status === 'True' ? 'ready' : 'not-ready';
}

export interface FleetSummary {
  total: number;
  ready: number;
  notReady: number;
  disconnected: number;
  unknown: number;
  drifted: number;
  haproxyDown: number;
  applyFailed: number;
  /** Instances per applied revision, most common first. */
  revisions: { revision: string; count: number }[];
}

export function summarize(instances: readonly HAProxyInstance[]): FleetSummary {
  const s: FleetSummary = { total: 0, ready: 0, notReady: 0, disconnected: 0, unknown: 0, drifted: 0, haproxyDown: 0, applyFailed: 0, revisions: [] };
  const revs = new Map<string, number>();
  for (const i of instances) {
    s.total++;
    const h = healthOf(i);
    if (h === 'ready') s.ready++;
    else if (h === 'not-ready') s.notReady++;
    else if (h === 'disconnected') s.disconnected++;
    else s.unknown++;
    if (conditionOf(i, 'Drifted')?.status === 'True') s.drifted++;
    if (conditionOf(i, 'HAProxyRunning')?.status === 'False') s.haproxyDown++;
    if (conditionOf(i, 'ConfigApplied')?.status === 'False') s.applyFailed++;
    const r = i.status?.appliedRevision ?? '(none)';
    revs.set(r, (revs.get(r) ?? 0) + 1);
  }
  s.revisions = [...revs].map(([revision, count]) => ({ revision, count })).sort((a, b) => b.count - a.count || a.revision.localeCompare(b.revision));
  return s;
}

/** The fleet filter a person picks: which instances to show by their conditions. */
export type ConditionFilter = 'all' | 'not-ready' | 'disconnected' | 'drifted' | 'haproxy-down' | 'apply-failed' | 'ready';

export function matchesFilter(i: HAProxyInstance, f: ConditionFilter): boolean {
  switch (f) {
    case 'all':
      return true;
    case 'ready':
      return healthOf(i) === 'ready';
    case 'not-ready':
      return healthOf(i) !== 'ready';
    case 'disconnected':
      return healthOf(i) === 'disconnected';
    case 'drifted':
      return conditionOf(i, 'Drifted')?.status === 'True';
    case 'haproxy-down':
      return conditionOf(i, 'HAProxyRunning')?.status === 'False';
    case 'apply-failed':
      return conditionOf(i, 'ConfigApplied')?.status === 'False';
  }
}

/** Milliseconds since the agent last reported, or undefined when it never did. */
export function heartbeatAgeMs(i: HAProxyInstance, now: number): number | undefined {
  const t = i.status?.heartbeatTime;
  if (!t) return undefined;
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? undefined : Math.max(0, now - ms);
}
