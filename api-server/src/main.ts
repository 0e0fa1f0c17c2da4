/** Reads config, opens the store, makes sure an admin credential exists, and listens. */
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildApp } from './app.ts';
import { loadConsole } from './routes/console.ts';
import { ADMIN, StoredTokenAuthenticator, generateToken } from './auth.ts';
import { ConfigError, USAGE, parseConfig, type ServerConfig } from './config.ts';
import { kubeconfigPath, readOwnKubeconfig, writeKubeconfig } from './kubeconfig.ts';
import { defaultSans, ensureTls } from './tls.ts';
import { startEventTtl } from './registry/event-ttl.ts';
import { AUDIT_PREFIX, startAuditRetention } from './audit/log.ts';
import { startControllers } from './controllers/index.ts';
import type { ResourceRegistry } from './registry/registry.ts';
import { startCompactor } from './storage/compactor.ts';
import { ensureInitialAdmin } from './users/bootstrap.ts';
import { UserStore } from './users/store.ts';
import { openSqliteStorage } from './storage/sqlite-storage.ts';
import type { Storage } from './storage/types.ts';

async function openStorage(config: ServerConfig): Promise<Storage> {
  if (config.storage === 'etcd') {
    // Loaded only when used: etcd3 brings gRPC, which the embedded setup does not need.
    const { openEtcdStorage } = await import('./storage/etcd-storage.ts');
    return openEtcdStorage({ endpoints: config.etcdEndpoints, prefix: config.etcdPrefix });
  }
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  return openSqliteStorage({
    path: join(config.dataDir, 'store.db'),
    historyRevisions: config.historyRevisions,
    historyMs: config.compactionIntervalSeconds * 1000,
    recordPrefixes: [AUDIT_PREFIX],
  });
}

async function main(): Promise<void> {
  let config: ServerConfig;
  try {
    const parsed = parseConfig(process.argv.slice(2), process.env);
    if (parsed === 'help') {
      process.stdout.write(USAGE);
      return;
    }
    config = parsed;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`hq-api-server: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  config.dataDir = resolve(config.dataDir);
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });

  const tls = ensureTls(join(config.dataDir, 'pki'), {
    certFile: config.tlsCertFile,
    keyFile: config.tlsKeyFile,
    caFile: config.tlsCaFile,
    sans: [...defaultSans(config.host), ...config.tlsSans],
  });
  // The console is optional for the API: a missing build is said once, loudly, and / answers 404.
  let consoleFiles: ReturnType<typeof loadConsole> | undefined;
  let consoleProblem: string | undefined;
  if (config.consoleDir) {
    try {
      consoleFiles = loadConsole(resolve(config.consoleDir));
    } catch (err) {
      consoleProblem = (err as Error).message;
    }
  }
  const storage = await openStorage(config);
  const authenticator = new StoredTokenAuthenticator(storage);
  const app = await buildApp({
    storage,
    authenticator,
    https: {
      cert: tls.cert,
      key: tls.key,
      ...(config.clientCaFile ? { clientCa: config.clientCaFile === 'self' ? tls.ca : readFileSync(config.clientCaFile, 'utf8') } : {}),
      ...(config.tlsGroups ? { groups: config.tlsGroups } : {}),
    },
    consoleFiles,
    rbac: true,
    ca: tls.ca,
    metricsHistoryMinutes: config.metricsHistoryMinutes,
    auditOmit: config.auditOmit,
    people: { idleTimeoutMs: config.sessionIdleMinutes * 60_000, lifetimeMs: config.sessionMaxHours * 3_600_000 },
    requestLogging: config.logLevel === 'debug' || config.logLevel === 'trace',
    logger: {
      level: config.logLevel,
      // Never log credentials, even at debug level.
      redact: ['req.headers.authorization', 'req.headers.cookie'],
    },
  });
  // The embedded store bounds its own history; etcd keeps everything until told to compact.
  const compactor =
    storage.name === 'etcd'
      ? startCompactor(storage, {
          intervalMs: config.compactionIntervalSeconds * 1000,
          onError: (err) => app.log.warn({ err }, 'etcd compaction failed; will retry'),
        })
      : undefined;
  const eventTtl = startEventTtl(app.getDecorator<Map<string, ResourceRegistry>>('registries').get('events')!, storage, {
    ttlMs: config.eventTtlSeconds * 1000,
    intervalMs: Math.min(config.eventTtlSeconds * 1000, 5 * 60 * 1000),
    onError: (err) => app.log.warn({ err }, 'event TTL sweep failed; will retry'),
  });
  const auditRetention = startAuditRetention(storage, {
    retentionMs: config.auditRetentionDays * 86_400_000,
    intervalMs: 10 * 60 * 1000,
    onError: (err) => app.log.warn({ err }, 'audit log retention sweep failed; will retry'),
  });
  const controllers = config.controllers
    ? startControllers({
        registries: app.getDecorator<Map<string, ResourceRegistry>>('registries'),
        leaseSeconds: config.leaderLeaseSeconds,
        log: (level, msg, fields) => app.log[level](fields ?? {}, msg),
      })
    : undefined;
  await app.listen({ host: config.host, port: config.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;

  // First start: a random admin token, registered (hashed) in the store and written to the
  // kubeconfig. Later starts keep the token and refresh the server URL.
  const path = kubeconfigPath(config.dataDir);
  const existing = readOwnKubeconfig(path);
  const token = existing?.token ?? generateToken();
  const registered = await authenticator.register(token, ADMIN, `admin token of the server with data dir ${config.dataDir}`);
  if (registered === 'revoked') app.log.warn(`the admin token in ${path} was revoked and stays revoked: delete the file and restart for a new one, or use another admin's token`);
  if (!existing || existing.server !== server || existing.ca !== tls.ca) {
    writeKubeconfig(path, { server, token, ca: tls.ca, namespace: existing?.namespace ?? 'default' });
  }
  // First start (or the first since users came): the user admin, its password in a file of the data dir.
  const say = app.log.child({}, { level: 'info' });
  await ensureInitialAdmin(storage, new UserStore(storage), config.dataDir, { info: (m) => say.info(m), warn: (m) => say.warn(m) });
  // The banner is written whatever the log level: operators and scripts wait for it.
  app.log.child({}, { level: 'info' }).info(
    { storage: config.storage, dataDir: config.dataDir, kubeconfig: path },
    `HAProxyHQ API server listening on ${server}; credentials in ${path}`,
  );

  if (consoleProblem) app.log.warn(`no web console: ${consoleProblem}`);
  else if (consoleFiles) app.log.child({}, { level: 'info' }).info(`web console at ${server}/ (sign in with a user's password, or with a bearer token such as the one in ${path})`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.log.info(`${signal}: shutting down`);
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    compactor?.stop();
    eventTtl.stop();
    auditRetention.stop();
    await controllers?.stop();
    await app.close();
    await storage.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`hq-api-server: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
