#!/usr/bin/env node
/** hq-agent: `run` (the reconcile loop) and `pull` (apply the desired config once). */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { createApplier } from './apply/pipeline.ts';
import { ApiError, createClient } from './client.ts';
import { ConfigError, USAGE, parseAgentConfig, type AgentConfig } from './config.ts';
import { enroll, hasCredential, kubeconfigFor, stateKubeconfigPath, writeSecretFile } from './enroll.ts';
import { watchManagedFiles } from './drift.ts';
import { checkConfig } from './haproxy/check.ts';
import { createMasterCli } from './haproxy/master-cli.ts';
import { Reconciler } from './reconcile.ts';

export const AGENT_VERSION = '0.1.0';

function log(level: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown> = {}): void {
  // One JSON object per line, like the server's log; never the token.
  process.stderr.write(JSON.stringify({ level, time: new Date().toISOString(), msg, ...fields }) + '\n');
}

/**
 * The kubeconfig to run with: --kubeconfig (HQ_KUBECONFIG); else the credential enrollment wrote
 * to the state dir (enrolling first, with --join-token, when there is none yet); else KUBECONFIG.
 */
async function credentials(config: AgentConfig, mayEnroll: boolean): Promise<string | undefined> {
  if (config.kubeconfig) return config.kubeconfig;
  const state = stateKubeconfigPath(config.stateDir);
  if (hasCredential(state)) {
    if (config.joinToken) log('info', `already enrolled (credential in ${state}): --join-token is ignored; delete that file to enroll again`);
    return state;
  }
  if (config.joinToken && mayEnroll) {
    await enrollUntilDone(config, state);
    return state;
  }
  return config.envKubeconfig;
}

/** Enroll and write the credential; transient failures (server down, 5xx, 429) are retried with backoff, a refusal is final. */
async function enrollUntilDone(config: AgentConfig, path: string, attempts = Infinity): Promise<void> {
  const ca = config.certificateAuthority ? readFileSync(config.certificateAuthority, 'utf8') : undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      const e = await enroll({ server: config.server!, ca, token: config.joinToken!, instance: config.name });
      writeSecretFile(path, kubeconfigFor(config.server!, e, e.certificateAuthority ?? ca));
      log('info', `enrolled as ${e.user.name} (credential ${e.tokenId}); credential written to ${path}`, { instance: `${e.namespace}/${e.instance}` });
      return;
    } catch (err) {
      const final = err instanceof ApiError && err.code >= 400 && err.code < 500 && err.code !== 429;
      if (final) throw new Error(`enrollment refused (${err.code} ${err.reason}): ${err.message}`);
      if (attempt >= attempts) throw err;
      const wait = Math.min(60_000, 1000 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random() / 2);
      log('warn', `enrollment with ${config.server} failed; retrying in ${Math.round(wait / 1000)} s`, { error: err instanceof Error ? err.message : String(err) });
      await delay(wait);
    }
  }
}

function setup(config: AgentConfig, kubeconfig: string | undefined) {
  const client = createClient({
    kubeconfig,
    server: config.server,
    token: config.token,
    certificateAuthority: config.certificateAuthority,
    namespace: config.namespace,
  });
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
  const { reconciler, client } = setup(config, await credentials(config, true));
  log('info', `hq-agent ${AGENT_VERSION} starting`, { instance: `${client.namespace}/${config.name}`, server: client.server });
  const stop = () => reconciler.stop();
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  await reconciler.run();
  return 0;
}

/** Apply what the instance's spec says, once; report status; print the outcome. */
async function pull(config: AgentConfig): Promise<number> {
  const { reconciler, client, applier } = setup(config, await credentials(config, false));
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
  const { reconciler, client } = setup(config, await credentials(config, false));
  const name = await reconciler.push();
  process.stdout.write(`${config.name}: pushed the local files as ${client.namespace}/${name}\n`);
  return 0;
}

/** Enroll once (or say it already did) and exit: for provisioning scripts. */
async function enrollCommand(config: AgentConfig): Promise<number> {
  const state = stateKubeconfigPath(config.stateDir);
  if (hasCredential(state)) {
    process.stdout.write(`${config.name}: already enrolled (credential in ${state}); delete that file to enroll again\n`);
    return 0;
  }
  await enrollUntilDone(config, state, 5);
  process.stdout.write(`${config.name}: enrolled; credential in ${state}\n`);
  return 0;
}

/** A new credential, written over the kubeconfig the current one came from; a running agent picks it up on its next 401. */
async function rotateCommand(config: AgentConfig): Promise<number> {
  if (config.token) throw new ConfigError('rotate-credentials writes the new credential to the kubeconfig the current one came from: not with --token');
  const path = await credentials(config, false);
  if (!path) throw new ConfigError('no kubeconfig to rotate: pass --kubeconfig, or --state-dir of an enrolled agent');
  const client = createClient({ kubeconfig: path, server: config.server, certificateAuthority: config.certificateAuthority, namespace: config.namespace });
  const e = await client.rotateCredentials(config.name);
  writeSecretFile(path, client.kubeconfigWithToken(e.token));
  process.stdout.write(`${config.name}: new credential ${e.tokenId} written to ${path}; the previous one stops working in 5 minutes\n`);
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
  if (config.command === 'enroll') return enrollCommand(config);
  if (config.command === 'rotate-credentials') return rotateCommand(config);
  return run(config);
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`hq-agent: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
