#!/usr/bin/env node
/** hq-agent: `run` (the reconcile loop) and `pull` (apply the desired config once). */
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { createApplier } from './apply/pipeline.ts';
import { createClient } from './client.ts';
import { ConfigError, USAGE, parseAgentConfig, type AgentConfig } from './config.ts';
import { watchManagedFiles } from './drift.ts';
import { checkConfig } from './haproxy/check.ts';
import { createMasterCli } from './haproxy/master-cli.ts';
import { Reconciler } from './reconcile.ts';

export const AGENT_VERSION = '0.1.0';

function log(level: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown> = {}): void {
  // One JSON object per line, like the server's log; never the token.
  process.stderr.write(JSON.stringify({ level, time: new Date().toISOString(), msg, ...fields }) + '\n');
}

function setup(config: AgentConfig) {
  const client = createClient({ kubeconfig: config.kubeconfig, server: config.server, token: config.token, namespace: config.namespace });
  const cli = createMasterCli(config.masterSocket);
  const applier = createApplier({
    configPath: config.haproxyConfig,
    masterSocket: config.masterSocket,
    haproxyBin: config.haproxyBin,
    stateDir: config.stateDir,
  });
  const local = {
    check: () => checkConfig({ haproxyBin: config.haproxyBin, configPath: config.haproxyConfig, cwd: dirname(config.haproxyConfig), timeoutMs: 30_000 }),
    watch: (onChange: (path: string) => void) => watchManagedFiles(config.haproxyConfig, onChange),
  };
  const reconciler = new Reconciler(client, applier, cli, local, {
    name: config.name,
    labels: config.labels,
    agentVersion: AGENT_VERSION,
    hostname: hostname(),
    coalesceMs: config.coalesceMs,
    resyncMs: config.resyncSeconds * 1000,
    probeMs: 2000,
    heartbeatMs: config.heartbeatSeconds * 1000,
    statsMs: config.statsSeconds * 1000,
    onDrift: config.onDrift,
    log,
  });
  return { client, applier, reconciler };
}

async function run(config: AgentConfig): Promise<number> {
  const { reconciler, client } = setup(config);
  log('info', `hq-agent ${AGENT_VERSION} starting`, { instance: `${client.namespace}/${config.name}`, server: client.server });
  const stop = () => reconciler.stop();
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  await reconciler.run();
  return 0;
}

/** Apply what the instance's spec says, once; report status; print the outcome. */
async function pull(config: AgentConfig): Promise<number> {
  const { reconciler, client, applier } = setup(config);
  const instance = await client.getInstance(config.name);
  const want = instance?.spec?.configRevision;
  if (!want) {
    process.stderr.write(`hq-agent: HAProxyInstance ${client.namespace}/${config.name} ${instance ? 'has no spec.configRevision' : 'does not exist'}: nothing to pull\n`);
    return 1;
  }
  await reconciler.pass();
  const applied = await applier.applied();
  if (applied?.revision === want) {
    process.stdout.write(`${config.name}: running ${want} (${applied.hash})\n`);
    return 0;
  }
  const latest = await client.getInstance(config.name);
  const failed = latest?.status?.conditions?.find((c) => c.type === 'ConfigApplied');
  process.stderr.write(`${config.name}: ${want} not applied: ${failed?.message ?? 'see hq-agent run for details'}\n`);
  return 1;
}

/** Send the local files up as a new revision, as the original agent's --push did. */
async function push(config: AgentConfig): Promise<number> {
  const { reconciler, client } = setup(config);
  const name = await reconciler.push();
  process.stdout.write(`${config.name}: pushed the local files as ${client.namespace}/${name}\n`);
  return 0;
}

async function main(): Promise<number> {
  let config: AgentConfig;
  try {
    config = parseAgentConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`hq-agent: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (config.command === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (config.command === 'pull') return pull(config);
  if (config.command === 'push') return push(config);
  return run(config);
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`hq-agent: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
