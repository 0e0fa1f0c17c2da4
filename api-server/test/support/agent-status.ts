/** A builder for HAProxyInstance statuses shaped like the ones agent/src/status.ts writes. */

export interface AgentStatusOptions {
  /** heartbeatTime, as ms since the epoch (written as RFC 3339 with whole seconds, as the agent does). */
  at: number;
  currentConnections?: number;
  sessionRate?: number;
  /** requestRate of each frontend (one frontend per entry, named fe0, fe1, ...). */
  frontendRequestRates?: number[];
  /** Backends: [name, currentSessions, sessionRate, totalSessions?]. */
  backends?: [string, number, number, number?][];
  /** HAProxyRunning condition status (default True). */
  running?: 'True' | 'False' | 'Unknown';
  /** Ready condition reason: change it to make a "significant" change as the agent sees one. */
  readyReason?: string;
}

const stamp = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

/** The status an agent writes; conditions carry a fixed lastTransitionTime unless changed. */
export function agentStatus(o: AgentStatusOptions) {
  const since = '2026-11-01T00:00:00Z';
  return {
    conditions: [
      { type: 'AgentConnected', status: 'True', reason: 'Connected', message: 'agent on host', lastTransitionTime: since },
      { type: 'HAProxyRunning', status: o.running ?? 'True', reason: 'Running', message: 'master 1, worker 2', lastTransitionTime: since },
      { type: 'Ready', status: 'True', reason: o.readyReason ?? 'Ready', message: 'HAProxy runs the desired revision', lastTransitionTime: since },
    ],
    heartbeatTime: stamp(o.at),
    agent: { version: 'test', hostname: 'host' },
    haproxy: {
      version: '2.6.12',
      pid: 1,
      workerPid: 2,
      // Changes on every report, as show proc's uptime does: must not count as a change of state.
      uptimeSeconds: Math.floor(o.at / 1000) % 100_000,
      reloads: 0,
      failedReloads: 0,
      ...(o.currentConnections !== undefined ? { currentConnections: o.currentConnections } : {}),
      ...(o.sessionRate !== undefined ? { sessionRate: o.sessionRate } : {}),
    },
    stats: {
      frontends: (o.frontendRequestRates ?? []).map((r, i) => ({ name: `fe${i}`, status: 'OPEN', currentSessions: 1, totalSessions: 10, sessionRate: 1, requestRate: r })),
      backends: (o.backends ?? []).map(([name, currentSessions, sessionRate, totalSessions]) => ({
        name,
        status: 'UP',
        currentSessions,
        sessionRate,
        totalSessions: totalSessions ?? 0,
      })),
      servers: [],
    },
  };
}
