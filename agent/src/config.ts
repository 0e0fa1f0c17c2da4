/** hq-agent settings: flags, then HQ_* environment variables, then defaults (DESIGN's names). */
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';

export interface AgentConfig {
  command: 'run' | 'pull' | 'push' | 'enroll' | 'rotate-credentials' | 'help';
  /** --kubeconfig or HQ_KUBECONFIG: this file, whatever else there is. */
  kubeconfig?: string;
  /** KUBECONFIG: used when neither --kubeconfig nor an enrolled credential in the state dir is there. */
  envKubeconfig?: string;
  /** Enroll with this join token when the state dir holds no credential yet. */
  joinToken?: string;
  /** PEM file of the server's CA (for enrollment, and over the kubeconfig's). */
  certificateAuthority?: string;
  server?: string;
  token?: string;
  namespace?: string;
  name: string;
  labels: Record<string, string>;
  haproxyConfig: string;
  masterSocket: string;
  haproxyBin: string;
  stateDir: string;
  coalesceMs: number;
  resyncSeconds: number;
  heartbeatSeconds: number;
  statsSeconds: number;
  onDrift: 'report' | 'push' | 'revert';
}

export class ConfigError extends Error {}

export const USAGE = `Usage: hq-agent [run|pull|push|enroll|rotate-credentials] [options]

  run (default)               register this HAProxy, watch its HAProxyInstance, apply, report
  pull                        apply the desired config once, print the outcome, exit non-zero on failure
  push                        send the local files up as a new revision of the config this host runs
  enroll                      enroll with --join-token and write STATE-DIR/kubeconfig, then exit
  rotate-credentials          get a new credential, write it over the kubeconfig it came from (a running
                              agent picks it up); the old one stops working 5 minutes later

  --join-token TOKEN          HQ_JOIN_TOKEN: a join token (hqctl create join-token): with no credential in
                              STATE-DIR/kubeconfig yet, enroll with it (needs --server and
                              --certificate-authority) and write that file; ignored once enrolled
  --certificate-authority F   HQ_CERTIFICATE_AUTHORITY: PEM file of the server's CA
  --kubeconfig FILE           HQ_KUBECONFIG; else STATE-DIR/kubeconfig when enrolled; else KUBECONFIG
  --server URL / --token T    HQ_SERVER / HQ_TOKEN: override the kubeconfig's server and token
  --namespace NS              HQ_NAMESPACE (default: the kubeconfig context's, else "default")
  --name NAME                 HQ_INSTANCE_NAME (default: the hostname)
  --labels k=v,...            HQ_LABELS: labels for the HAProxyInstance (added, never removed)
  --haproxy-config FILE       HQ_HAPROXY_CONFIG (default /etc/haproxy/haproxy.cfg)
  --master-socket PATH        HQ_HAPROXY_MASTER_SOCKET (default /run/haproxy-master.sock)
  --haproxy-bin PATH          HQ_HAPROXY_BIN (default: haproxy on PATH)
  --state-dir DIR             HQ_STATE_DIR: last-known-good copies, manifest (default /var/lib/hq-agent)
  --coalesce-ms N             HQ_COALESCE_MS: changes within N ms share one reload (default 500)
  --resync-seconds N          HQ_RESYNC_SECONDS: a full reconcile at least this often (default 60)
  --heartbeat-seconds N       HQ_HEARTBEAT_SECONDS: how often the agent renews its Lease (default 10)
  --stats-seconds N           HQ_STATS_SECONDS: traffic stats in status at most this often (default 60);
                              significant changes (conditions, revisions, server states) go at once
  --on-drift POLICY           HQ_ON_DRIFT: local edits are reported (report, default), pushed as a
                              new revision when they pass haproxy -c (push), or reverted (revert)
`;

const LABEL = /^([a-z0-9.-]+\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?=(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function int(name: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new ConfigError(`--${name} must be a whole number of at least ${min}, not ${JSON.stringify(value)}`);
  return n;
}

export function parseAgentConfig(argv: string[], env: NodeJS.ProcessEnv): AgentConfig {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        kubeconfig: { type: 'string' },
        'join-token': { type: 'string' },
        'certificate-authority': { type: 'string' },
        server: { type: 'string' },
        token: { type: 'string' },
        namespace: { type: 'string' },
        name: { type: 'string' },
        labels: { type: 'string' },
        'haproxy-config': { type: 'string' },
        'master-socket': { type: 'string' },
        'haproxy-bin': { type: 'string' },
        'state-dir': { type: 'string' },
        'coalesce-ms': { type: 'string' },
        'resync-seconds': { type: 'string' },
        'heartbeat-seconds': { type: 'string' },
        'stats-seconds': { type: 'string' },
        'on-drift': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}\n\n${USAGE}`);
  }
  const { values: v, positionals } = parsed;
  if (v.help) return { command: 'help' } as AgentConfig;
  const command = positionals[0] ?? 'run';
  if (command !== 'run' && command !== 'pull' && command !== 'push' && command !== 'enroll' && command !== 'rotate-credentials') {
    throw new ConfigError(`unknown command ${JSON.stringify(command)}: expected run, pull, push, enroll or rotate-credentials\n\n${USAGE}`);
  }
  const onDrift = v['on-drift'] ?? env.HQ_ON_DRIFT ?? 'report';
  if (onDrift !== 'report' && onDrift !== 'push' && onDrift !== 'revert') {
    throw new ConfigError(`--on-drift ${JSON.stringify(onDrift)}: expected report, push or revert`);
  }
  if (positionals.length > 1) throw new ConfigError(`unexpected argument ${JSON.stringify(positionals[1])}`);
  const labels: Record<string, string> = {};
  for (const pair of (v.labels ?? env.HQ_LABELS ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!LABEL.test(pair)) throw new ConfigError(`--labels: ${JSON.stringify(pair)} is not key=value with a valid label key and value`);
    const i = pair.indexOf('=');
    labels[pair.slice(0, i)] = pair.slice(i + 1);
  }
  const name = v.name ?? env.HQ_INSTANCE_NAME ?? hostname().toLowerCase();
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(name) || name.length > 253) {
    throw new ConfigError(`instance name ${JSON.stringify(name)} is not a DNS-1123 subdomain: pass --name`);
  }
  const kubeconfig = v.kubeconfig ?? (env.HQ_KUBECONFIG || undefined);
  const joinToken = v['join-token'] ?? (env.HQ_JOIN_TOKEN || undefined);
  const server = v.server ?? env.HQ_SERVER;
  const certificateAuthority = v['certificate-authority'] ?? (env.HQ_CERTIFICATE_AUTHORITY || undefined);
  if (joinToken !== undefined) {
    if (kubeconfig !== undefined) {
      throw new ConfigError('--join-token enrolls into STATE-DIR/kubeconfig: drop --kubeconfig (HQ_KUBECONFIG), or drop the join token to use that file');
    }
    if (!server) throw new ConfigError('--join-token needs --server URL (HQ_SERVER): the API server to enroll with');
    if (!certificateAuthority && server.startsWith('https:')) {
      throw new ConfigError("--join-token needs --certificate-authority FILE (HQ_CERTIFICATE_AUTHORITY): the server's CA, to know it is the real server before sending the token");
    }
  }
  if (command === 'enroll' && joinToken === undefined) throw new ConfigError('enroll needs --join-token TOKEN (HQ_JOIN_TOKEN): make one with hqctl create join-token');
  return {
    command,
    kubeconfig,
    envKubeconfig: env.KUBECONFIG || undefined,
    joinToken,
    certificateAuthority,
    server,
    token: v.token ?? env.HQ_TOKEN,
    namespace: v.namespace ?? env.HQ_NAMESPACE,
    name,
    labels,
    haproxyConfig: v['haproxy-config'] ?? env.HQ_HAPROXY_CONFIG ?? '/etc/haproxy/haproxy.cfg',
    masterSocket: v['master-socket'] ?? env.HQ_HAPROXY_MASTER_SOCKET ?? '/run/haproxy-master.sock',
    haproxyBin: v['haproxy-bin'] ?? env.HQ_HAPROXY_BIN ?? 'haproxy',
    stateDir: v['state-dir'] ?? env.HQ_STATE_DIR ?? '/var/lib/hq-agent',
    coalesceMs: int('coalesce-ms', v['coalesce-ms'] ?? env.HQ_COALESCE_MS ?? '500', 0),
    resyncSeconds: int('resync-seconds', v['resync-seconds'] ?? env.HQ_RESYNC_SECONDS ?? '60', 1),
    heartbeatSeconds: int('heartbeat-seconds', v['heartbeat-seconds'] ?? env.HQ_HEARTBEAT_SECONDS ?? '10', 1),
    statsSeconds: int('stats-seconds', v['stats-seconds'] ?? env.HQ_STATS_SECONDS ?? '60', 1),
    onDrift,
  };
}
