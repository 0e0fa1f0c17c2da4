/** Server settings from flags, then HQ_* environment variables, then defaults. */
import { createSecureContext } from 'node:tls';
import { parseArgs } from 'node:util';
import { RESOURCES } from '@haproxyhq/schemas';

export interface ServerConfig {
  host: string;
  port: number;
  dataDir: string;
  storage: 'embedded' | 'etcd';
  etcdEndpoints: string[];
  etcdPrefix: string;
  historyRevisions: number;
  compactionIntervalSeconds: number;
  eventTtlSeconds: number;
  logLevel: string;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  tlsCaFile?: string;
  tlsSans: string[];
  /** TLS key-exchange groups, OpenSSL names in order of preference (undefined: OpenSSL's default). */
  tlsGroups?: string;
  /** Mutual TLS: verify client certificates against this CA file, or 'self' for the server's own CA. */
  clientCaFile?: string;
  /** Run the controllers (rollout) under leader election. */
  controllers: boolean;
  leaderLeaseSeconds: number;
  /** The built console to serve at /, or undefined for none. */
  consoleDir: string | undefined;
  /** Minutes of instance traffic kept in memory for the console's charts; 0: none. */
  metricsHistoryMinutes: number;
  /** Days the audit log keeps its records. */
  auditRetentionDays: number;
  /** Resources whose writes are not audited. */
  auditOmit: string[];
  /** A console session ends after this many minutes without a request. */
  sessionIdleMinutes: number;
  /** A console session ends this many hours after sign-in. */
  sessionMaxHours: number;
}

/** Where `npm run build:console` puts the console, from this file's place in the repo. */
export const DEFAULT_CONSOLE_DIR = new URL('../../console/dist', import.meta.url).pathname;

export class ConfigError extends Error {}

const USAGE = `Usage: hq-api-server [options]

  --listen HOST:PORT        listen address (HQ_LISTEN, default 127.0.0.1:8080)
  --data-dir DIR            embedded store and generated credentials (HQ_DATA_DIR, default ./.hq)
  --storage embedded|etcd   storage backend (HQ_STORAGE, default embedded)
  --etcd-endpoints URLS     comma-separated etcd URLs (HQ_ETCD_ENDPOINTS, default http://127.0.0.1:2379)
  --etcd-prefix PREFIX      key prefix in etcd (HQ_ETCD_PREFIX, default none)
  --history-revisions N     watch history kept by the embedded store, at least (HQ_HISTORY_REVISIONS,
                            default 10000)
  --compaction-interval S   compact history older than S seconds (HQ_COMPACTION_INTERVAL, default 300);
                            the embedded store keeps the last S seconds and --history-revisions revisions
                            (0: by --history-revisions alone)
  --event-ttl S             delete Events last written more than S seconds ago (HQ_EVENT_TTL, default 3600)
  --audit-retention-days N  delete audit records older than N days, 1 to 3650
                            (HQ_AUDIT_RETENTION_DAYS, default 30)
  --audit-omit RESOURCES    comma-separated resources whose writes the audit log leaves out,
                            e.g. leases (agents' and the leader's heartbeats) on a large fleet
                            (HQ_AUDIT_OMIT, default none: every write is recorded)
  --log-level LEVEL         fatal|error|warn|info|debug (HQ_LOG_LEVEL, default info)
  --tls-cert-file FILE      serving certificate (HQ_TLS_CERT_FILE; default: one signed by the
                            server's own CA, created in DATA_DIR/pki at first start)
  --tls-key-file FILE       its private key (HQ_TLS_KEY_FILE)
  --tls-ca-file FILE        CA to put in the kubeconfig for a given certificate (HQ_TLS_CA_FILE)
  --client-ca-file FILE|self  mutual TLS: accept client certificates signed by this CA (HQ_CLIENT_CA_FILE;
                            self: the server's own CA); CN is the user, each O a group, and
                            CN=system:agent:NS:NAME with O=system:agents is that instance's agent
  --tls-san NAMES           extra comma-separated names/IPs for the generated certificate (HQ_TLS_SAN)
  --tls-groups LIST         TLS key-exchange groups, colon-separated OpenSSL names in order of
                            preference, e.g. X25519:P-256 (HQ_TLS_GROUPS; default OpenSSL's, which
                            puts the hybrid post-quantum X25519MLKEM768 first: it keeps the client's
                            6 KiB ML-KEM key for each connection's life, 75 to 84 MiB of RSS at
                            10,000 agents)
  --controllers true|false  run the rollout controller when this replica is the elected leader
                            (HQ_CONTROLLERS, default true)
  --leader-lease-seconds S  leader election: a standby takes over S seconds after the leader's
                            last renewal (HQ_LEADER_LEASE_SECONDS, default 15; renewals every S/7.5)
  --console-dir DIR|none    the built web console to serve at / (HQ_CONSOLE_DIR, default the
                            repo's console/dist, built by npm run build:console; none: no console)
  --metrics-history-minutes N  keep N minutes of each instance's traffic (from its agent's
                            status) in memory for the console's charts, 0 to 1440
                            (HQ_METRICS_HISTORY_MINUTES, default 60; 0: no history)
  --session-idle-minutes N  a console sign-in ends after N minutes without a request, 1 to 1440
                            (HQ_SESSION_IDLE_MINUTES, default 30)
  --session-max-hours N     and N hours after it began however it is used, 1 to 720
                            (HQ_SESSION_MAX_HOURS, default 12)
`;

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv): ServerConfig | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        listen: { type: 'string' },
        'data-dir': { type: 'string' },
        storage: { type: 'string' },
        'etcd-endpoints': { type: 'string' },
        'etcd-prefix': { type: 'string' },
        'history-revisions': { type: 'string' },
        'log-level': { type: 'string' },
        'compaction-interval': { type: 'string' },
        'event-ttl': { type: 'string' },
        'audit-retention-days': { type: 'string' },
        'audit-omit': { type: 'string' },
        'tls-cert-file': { type: 'string' },
        'tls-key-file': { type: 'string' },
        'tls-ca-file': { type: 'string' },
        'tls-san': { type: 'string' },
        'tls-groups': { type: 'string' },
        'client-ca-file': { type: 'string' },
        controllers: { type: 'string' },
        'leader-lease-seconds': { type: 'string' },
        'console-dir': { type: 'string' },
        'metrics-history-minutes': { type: 'string' },
        'session-idle-minutes': { type: 'string' },
        'session-max-hours': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}\n\n${USAGE}`);
  }
  if (values.help) return 'help';
  const listen = values.listen ?? env.HQ_LISTEN ?? '127.0.0.1:8080';
  const m = listen.match(/^(\[[^\]]+\]|[^:]+):(\d{1,5})$/);
  if (!m || Number(m[2]) > 65535) throw new ConfigError(`--listen ${JSON.stringify(listen)}: expected HOST:PORT, e.g. 127.0.0.1:8080`);
  const storage = values.storage ?? env.HQ_STORAGE ?? 'embedded';
  if (storage !== 'embedded' && storage !== 'etcd') {
    throw new ConfigError(`--storage ${JSON.stringify(storage)}: expected "embedded" or "etcd"`);
  }
  const endpoints = (values['etcd-endpoints'] ?? env.HQ_ETCD_ENDPOINTS ?? 'http://127.0.0.1:2379')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const e of endpoints) {
    if (!/^https?:\/\/[^/]+\/?$/.test(e)) throw new ConfigError(`--etcd-endpoints: ${JSON.stringify(e)} is not an http(s)://host:port URL`);
  }
  const history = Number(values['history-revisions'] ?? env.HQ_HISTORY_REVISIONS ?? 10_000);
  if (!Number.isInteger(history) || history < 100) throw new ConfigError('--history-revisions must be an integer of at least 100');
  const compaction = Number(values['compaction-interval'] ?? env.HQ_COMPACTION_INTERVAL ?? 300);
  // 0 on the embedded store: history by --history-revisions alone. etcd must be compacted now and then.
  if (!Number.isInteger(compaction) || compaction < (storage === 'etcd' ? 1 : 0)) {
    throw new ConfigError(`--compaction-interval must be a whole number of seconds, at least ${storage === 'etcd' ? '1 with etcd' : '0'}`);
  }
  const eventTtl = Number(values['event-ttl'] ?? env.HQ_EVENT_TTL ?? 3600);
  if (!Number.isInteger(eventTtl) || eventTtl < 60) throw new ConfigError('--event-ttl must be a whole number of seconds, at least 60');
  const tlsGroups = values['tls-groups'] ?? env.HQ_TLS_GROUPS;
  if (tlsGroups !== undefined) checkTlsGroups(tlsGroups);
  const controllers = values.controllers ?? env.HQ_CONTROLLERS ?? 'true';
  if (controllers !== 'true' && controllers !== 'false') throw new ConfigError(`--controllers ${JSON.stringify(controllers)}: expected true or false`);
  const lease = Number(values['leader-lease-seconds'] ?? env.HQ_LEADER_LEASE_SECONDS ?? 15);
  if (!Number.isInteger(lease) || lease < 2 || lease > 300) throw new ConfigError('--leader-lease-seconds must be a whole number of seconds from 2 to 300');
  const metricsRaw = values['metrics-history-minutes'] ?? env.HQ_METRICS_HISTORY_MINUTES ?? '60';
  const metricsMinutes = Number(metricsRaw);
  if (!/^\d{1,4}$/.test(metricsRaw) || metricsMinutes > 1440) {
    throw new ConfigError('--metrics-history-minutes must be a whole number of minutes from 0 (no history) to 1440 (a day)');
  }
  const auditRaw = values['audit-retention-days'] ?? env.HQ_AUDIT_RETENTION_DAYS ?? '30';
  const auditDays = Number(auditRaw);
  if (!/^\d{1,4}$/.test(auditRaw) || auditDays < 1 || auditDays > 3650) {
    throw new ConfigError('--audit-retention-days must be a whole number of days from 1 to 3650');
  }
  const auditOmit = (values['audit-omit'] ?? env.HQ_AUDIT_OMIT ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const known = RESOURCES.map((r) => r.plural);
  for (const r of auditOmit) {
    if (!known.includes(r)) throw new ConfigError(`--audit-omit: ${JSON.stringify(r)} is not a resource; use plurals: ${known.join(', ')}`);
  }
  const idleRaw = values['session-idle-minutes'] ?? env.HQ_SESSION_IDLE_MINUTES ?? '30';
  if (!/^\d{1,4}$/.test(idleRaw) || Number(idleRaw) < 1 || Number(idleRaw) > 1440) {
    throw new ConfigError('--session-idle-minutes must be a whole number of minutes from 1 to 1440');
  }
  const maxRaw = values['session-max-hours'] ?? env.HQ_SESSION_MAX_HOURS ?? '12';
  if (!/^\d{1,3}$/.test(maxRaw) || Number(maxRaw) < 1 || Number(maxRaw) > 720) {
    throw new ConfigError('--session-max-hours must be a whole number of hours from 1 to 720');
  }
  const consoleDir = values['console-dir'] ?? env.HQ_CONSOLE_DIR ?? DEFAULT_CONSOLE_DIR;
  return {
    auditRetentionDays: auditDays,
    auditOmit,
    sessionIdleMinutes: Number(idleRaw),
    sessionMaxHours: Number(maxRaw),
    metricsHistoryMinutes: metricsMinutes,
    consoleDir: consoleDir === 'none' || consoleDir === '' ? undefined : consoleDir,
    controllers: controllers === 'true',
    leaderLeaseSeconds: lease,
    host: m[1]!.replace(/^\[|\]$/g, ''),
    port: Number(m[2]),
    dataDir: values['data-dir'] ?? env.HQ_DATA_DIR ?? '.hq',
    storage,
    etcdEndpoints: endpoints,
    etcdPrefix: values['etcd-prefix'] ?? env.HQ_ETCD_PREFIX ?? '',
    historyRevisions: history,
    compactionIntervalSeconds: compaction,
    eventTtlSeconds: eventTtl,
    logLevel: values['log-level'] ?? env.HQ_LOG_LEVEL ?? 'info',
    tlsCertFile: values['tls-cert-file'] ?? env.HQ_TLS_CERT_FILE,
    tlsKeyFile: values['tls-key-file'] ?? env.HQ_TLS_KEY_FILE,
    tlsCaFile: values['tls-ca-file'] ?? env.HQ_TLS_CA_FILE,
    tlsSans: (values['tls-san'] ?? env.HQ_TLS_SAN ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    ...(tlsGroups !== undefined ? { tlsGroups } : {}),
    clientCaFile: values['client-ca-file'] ?? env.HQ_CLIENT_CA_FILE,
  };
}

/** --tls-groups as OpenSSL takes it (its own check), else a ConfigError naming the group it refused. */
function checkTlsGroups(list: string): void {
  const groups = list.split(':');
  if (list === '' || groups.some((g) => !/^[A-Za-z0-9_-]+$/.test(g))) {
    throw new ConfigError(`--tls-groups ${JSON.stringify(list)}: expected colon-separated group names, e.g. X25519:P-256`);
  }
  for (const g of groups) {
    try {
      createSecureContext({ ecdhCurve: g });
    } catch {
      throw new ConfigError(`--tls-groups: OpenSSL ${process.versions.openssl} does not know the group ${JSON.stringify(g)} (e.g. X25519MLKEM768, X25519, P-256, P-384)`);
    }
  }
}

export { USAGE };
