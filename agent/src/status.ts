/**
 * Builds the HAProxyInstance status from what the agent knows, and decides when it is worth a
 * write: significant changes go out at once; stats and the heartbeat ride along at most once per
 * heartbeat interval, so a fleet of idle agents costs the store a write per agent per interval,
 * not one per probe.
 */
import type { Condition, HAProxyInstanceStatus } from '@haproxyhq/schemas';
import type { ApplyResult } from './apply/types.ts';
import type { ProcInfo, StatRow } from './haproxy/types.ts';

export interface Observed {
  generation: number | undefined;
  /** Set when spec.configRevision names a revision that does not exist. */
  revisionMissing?: string;
  /** No revision assigned yet. */
  unassigned: boolean;
  /** The last apply's result, if any. */
  lastApply?: ApplyResult;
  /** What the manifest says is applied and verified. */
  applied?: { revision: string; hash: string };
  /** HAProxy probe: proc info, or the error that prevented it. */
  proc?: ProcInfo;
  procError?: string;
  info?: Record<string, string>;
  stats?: StatRow[];
  haproxyVersion?: string;
  /** Local files differ from the applied ones: a description of how. */
  drift?: string;
  agentVersion: string;
  hostname: string;
}

type ConditionInput = Omit<Condition, 'lastTransitionTime'>;

function conditions(o: Observed): ConditionInput[] {
  const running: ConditionInput = o.proc
    ? { type: 'HAProxyRunning', status: 'True', reason: 'Running', message: `master ${o.proc.master.pid}, worker ${o.proc.workers[0]?.pid ?? 'none'}` }
    : { type: 'HAProxyRunning', status: 'False', reason: 'MasterUnreachable', message: o.procError ?? 'HAProxy did not answer on its master CLI' };

  let applied: ConditionInput;
  const r = o.lastApply;
  if (o.unassigned) {
    applied = { type: 'ConfigApplied', status: 'Unknown', reason: 'NoRevisionAssigned', message: 'spec.configRevision is not set' };
  } else if (o.revisionMissing) {
    applied = { type: 'ConfigApplied', status: 'False', reason: 'RevisionNotFound', message: `ConfigRevision ${o.revisionMissing} does not exist` };
  } else if (r && r.outcome !== 'applied' && r.outcome !== 'unchanged') {
    const render = r.error?.stage === 'render';
    const reason = render ? 'RenderFailed' : { rejected: 'ConfigRejected', 'rolled-back': 'RolledBack', failed: 'ApplyFailed' }[r.outcome];
    // A template error's message already starts with file:line:column.
    const where = r.error?.line && !render ? ` (${r.error.file ?? 'haproxy.cfg'}:${r.error.line})` : '';
    applied = { type: 'ConfigApplied', status: 'False', reason, message: `${r.revision}${where}: ${r.error?.message ?? r.outcome}` };
  } else if (o.applied) {
    applied = { type: 'ConfigApplied', status: 'True', reason: 'Applied', message: `running ${o.applied.revision}` };
  } else {
    applied = { type: 'ConfigApplied', status: 'Unknown', reason: 'Pending', message: 'not applied yet' };
  }
  const drifted: ConditionInput = o.drift
    ? { type: 'Drifted', status: 'True', reason: 'LocalEdits', message: o.drift }
    : { type: 'Drifted', status: 'False', reason: 'InSync', message: 'local files match the applied revision' };
  const ready = running.status === 'True' && applied.status === 'True' && drifted.status === 'False';
  return [
    { type: 'AgentConnected', status: 'True', reason: 'Connected', message: `agent on ${o.hostname}` },
    running,
    applied,
    drifted,
    {
      type: 'Ready',
      status: ready ? 'True' : 'False',
      reason: ready ? 'Ready' : [running, applied, drifted].find((c) => c.type === 'Drifted' ? c.status !== 'False' : c.status !== 'True')!.reason,
      message: ready ? 'HAProxy runs the desired revision' : 'see the other conditions',
    },
  ];
}

const toInt = (v: string | undefined) => (v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined);

function statRows(stats: StatRow[] | undefined) {
  if (!stats) return undefined;
  const row = (s: StatRow) => ({
    name: s.type === 'server' ? s.name : s.proxy,
    ...(s.type === 'server' ? { backend: s.proxy } : {}),
    status: s.status,
    currentSessions: s.currentSessions,
    maxSessions: s.maxSessions,
    totalSessions: s.totalSessions,
    sessionRate: s.sessionRate,
    ...(s.requestRate !== undefined ? { requestRate: s.requestRate } : {}),
    ...(s.weight !== undefined ? { weight: s.weight } : {}),
    ...(s.checkStatus ? { checkStatus: s.checkStatus } : {}),
  });
  return {
    frontends: stats.filter((s) => s.type === 'frontend').map(row),
    backends: stats.filter((s) => s.type === 'backend').map(row),
    servers: stats.filter((s) => s.type === 'server').map(row),
  };
}

/** The full status, keeping lastTransitionTime of conditions whose status did not change. */
export function buildStatus(o: Observed, previous: HAProxyInstanceStatus | undefined, now: Date): HAProxyInstanceStatus {
  const stamp = now.toISOString().replace(/\.\d+Z$/, 'Z');
  const conds: Condition[] = conditions(o).map((c) => {
    const prev = previous?.conditions?.find((p) => p.type === c.type);
    return {
      ...c,
      lastTransitionTime: prev && prev.status === c.status && prev.lastTransitionTime ? prev.lastTransitionTime : stamp,
      ...(o.generation !== undefined ? { observedGeneration: o.generation } : {}),
    };
  });
  const r = o.lastApply;
  const failed = r && r.outcome !== 'applied' && r.outcome !== 'unchanged' ? r : undefined;
  const status: HAProxyInstanceStatus = {
    ...(o.generation !== undefined ? { observedGeneration: o.generation } : {}),
    conditions: conds,
    ...(o.applied ? { appliedRevision: o.applied.revision, appliedHash: o.applied.hash } : {}),
    heartbeatTime: stamp,
    agent: { version: o.agentVersion, hostname: o.hostname },
  };
  if (failed) {
    status.lastApplyError = {
      revision: failed.revision,
      message: failed.error?.message ?? failed.outcome,
      ...(failed.error?.file ? { file: failed.error.file } : {}),
      ...(failed.error?.line ? { line: failed.error.line } : {}),
      time: stamp,
    };
  } else if (previous?.lastApplyError && r?.outcome !== 'applied' && r?.outcome !== 'unchanged') {
    status.lastApplyError = previous.lastApplyError;
  }
  if (o.proc) {
    status.haproxy = {
      ...(o.haproxyVersion ?? o.proc.master.version ? { version: o.haproxyVersion ?? o.proc.master.version } : {}),
      pid: o.proc.master.pid,
      ...(o.proc.workers[0] ? { workerPid: o.proc.workers[0].pid } : {}),
      uptimeSeconds: o.proc.master.uptimeSeconds,
      reloads: o.proc.master.reloads,
      failedReloads: o.proc.master.failedReloads ?? 0,
      ...(toInt(o.info?.CurrConns) !== undefined ? { currentConnections: toInt(o.info?.CurrConns) } : {}),
      ...(toInt(o.info?.SessRate) !== undefined ? { sessionRate: toInt(o.info?.SessRate) } : {}),
    };
  }
  const stats = statRows(o.stats);
  if (stats) status.stats = stats;
  return status;
}

/** The parts of a status whose change must be reported now (not at the next heartbeat). */
export function significant(s: HAProxyInstanceStatus | undefined): string {
  if (!s) return '';
  return JSON.stringify({
    g: s.observedGeneration,
    c: s.conditions?.map((c) => [c.type, c.status, c.reason, c.message]),
    a: [s.appliedRevision, s.appliedHash],
    e: s.lastApplyError?.message,
    h: s.haproxy && [s.haproxy.pid, s.haproxy.workerPid, s.haproxy.reloads, s.haproxy.failedReloads, s.haproxy.version],
    st: s.stats && [...(s.stats.frontends ?? []), ...(s.stats.backends ?? []), ...(s.stats.servers ?? [])].map((r) => [r.backend, r.name, r.status, r.weight]),
  });
}
