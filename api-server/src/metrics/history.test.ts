import { describe, expect, it } from 'vitest';
import { agentStatus } from '../../test/support/agent-status.ts';
import { MetricsHistory, observe } from './history.ts';

const MIN = 60_000;
/** A slot boundary, so "+3 s" stays in the same 10 s slot. */
const T0 = Date.parse('2026-11-24T10:00:00Z');

/** A history on a clock the test moves. */
function history(windowMs = 60 * MIN, maxBackends?: number) {
  const clock = { now: T0 };
  const h = new MetricsHistory({ windowMs, maxBackends, now: () => clock.now });
  return { h, clock };
}

describe('observe', () => {
  it('takes connections and session rate from status.haproxy and sums the frontends\' request rates', () => {
    const o = observe(agentStatus({ at: T0, currentConnections: 12, sessionRate: 3, frontendRequestRates: [5, 7], backends: [['app', 4, 2]] }), T0 + 1000)!;
    expect(o).toMatchObject({ t: T0, currentConnections: 12, sessionRate: 3, requestRate: 12, running: true });
    expect(o.backends).toEqual([{ name: 'app', currentSessions: 4, sessionRate: 2, requestRate: undefined }]);
  });

  it('leaves the request rate unset when no frontend reports one (TCP), rather than 0', () => {
    expect(observe(agentStatus({ at: T0, currentConnections: 1 }), T0)!.requestRate).toBeUndefined();
  });

  it('uses the receive time without a heartbeatTime, and never a time in the future', () => {
    const { heartbeatTime: _, ...noHeartbeat } = agentStatus({ at: T0, currentConnections: 1 });
    expect(observe(noHeartbeat, T0 + 5000)!.t).toBe(T0 + 5000);
    expect(observe(agentStatus({ at: T0 + 60_000, currentConnections: 1 }), T0)!.t).toBe(T0);
  });

  it('fingerprints the rest of the status without the fields every report changes', () => {
    const a = observe(agentStatus({ at: T0, currentConnections: 1 }), T0)!;
    const b = observe(agentStatus({ at: T0 + 60_000, currentConnections: 1 }), T0 + 60_000)!;
    const c = observe(agentStatus({ at: T0 + 60_000, currentConnections: 1, readyReason: 'Other' }), T0 + 60_000)!;
    expect(b.otherKey).toBe(a.otherKey);
    expect(b.statsKey).toBe(a.statsKey);
    expect(c.otherKey).not.toBe(a.otherKey);
  });
});

describe('MetricsHistory', () => {
  it('records a status with stats as one point of the instance and of each backend', () => {
    const { h } = history();
    expect(h.record('default', 'edge-1', agentStatus({ at: T0, currentConnections: 12, sessionRate: 3, frontendRequestRates: [5, 7], backends: [['app', 4, 2], ['api', 1, 0]] }))).toBe('added');
    const q = h.query('default', 'edge-1');
    expect(q.instance).toEqual({ t: [T0], currentConnections: [12], sessionRate: [3], requestRate: [12] });
    expect(q.backends).toEqual([
      { name: 'app', t: [T0], currentSessions: [4], sessionRate: [2], requestRate: [null] },
      { name: 'api', t: [T0], currentSessions: [1], sessionRate: [0], requestRate: [null] },
    ]);
    expect(q.truncatedBackends).toBeUndefined();
  });

  it('keeps one sample per 10 s slot: a later report in the same slot replaces the point', () => {
    const { h, clock } = history();
    clock.now = T0 + 20_000;
    expect(h.record('default', 'edge-1', agentStatus({ at: T0, currentConnections: 1, backends: [['app', 1, 1, 1]] }))).toBe('added');
    expect(h.record('default', 'edge-1', agentStatus({ at: T0 + 3000, currentConnections: 2, backends: [['app', 2, 2, 2]] }))).toBe('replaced');
    expect(h.record('default', 'edge-1', agentStatus({ at: T0 + 9000, currentConnections: 3, backends: [['app', 3, 3, 3]] }))).toBe('replaced');
    expect(h.record('default', 'edge-1', agentStatus({ at: T0 + 10_000, currentConnections: 4, backends: [['app', 4, 4, 4]] }))).toBe('added');
    const q = h.query('default', 'edge-1');
    expect(q.instance.t).toEqual([T0 + 9000, T0 + 10_000]);
    expect(q.instance.currentConnections).toEqual([3, 4]);
    expect(q.backends[0]!.currentSessions).toEqual([3, 4]);
  });

  it('ignores a report whose heartbeatTime is not newer (a server-side rewrite of conditions)', () => {
    const { h, clock } = history();
    clock.now = T0 + 30_000;
    h.record('default', 'edge-1', agentStatus({ at: T0 + 20_000, currentConnections: 5 }));
    const lost = agentStatus({ at: T0 + 20_000, currentConnections: 5, readyReason: 'AgentLost' });
    expect(h.record('default', 'edge-1', lost)).toBe('not-newer');
    expect(h.record('default', 'edge-1', agentStatus({ at: T0 + 10_000, currentConnections: 9 }))).toBe('not-newer');
    expect(h.query('default', 'edge-1').instance.currentConnections).toEqual([5]);
  });

  it('skips a significant change that carries the last stats over, and keeps an idle periodic report', () => {
    const { h, clock } = history();
    clock.now = T0 + 10 * MIN;
    h.record('default', 'edge-1', agentStatus({ at: T0, currentConnections: 5, backends: [['app', 1, 1, 100]] }));
    // An apply 30 s later: new conditions and heartbeatTime, the stats of 30 s ago (agent's report()).
    const carried = agentStatus({ at: T0 + 30_000, currentConnections: 5, backends: [['app', 1, 1, 100]], readyReason: 'Applying' });
    expect(h.record('default', 'edge-1', carried)).toBe('carried-over');
    // The next periodic report: nothing but the heartbeat changed, and HAProxy is idle.
    const idle = agentStatus({ at: T0 + 60_000, currentConnections: 5, backends: [['app', 1, 1, 100]], readyReason: 'Applying' });
    expect(h.record('default', 'edge-1', idle)).toBe('added');
    // A significant change with fresh stats (they moved) is a point.
    const fresh = agentStatus({ at: T0 + 90_000, currentConnections: 8, backends: [['app', 3, 1, 140]], readyReason: 'Ready' });
    expect(h.record('default', 'edge-1', fresh)).toBe('added');
    expect(h.query('default', 'edge-1').instance.t).toEqual([T0, T0 + 60_000, T0 + 90_000]);
  });

  it('records nothing while HAProxy does not answer its agent (the stats would be stale)', () => {
    const { h, clock } = history();
    clock.now = T0 + MIN;
    expect(h.record('default', 'edge-1', agentStatus({ at: T0, currentConnections: 5, running: 'False' }))).toBe('not-running');
    expect(h.record('default', 'edge-1', { conditions: [], heartbeatTime: '2026-11-24T10:00:00Z' })).toBe('no-values');
    expect(h.query('default', 'edge-1').instance.t).toEqual([]);
  });

  it('drops samples older than the window: on read, on write and in sweep()', () => {
    const { h, clock } = history(5 * MIN);
    clock.now = T0;
    expect(h.record('default', 'edge-1', agentStatus({ at: T0 - 6 * MIN, currentConnections: 1 }))).toBe('expired');
    for (let k = 0; k < 5; k++) {
      clock.now = T0 + k * MIN;
      h.record('default', 'edge-1', agentStatus({ at: clock.now, currentConnections: k }));
    }
    clock.now = T0 + 4 * MIN;
    expect(h.query('default', 'edge-1').instance.currentConnections).toEqual([0, 1, 2, 3, 4]);
    clock.now = T0 + 7 * MIN + 1;
    expect(h.query('default', 'edge-1').instance.currentConnections).toEqual([3, 4]);
    expect(h.query('default', 'edge-1', MIN).instance.currentConnections).toEqual([]);
    h.record('default', 'edge-1', agentStatus({ at: clock.now, currentConnections: 7 }));
    expect(h.query('default', 'edge-1').instance.currentConnections).toEqual([3, 4, 7]);
    clock.now += 6 * MIN;
    h.sweep();
    expect(h.size).toBe(0);
    expect(h.memoryBytes()).toBe(0);
  });

  it('keeps at most 64 backend series and says how many of the latest sample it left out', () => {
    const { h } = history(60 * MIN);
    const backends = Array.from({ length: 70 }, (_, i): [string, number, number] => [`be${i}`, i, 1]);
    h.record('default', 'edge-1', agentStatus({ at: T0, currentConnections: 1, backends }));
    const q = h.query('default', 'edge-1');
    expect(q.backends).toHaveLength(64);
    expect(q.backends.at(-1)!.name).toBe('be63');
    expect(q.truncatedBackends).toBe(6);
  });

  it('adds a backend that appears later without disturbing the earlier columns, and drops one gone for the whole window', () => {
    const { h, clock } = history(5 * MIN);
    for (let k = 0; k < 20; k++) {
      clock.now = T0 + k * 10_000;
      const backends: [string, number, number][] = k < 10 ? [['old', k, 0]] : [['old', k, 0], ['new', 100 + k, 1]];
      h.record('default', 'edge-1', agentStatus({ at: clock.now, currentConnections: k, backends: k < 15 ? backends : backends.slice(1) }));
    }
    let q = h.query('default', 'edge-1');
    expect(q.instance.currentConnections).toEqual(Array.from({ length: 20 }, (_, k) => k));
    const old = q.backends.find((b) => b.name === 'old')!;
    expect(old.currentSessions).toEqual(Array.from({ length: 15 }, (_, k) => k));
    const added = q.backends.find((b) => b.name === 'new')!;
    expect(added.t).toEqual(Array.from({ length: 10 }, (_, k) => T0 + (10 + k) * 10_000));
    expect(added.currentSessions[0]).toBe(110);
    // 'old' was last reported at T0 + 140 s: gone from the series once that has left the window.
    clock.now = T0 + 140_000 + 5 * MIN + 1;
    h.record('default', 'edge-1', agentStatus({ at: clock.now, currentConnections: 99, backends: [['new', 1, 1]] }));
    h.sweep();
    q = h.query('default', 'edge-1');
    expect(q.backends.map((b) => b.name)).toEqual(['new']);
    expect(q.backends[0]!.currentSessions.at(-1)).toBe(1);
  });

  it('holds a full window of 10 s reports within window / 10 s + 1 rows, and gives space back in sweep()', () => {
    const { h, clock } = history(10 * MIN);
    for (let k = 0; k < 300; k++) {
      clock.now = T0 + k * 5_000;
      h.record('default', 'edge-1', agentStatus({ at: clock.now, currentConnections: k, backends: [['app', k, 1]] }));
    }
    const full = h.memoryBytes();
    expect(h.query('default', 'edge-1').instance.t).toHaveLength(h.maxRows);
    expect(h.maxRows).toBe(61);
    // The agent slows to one report a minute: after a window, the arrays shrink to fit.
    for (let k = 1; k <= 10; k++) {
      clock.now = T0 + 1500_000 + k * MIN;
      h.record('default', 'edge-1', agentStatus({ at: clock.now, currentConnections: k, backends: [['app', k, 1]] }));
    }
    h.sweep();
    expect(h.query('default', 'edge-1').instance.t).toHaveLength(10);
    expect(h.memoryBytes()).toBeLessThan(full);
  });

  it('forgets a deleted instance, and on a re-list the instances no longer there', () => {
    const { h } = history();
    for (const name of ['a', 'b', 'c']) h.record('default', name, agentStatus({ at: T0, currentConnections: 1 }));
    h.drop('default', 'a');
    expect(h.query('default', 'a').instance.t).toEqual([]);
    h.retain(new Set(['default/b']));
    expect(h.size).toBe(1);
    expect(h.query('default', 'b').instance.t).toEqual([T0]);
  });
});
