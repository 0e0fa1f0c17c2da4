/**
 * Runs a fleet of simulated agents against an API server until SIGINT (`npm run fleet-sim -- --help`).
 * Each behaves like hq-agent on the wire (scripts/lib/fleet-sim.ts says how, and where it differs);
 * a line per second shows how the fleet stands.
 */
import { parseArgs } from 'node:util';
import { UsageError, runMain } from './lib/bench.ts';
import { readKubeconfig, startFleet, type FleetCounts } from './lib/fleet-sim.ts';

const USAGE = `Usage: npm run fleet-sim -- [options]

  --count N               simulated agents (default 100)
  --kubeconfig FILE       server, CA and token (HQ_KUBECONFIG, then KUBECONFIG, then .hq/kubeconfig)
  --namespace NS          namespace of the instances (default: the kubeconfig's, else default)
  --name-prefix P         instance names are P-00000, P-00001, ... (default sim)
  --first-index N         index of the first agent (default 0)
  --labels K=V,...        labels every agent registers with (default none)
  --apply-ms N            how long an apply takes (default 50), ± --apply-jitter of it (default 0.5)
  --apply-jitter F
  --failure-rate F        fraction of applies that fail, 0-1 (default 0)
  --coalesce-ms N         changes within N ms share one pass (the agent's default, 500)
  --heartbeat-seconds N   Lease renewal interval (default 10)
  --stats-seconds N       status rewritten without a significant change at most this often (default 60)
  --stats-servers N       servers in each status's show stat summary (default 0)
  --no-events             do not record an Event per apply
  --share-revisions       GET each ConfigRevision once for the fleet, not once per agent
  --pool-sockets N        keep-alive sockets for requests other than watches (default 128)
  --max-in-flight N       requests other than watches in flight at once (default 256)
  --max-watch-opens N     watches being set up at once (default 64)
  --start-per-second N    agents started per second (default 0: all at once, under the caps)
`;


function options() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        count: { type: 'string' },
        kubeconfig: { type: 'string' },
        namespace: { type: 'string' },
        'name-prefix': { type: 'string' },
        'first-index': { type: 'string' },
        labels: { type: 'string' },
        'apply-ms': { type: 'string' },
        'apply-jitter': { type: 'string' },
        'failure-rate': { type: 'string' },
        'coalesce-ms': { type: 'string' },
        'heartbeat-seconds': { type: 'string' },
        'stats-seconds': { type: 'string' },
        'stats-servers': { type: 'string' },
        'no-events': { type: 'boolean' },
        'share-revisions': { type: 'boolean' },
        'pool-sockets': { type: 'string' },
        'max-in-flight': { type: 'string' },
        'max-watch-opens': { type: 'string' },
        'start-per-second': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return undefined;
  const num = (name: keyof typeof values, min: number, max = Infinity, integer = true): number | undefined => {
    const v = values[name];
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
      throw new UsageError(`--${name} must be ${integer ? 'an integer' : 'a number'} from ${min}${max < Infinity ? ` to ${max}` : ''}`);
    }
    return n;
  };
  const labels: Record<string, string> = {};
  for (const pair of (values.labels ?? '').split(',').filter(Boolean)) {
    const m = /^([^=]+)=(.*)$/.exec(pair.trim());
    if (!m) throw new UsageError(`--labels: ${JSON.stringify(pair)} is not KEY=VALUE`);
    labels[m[1]!] = m[2]!;
  }
  const path = values.kubeconfig ?? process.env.HQ_KUBECONFIG ?? process.env.KUBECONFIG ?? '.hq/kubeconfig';
  let kc;
  try {
    kc = readKubeconfig(path);
  } catch (err) {
    throw new UsageError(`cannot read the kubeconfig ${path}: ${(err as Error).message}`);
  }
  return {
    ...kc,
    namespace: values.namespace ?? kc.namespace,
    count: num('count', 1) ?? 100,
    namePrefix: values['name-prefix'],
    firstIndex: num('first-index', 0),
    labels,
    applyMs: num('apply-ms', 0),
    applyJitter: num('apply-jitter', 0, 1, false),
    failureRate: num('failure-rate', 0, 1, false),
    coalesceMs: num('coalesce-ms', 0),
    heartbeatSeconds: num('heartbeat-seconds', 1),
    statsSeconds: num('stats-seconds', 1),
    statsServers: num('stats-servers', 0),
    events: !values['no-events'],
    shareRevisions: values['share-revisions'] ?? false,
    poolSockets: num('pool-sockets', 1),
    maxInFlight: num('max-in-flight', 1),
    maxWatchOpens: num('max-watch-opens', 1),
    startPerSecond: num('start-per-second', 0),
  };
}

const byRevision = (m: Record<string, number>) =>
  Object.entries(m)
    .sort(([a], [b]) => (a < b ? 1 : -1))
    .map(([rev, n]) => `${rev} ${n}`)
    .join(', ') || '-';

function line(seconds: number, c: FleetCounts, rate: number): string {
  const errors = Object.entries(c.errors).map(([k, n]) => `${k} ${n}`).join(', ');
  return (
    `[${String(seconds).padStart(5)} s] registered ${c.registered}/${c.agents}  watching ${c.watching}  ` +
    `applied ${byRevision(c.applied)}  failed ${byRevision(c.failed)}  ` +
    `requests/s ${Math.round(rate)}  in flight ${c.inFlight}, queued ${c.queued}  ` +
    `reconnects ${c.watchReconnects}${c.gone ? ` (410: ${c.gone})` : ''}  errors ${errors || '0'}`
  );
}

async function main(): Promise<void> {
  const o = options();
  if (!o) {
    process.stdout.write(USAGE);
    return;
  }
  process.stdout.write(`fleet-sim: ${o.count} agents against ${o.server}, namespace ${o.namespace}; Ctrl-C stops\n`);
  const fleet = startFleet({ ...o, log: process.env.HQ_LOG_LEVEL === 'debug' ? (m) => process.stderr.write(`${m}\n`) : undefined });
  const started = Date.now();
  const total = (c: FleetCounts) => Object.values(c.requests).reduce((a, b) => a + b, 0);
  let last = { at: started, requests: 0 };
  const timer = setInterval(() => {
    const c = fleet.counts();
    const now = Date.now();
    const requests = total(c);
    process.stdout.write(line(Math.round((now - started) / 1000), c, ((requests - last.requests) * 1000) / (now - last.at)) + '\n');
    last = { at: now, requests };
  }, 1000);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  clearInterval(timer);
  await fleet.stop();
  const c = fleet.counts();
  process.stdout.write(`\nstopped after ${Math.round((Date.now() - started) / 1000)} s; requests by kind: ${JSON.stringify(c.requests)}; errors: ${JSON.stringify(c.errors)}\n`);
}

runMain('fleet-sim', USAGE, main);
