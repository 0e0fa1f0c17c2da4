import { describe, expect, it } from 'vitest';
import type { ApplyResult } from './apply/types.ts';
import type { ProcInfo } from './haproxy/types.ts';
import { buildStatus, significant, type Observed } from './status.ts';

const proc: ProcInfo = {
  master: { pid: 10, type: 'master', reloads: 3, failedReloads: 0, uptimeSeconds: 60, version: '2.6.12' },
  workers: [{ pid: 11, type: 'worker', reloads: 0, uptimeSeconds: 5, version: '2.6.12' }],
};
const observed = (o: Partial<Observed> = {}): Observed => ({
  generation: 2,
  unassigned: false,
  applied: { revision: 'web-2', hash: 'sha256:aa' },
  proc,
  agentVersion: '0.1.0',
  hostname: 'h1',
  ...o,
});
const cond = (s: ReturnType<typeof buildStatus>, type: string) => s.conditions!.find((c) => c.type === type)!;
const now = new Date('2026-11-23T10:00:00Z');

describe('buildStatus', () => {
  it('is Ready when HAProxy runs the applied revision and nothing drifted', () => {
    const s = buildStatus(observed(), undefined, now);
    expect(s.conditions!.map((c) => `${c.type}=${c.status}`)).toEqual([
      'AgentConnected=True', 'HAProxyRunning=True', 'ConfigApplied=True', 'Drifted=False', 'Ready=True',
    ]);
    expect(s).toMatchObject({ observedGeneration: 2, appliedRevision: 'web-2', haproxy: { pid: 10, workerPid: 11, reloads: 3, failedReloads: 0, version: '2.6.12' } });
  });

  it("reports a rejected config with HAProxy's message and line, and is not Ready", () => {
    const lastApply: ApplyResult = {
      outcome: 'rejected', revision: 'web-3', hash: 'sha256:bb',
      error: { stage: 'check', message: "unknown keyword 'bnd' in 'frontend' section", file: 'haproxy.cfg', line: 12 },
      timings: { totalMs: 30 },
    };
    const s = buildStatus(observed({ lastApply }), undefined, now);
    expect(cond(s, 'ConfigApplied')).toMatchObject({ status: 'False', reason: 'ConfigRejected', message: "web-3 (haproxy.cfg:12): unknown keyword 'bnd' in 'frontend' section" });
    expect(s.lastApplyError).toMatchObject({ revision: 'web-3', line: 12, file: 'haproxy.cfg' });
    expect(cond(s, 'Ready')).toMatchObject({ status: 'False', reason: 'ConfigRejected' });
    // Still running the last good revision:
    expect(s.appliedRevision).toBe('web-2');
  });

  it('says HAProxyRunning=False with the probe error when the master does not answer', () => {
    const s = buildStatus(observed({ proc: undefined, procError: 'connect ENOENT /run/haproxy-master.sock' }), undefined, now);
    expect(cond(s, 'HAProxyRunning')).toMatchObject({ status: 'False', reason: 'MasterUnreachable', message: expect.stringContaining('ENOENT') });
    expect(cond(s, 'Ready').status).toBe('False');
    expect(s.haproxy).toBeUndefined();
  });

  it('reports drift and an unassigned instance', () => {
    expect(cond(buildStatus(observed({ drift: 'haproxy.cfg changed' }), undefined, now), 'Drifted')).toMatchObject({ status: 'True', reason: 'LocalEdits' });
    expect(cond(buildStatus(observed({ unassigned: true, applied: undefined }), undefined, now), 'ConfigApplied')).toMatchObject({ status: 'Unknown', reason: 'NoRevisionAssigned' });
  });

  it('keeps lastTransitionTime while a condition holds, and moves it on a change', () => {
    const first = buildStatus(observed(), undefined, now);
    const later = new Date('2026-11-23T10:05:00Z');
    const same = buildStatus(observed(), first, later);
    expect(cond(same, 'Ready').lastTransitionTime).toBe('2026-11-23T10:00:00Z');
    const broken = buildStatus(observed({ proc: undefined, procError: 'gone' }), first, later);
    expect(cond(broken, 'Ready').lastTransitionTime).toBe('2026-11-23T10:05:00Z');
  });
});

describe('significant', () => {
  it('ignores the heartbeat time and traffic counters, not conditions or server states', () => {
    const stats = (scur: number, status = 'UP') => [{ proxy: 'be', name: 's1', type: 'server' as const, status, currentSessions: scur, maxSessions: 1, totalSessions: 9, sessionRate: scur }];
    const a = buildStatus(observed({ stats: stats(1) }), undefined, now);
    const b = buildStatus(observed({ stats: stats(7) }), a, new Date('2026-11-23T10:00:30Z'));
    expect(significant(b)).toBe(significant(a));
    const c = buildStatus(observed({ stats: stats(7, 'DRAIN') }), a, now);
    expect(significant(c)).not.toBe(significant(a));
  });
});
