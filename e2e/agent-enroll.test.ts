/**
 * An agent that joins with a join token, end to end: a real API server, real HAProxy and the
 * real hq-agent process started with only --join-token, --server and --certificate-authority.
 * It enrolls, writes its own kubeconfig (0600) to its state dir, registers and reaches Ready with
 * a credential that reads nothing but its own instance; restarted, it ignores the used token and
 * runs from its credential; `hq-agent rotate-credentials` gives it a new one, which the running
 * agent picks up when the old one is revoked; `hq-agent enroll` enrolls once and exits.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpGet, simpleConfig, startHAProxy, type HAProxyProcess } from '../agent/test/support/haproxy.ts';
import { freePort } from '../api-server/test/support/ports.ts';
import { request, startServer, type ServerProcess } from '../api-server/test/support/server.ts';
import { until as poll } from '../api-server/test/support/until.ts';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const B = '/apis/haproxyhq.io/v1alpha1';
const NS = `${B}/namespaces/default`;
const NAME = 'edge-joined';

let server: ServerProcess;
let haproxy: HAProxyProcess;
let agent: ChildProcess | undefined;
let agentLog = '';
let frontPort: number;
let joinToken: string;
const dir = mkdtempSync(join(tmpdir(), 'hq-agent-enroll-'));
const stateDir = join(dir, 'state');
const caFile = join(dir, 'ca.crt');
const stateKubeconfig = join(stateDir, 'kubeconfig');

const cfg = (body: string) => simpleConfig(frontPort, body);
const until = <T>(what: string, fn: () => Promise<T | undefined | false>) => poll(what, fn, { context: () => `agent log:\n${agentLog.slice(-3000)}` });

const common = () => [
  '--name', NAME,
  '--labels', 'role=joined',
  '--haproxy-config', haproxy.configPath,
  '--master-socket', haproxy.masterSocket,
  '--state-dir', stateDir,
  '--coalesce-ms', '100',
  '--heartbeat-seconds', '1',
  '--resync-seconds', '2',
];

/** The agent as an operator's unit starts it: the join token and where to find the server, nothing else. */
function startAgent(): ChildProcess {
  const child = spawn(process.execPath, [join(repo, 'agent/src/main.ts'), 'run', ...common()], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...cleanEnv(), HQ_JOIN_TOKEN: joinToken, HQ_SERVER: server.url, HQ_CERTIFICATE_AUTHORITY: caFile },
  });
  child.stdout!.on('data', (d: Buffer) => (agentLog += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (agentLog += d.toString()));
  return child;
}

function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (k !== 'KUBECONFIG' && !k.startsWith('HQ_')) env[k] = v;
  return env;
}

async function stopAgent(): Promise<void> {
  if (!agent || agent.exitCode !== null) return;
  const exited = new Promise((r) => agent!.once('exit', r));
  agent.kill('SIGTERM');
  await exited;
}

const instance = async () => (await request(server, 'GET', `${NS}/haproxyinstances/${NAME}`)).body;
const condition = (obj: any, type: string) => obj?.status?.conditions?.find((c: any) => c.type === type);
const credentialToken = () => /"token": "([^"]+)"/.exec(readFileSync(stateKubeconfig, 'utf8'))?.[1];

beforeAll(async () => {
  frontPort = await freePort();
  server = await startServer({ args: ['--controllers', 'false'] });
  writeFileSync(caFile, server.ca);
  haproxy = await startHAProxy({ config: cfg('v0') });
  const made = await request(server, 'POST', `${NS}/jointokens`, { ttlSeconds: 600, instance: NAME });
  expect(made.status, made.text).toBe(201);
  joinToken = made.body.token;
});

afterAll(async () => {
  agent?.kill('SIGKILL');
  await haproxy?.stop();
  await server?.stop();
  server?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe('hq-agent joining with a join token', () => {
  it('enrolls, writes its kubeconfig 0600 to the state dir, and reaches Ready', async () => {
    agent = startAgent();
    await until('the enrolled credential', async () => credentialToken());
    expect(statSync(stateKubeconfig).mode & 0o777).toBe(0o600);
    // The line comes through the agent's stdout pipe, which may lag the file it wrote.
    const enrolled = new RegExp(`enrolled as system:agent:default:${NAME} \\(credential [0-9a-f]{12}\\); credential written to ${stateKubeconfig}`);
    await until('the enrolment logged', async () => enrolled.test(agentLog));

    const created = await request(server, 'POST', `${NS}/haproxyconfigs`, {
      metadata: { name: 'joined' },
      spec: { config: cfg('v1'), instanceSelector: { matchLabels: { role: 'joined' } } },
    });
    expect(created.status, created.text).toBe(201);
    await until('the instance registered', async () => (await instance()).metadata?.labels?.role === 'joined');
    const pinned = await request(server, 'PATCH', `${NS}/haproxyinstances/${NAME}`, { spec: { configRevision: 'joined-1' } }, { 'content-type': 'application/merge-patch+json' });
    expect(pinned.status, pinned.text).toBe(200);
    await until('Ready', async () => condition(await instance(), 'Ready')?.status === 'True');
    expect((await httpGet(frontPort)).body).toBe('v1');
    // Neither the join token nor the credential is ever logged.
    expect(agentLog).not.toContain(joinToken);
    expect(agentLog).not.toContain(credentialToken()!);
    expect(server.output()).not.toContain(joinToken);
    expect(server.output()).not.toContain(credentialToken()!);
  });

  it('holds a credential bound to its own instance, and the join token is used up', async () => {
    const me = { ...server, token: credentialToken()! };
    expect((await request(me, 'GET', `${NS}/haproxyinstances/${NAME}`)).status).toBe(200);
    await request(server, 'POST', `${NS}/haproxyinstances`, { metadata: { name: 'someone-else' }, spec: {} });
    expect((await request(me, 'GET', `${NS}/haproxyinstances/someone-else`)).status).toBe(403);
    expect((await request(me, 'GET', `${NS}/haproxyconfigs`)).status).toBe(403);
    const again = await request({ ...server, token: '' }, 'POST', '/enroll', { token: joinToken, instance: NAME }, { authorization: '' });
    expect(again.status).toBe(401);
    expect(again.body.message).toMatch(/was already used \(by instance "edge-joined"/);
  });

  it('restarted with the same flags, says the join token is ignored and runs from its credential', async () => {
    await stopAgent();
    const before = credentialToken();
    agentLog = '';
    agent = startAgent();
    await until('the restart log', async () => /already enrolled \(credential in .*\): --join-token is ignored/.test(agentLog));
    // Adopting its instance takes a read with the credential: it works.
    await until('the instance adopted', async () => agentLog.includes(`adopted HAProxyInstance default/${NAME}`));
    expect(condition(await instance(), 'Ready')?.status).toBe('True');
    expect(credentialToken()).toBe(before);
  });

  it('rotate-credentials writes a new credential; the running agent switches to it when the old one is revoked', async () => {
    const old = credentialToken()!;
    const rotated = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [join(repo, 'agent/src/main.ts'), 'rotate-credentials', '--name', NAME, '--state-dir', stateDir], { env: cleanEnv() }, (err, stdout, stderr) =>
        resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stdout).toMatch(new RegExp(`^${NAME}: new credential [0-9a-f]{12} written to ${stateKubeconfig}; the previous one stops working in 5 minutes\\n$`));
    const fresh = credentialToken()!;
    expect(fresh).not.toBe(old);
    expect(statSync(stateKubeconfig).mode & 0o777).toBe(0o600);

    // The old credential is in its grace period: revoke it now instead of waiting five minutes.
    const tokens = (await request(server, 'GET', `${B}/tokens`)).body.items.filter((t: any) => t.instance?.name === NAME);
    expect(tokens).toHaveLength(2);
    const oldId = tokens.find((t: any) => t.expirationTimestamp !== undefined).metadata.name;
    expect((await request(server, 'DELETE', `${B}/tokens/${oldId}`)).status).toBe(200);
    expect((await request({ ...server, token: old }, 'GET', `${NS}/haproxyinstances/${NAME}`)).status).toBe(401);

    // A change to apply: the agent's next writes get a 401 with the old token, re-read the file, and go on.
    const patched = await request(server, 'PATCH', `${NS}/haproxyconfigs/joined`, { spec: { config: cfg('v2') } }, { 'content-type': 'application/merge-patch+json' });
    expect(patched.status, patched.text).toBe(200);
    await request(server, 'PATCH', `${NS}/haproxyinstances/${NAME}`, { spec: { configRevision: 'joined-2' } }, { 'content-type': 'application/merge-patch+json' });
    await until('joined-2 applied and reported with the new credential', async () => {
      const i = await instance();
      return i.status?.appliedRevision === 'joined-2' && condition(i, 'Ready')?.status === 'True';
    });
    expect((await httpGet(frontPort)).body).toBe('v2');
    expect(agentLog).not.toContain(fresh);
  });

  it('hq-agent enroll only enrolls (for provisioning), once; a used token is refused with the reason', async () => {
    const made = await request(server, 'POST', `${NS}/jointokens`, { ttlSeconds: 600 });
    const token: string = made.body.token;
    const provisioned = join(dir, 'provisioned');
    const run = (state: string) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        const args = ['enroll', '--join-token', token, '--server', server.url, '--certificate-authority', caFile, '--name', 'edge-provisioned', '--state-dir', state];
        execFile(process.execPath, [join(repo, 'agent/src/main.ts'), ...args], { env: cleanEnv() }, (err, stdout, stderr) =>
          resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
        );
      });
    const first = await run(provisioned);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe(`edge-provisioned: enrolled; credential in ${join(provisioned, 'kubeconfig')}\n`);
    const cred = /"token": "([^"]+)"/.exec(readFileSync(join(provisioned, 'kubeconfig'), 'utf8'))![1]!;
    expect((await request({ ...server, token: cred }, 'GET', `${NS}/haproxyinstances/edge-provisioned`)).status).toBe(200);
    const again = await run(provisioned);
    expect(again.stdout).toMatch(/^edge-provisioned: already enrolled/);
    const elsewhere = await run(join(dir, 'other-host'));
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.stderr).toMatch(/enrollment refused \(401 Unauthorized\): Unauthorized: the join token [0-9a-f]{12} was already used \(by instance "edge-provisioned"/);
    expect(elsewhere.stderr).not.toContain(token);
  });
});
