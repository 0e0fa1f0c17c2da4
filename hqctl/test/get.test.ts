/**
 * hqctl get and describe against a real API server (controllers off, so the objects hold exactly
 * what the test writes): the server's printer columns, -o yaml|json|wide|name|rendered, -l, -A,
 * --show-labels, -w printing a change as it happens, describe of an instance with an agent's
 * status and events, and how errors and configuration problems are reported.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, startServer, type ServerProcess } from '../../api-server/test/support/server.ts';
import { BASE, EXAMPLES, cleanEnv, hqctl, lines, repo, start } from './support.ts';

let server: ServerProcess;
const NS = `${BASE}/namespaces/default`;
/** A loopback port nothing listens on (it was free a moment ago). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}
const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

async function create(ns: string, plural: string, body: object): Promise<void> {
  const r = await request(server, 'POST', `${BASE}/namespaces/${ns}/${plural}`, body);
  if (r.status !== 201) throw new Error(`create ${plural}: ${r.status} ${r.text}`);
}

async function putStatus(name: string, status: object): Promise<void> {
  const live = (await request(server, 'GET', `${NS}/haproxyinstances/${name}`)).body;
  const r = await request(server, 'PUT', `${NS}/haproxyinstances/${name}/status`, { ...live, status });
  if (r.status !== 200) throw new Error(`status: ${r.status} ${r.text}`);
}

beforeAll(async () => {
  server = await startServer({ args: ['--controllers', 'false'] });
  expect((await hqctl(server, ['apply', '-f', EXAMPLES])).code).toBe(0);
  for (const [ns, name] of [['team-a', 'a-1'], ['team-b', 'b-1']] as const) {
    await create(ns, 'haproxyinstances', { metadata: { name, labels: { role: 'other' } } });
  }
  // What an agent would report for edge-1.
  await putStatus('edge-1', {
    appliedRevision: 'web-1',
    appliedHash: 'sha256:0123456789abcdef0123',
    heartbeatTime: now(),
    agent: { version: '0.1.0', hostname: 'edge-1.example' },
    haproxy: { version: '2.6.12', pid: 100, workerPid: 200, reloads: 3, failedReloads: 1, currentConnections: 12, sessionRate: 4 },
    conditions: [
      { type: 'Ready', status: 'True', reason: 'Running', message: 'serving web-1', lastTransitionTime: now() },
      { type: 'ConfigApplied', status: 'False', reason: 'CheckFailed', message: 'web-2 refused', lastTransitionTime: now() },
    ],
    lastApplyError: { revision: 'web-2', message: "unknown keyword 'bogus-directive' in 'backend' section", file: 'haproxy.cfg', line: 31, time: now() },
    stats: {
      frontends: [{ name: 'http', status: 'OPEN', currentSessions: 12, totalSessions: 900 }],
      backends: [{ name: 'app', status: 'UP', currentSessions: 12, totalSessions: 900 }],
      servers: [
        { name: 'app1', backend: 'app', status: 'UP', currentSessions: 9, totalSessions: 700 },
        { name: 'app2', backend: 'app', status: 'DOWN', currentSessions: 0, totalSessions: 200 },
      ],
    },
  });
  await create('default', 'events', {
    metadata: { name: 'edge-1.applied' },
    involvedObject: { apiVersion: 'haproxyhq.io/v1alpha1', kind: 'HAProxyInstance', name: 'edge-1', namespace: 'default' },
    type: 'Warning',
    reason: 'ConfigRejected',
    message: 'web-2: haproxy -c failed at haproxy.cfg:31',
    firstTimestamp: now(),
    lastTimestamp: now(),
    source: { component: 'hq-agent' },
  });
});
afterAll(async () => {
  await server?.stop();
  server?.cleanup();
});

describe('hqctl get', () => {
  it('prints the server’s printer columns, filled from status', async () => {
    const r = await hqctl(server, ['get', 'haproxyinstances']);
    expect(r.code).toBe(0);
    const out = lines(r.stdout);
    expect(out[0]).toMatch(/^NAME\s+READY\s+REVISION\s+HAPROXY\s+AGE$/);
    expect(out[1]).toMatch(/^edge-1\s+True\s+web-1\s+2\.6\.12\s+\d+s$/);
    expect(out[2]).toMatch(/^edge-2\s+<none>\s+<none>\s+<none>\s+\d+s$/);
    expect(out).toHaveLength(3);
  });

  it('accepts kubectl’s forms of naming: short names, TYPE NAME, TYPE/NAME', async () => {
    for (const args of [['hi', 'edge-1'], ['hpi', 'edge-1'], ['haproxyinstance/edge-1'], ['instance', 'edge-1']]) {
      const r = await hqctl(server, ['get', ...args]);
      expect(lines(r.stdout).map((l) => l.split(/\s+/)[0])).toEqual(['NAME', 'edge-1']);
    }
    const two = await hqctl(server, ['get', 'hc/web', 'hi/edge-2']);
    expect(two.stdout).toMatch(/^haproxyconfig\.haproxyhq\.io\/web\s+1\s+Rolling/m);
    expect(two.stdout).toMatch(/^haproxyinstance\.haproxyhq\.io\/edge-2\s/m);
  });

  it('a category as the type, as kubectl takes one: all (instances and configs), haproxyhq', async () => {
    const all = await hqctl(server, ['get', 'all', '-o', 'name']);
    expect(all).toMatchObject({ code: 0, stdout: 'haproxyinstance.haproxyhq.io/edge-1\nhaproxyinstance.haproxyhq.io/edge-2\nhaproxyconfig.haproxyhq.io/web\n' });
    const tables = (await hqctl(server, ['get', 'all'])).stdout;
    expect(tables).toMatch(/^haproxyinstance\.haproxyhq\.io\/edge-1\s+True\s+web-1/m);
    expect(tables).toMatch(/^haproxyconfig\.haproxyhq\.io\/web\s+1\s+Rolling/m);
    const group = (await hqctl(server, ['get', 'haproxyhq,hi', '-o', 'name'])).stdout;
    expect(group).toMatch(/^configrevision\.haproxyhq\.io\/web-1$/m);
    expect(group).toMatch(/^event\.haproxyhq\.io\//m);
    expect(group.match(/haproxyinstance\.haproxyhq\.io\/edge-1/g)).toHaveLength(1); // hi is in haproxyhq: listed once
    const none = await hqctl(server, ['get', 'everything']);
    expect(none).toMatchObject({ code: 1, stderr: 'error: the server doesn\'t have a resource type "everything"\n' });
  });

  it('-o wide adds the priority columns; --show-labels adds LABELS', async () => {
    const wide = lines((await hqctl(server, ['get', 'hi', 'edge-1', '-o', 'wide'])).stdout);
    expect(wide[0]).toMatch(/^NAME\s+READY\s+REVISION\s+HAPROXY\s+AGE\s+DESIRED\s+DRIFTED\s+PAUSED\s+HEARTBEAT$/);
    expect(wide[1]).toMatch(/^edge-1\s+True\s+web-1\s+2\.6\.12\s+\d+s\s+<none>\s+<none>\s+false\s+\d+s$/);
    const labelled = lines((await hqctl(server, ['get', 'hi', 'edge-2', '--show-labels'])).stdout);
    expect(labelled[1]).toMatch(/\srole=edge,region=eu-central$/);
  });

  it('-o yaml and -o json print the object, or a List of several', async () => {
    const y = await hqctl(server, ['get', 'hc', 'web', '-o', 'yaml']);
    const obj = load(y.stdout) as { apiVersion: string; kind: string; metadata: { name: string }; spec: { template: boolean } };
    expect(y.stdout.startsWith('apiVersion: haproxyhq.io/v1alpha1\nkind: HAProxyConfig\n')).toBe(true);
    expect(obj.metadata.name).toBe('web');
    expect(obj.spec.template).toBe(true);
    const j = JSON.parse((await hqctl(server, ['get', 'hi', '-o', 'json'])).stdout);
    expect(j.kind).toBe('List');
    expect(j.items.map((i: { kind: string; metadata: { name: string } }) => `${i.kind}/${i.metadata.name}`)).toEqual([
      'HAProxyInstance/edge-1',
      'HAProxyInstance/edge-2',
    ]);
  });

  it('-o name, -l and -A', async () => {
    expect((await hqctl(server, ['get', 'hi', '-o', 'name', '-l', 'region=eu-west'])).stdout).toBe('haproxyinstance.haproxyhq.io/edge-1\n');
    const all = lines((await hqctl(server, ['get', 'hi', '-A', '-l', 'role=other'])).stdout);
    expect(all[0]).toMatch(/^NAMESPACE\s+NAME\s+READY/);
    expect(all.slice(1).map((l) => l.split(/\s+/).slice(0, 2).join('/'))).toEqual(['team-a/a-1', 'team-b/b-1']);
    expect((await hqctl(server, ['get', 'hi', '-n', 'team-b', '-o', 'name'])).stdout).toBe('haproxyinstance.haproxyhq.io/b-1\n');
    const none = await hqctl(server, ['get', 'hi', '-l', 'role=nowhere']);
    expect(none).toEqual({ code: 0, stdout: '', stderr: 'No resources found in default namespace.\n' });
  });

  it('-o jsonpath=TEMPLATE fills a kubectl template from the object, or the List of several; a bad one exits 1 naming the problem', async () => {
    expect(await hqctl(server, ['get', 'hi', 'edge-1', '-o', 'jsonpath={.status.appliedRevision}'])).toMatchObject({ code: 0, stdout: 'web-1' });
    const table = await hqctl(server, ['get', 'hi', '-o', 'jsonpath={range .items[*]}{.metadata.name}{"\\t"}{.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}']);
    expect(table.code).toBe(0);
    expect(table.stdout).toBe('edge-1\tTrue\nedge-2\t\n');
    expect((await hqctl(server, ['get', 'hi', '-A', '-o=jsonpath={.items[*].metadata.name}'])).stdout).toBe('edge-1 edge-2 a-1 b-1');
    const bad = await hqctl(server, ['get', 'hi', '-o', 'jsonpath={range .items[*]}{.metadata.name}']);
    expect(bad).toMatchObject({ code: 1, stdout: '' });
    expect(bad.stderr).toBe('error: error parsing jsonpath {range .items[*]}{.metadata.name}: a {range} without an {end}\n');
  });

  it('--sort-by sorts a table by its rows\' whole objects, and lists for the other outputs; a bad path exits 1', async () => {
    // Unsorted: key order (edge-1 first). By the applied revision: edge-2 has none, so it comes first.
    const sorted = lines((await hqctl(server, ['get', 'hi', '--sort-by=.status.appliedRevision'])).stdout);
    expect(sorted.map((l) => l.split(/\s+/)[0])).toEqual(['NAME', 'edge-2', 'edge-1']);
    const byName = await hqctl(server, ['get', 'hi', '-A', '--sort-by', '{.metadata.name}', '-o', 'jsonpath={.items[*].metadata.name}']);
    expect(byName).toMatchObject({ code: 0, stdout: 'a-1 b-1 edge-1 edge-2' });
    const named = await hqctl(server, ['get', 'hi', '-A', '--sort-by=.metadata.name', '-o', 'name']);
    expect(named.stdout).toBe(['a-1', 'b-1', 'edge-1', 'edge-2'].map((n) => `haproxyinstance.haproxyhq.io/${n}\n`).join(''));
    const bad = await hqctl(server, ['get', 'hi', '--sort-by=status..x']);
    expect(bad).toMatchObject({ code: 1, stdout: '' });
    expect(bad.stderr).toMatch(/^error: --sort-by "status\.\.x": not a supported JSONPath \(e\.g\. \.metadata\.name/);
  });

  it('-o rendered prints the config an instance runs, templates filled, files under headers', async () => {
    // Pin the revision (the rollout controller would set it).
    const live = (await request(server, 'GET', `${NS}/haproxyinstances/edge-2`)).body;
    expect((await request(server, 'PUT', `${NS}/haproxyinstances/edge-2`, { ...live, spec: { ...live.spec, configRevision: 'web-1' } })).status).toBe(200);
    const r = await hqctl(server, ['get', 'haproxyinstance', 'edge-2', '-o', 'rendered']);
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith('# edge-2 in eu-central\nglobal\n')).toBe(true);
    expect(r.stdout).toContain('    bind 127.0.0.1:8082\n');
    expect(r.stdout).toContain('# --- maps/hosts.map ---\nexample.com app\n');
    expect(r.stdout).not.toContain('{{');

    const unpinned = await hqctl(server, ['get', 'hi', 'edge-1', '-o', 'rendered']);
    expect(unpinned.code).toBe(1);
    expect(unpinned.stderr).toBe('Error from server (BadRequest): haproxyinstance "edge-1" has no spec.configRevision yet: pass ?revision=NAME to render a given revision\n');
    const chosen = await hqctl(server, ['get', 'hi', 'edge-1', '-o', 'rendered', '--revision', 'web-1']);
    expect(chosen.stdout).toContain('    bind 127.0.0.1:8081\n');
  });

  it('-w prints the list, then each change as it happens', async () => {
    const w = start(server, ['get', 'hi', '-w']);
    await w.waitFor(/^edge-2\s.*\n/m, 'the listed rows');
    await putStatus('edge-2', { appliedRevision: 'web-1', haproxy: { version: '2.8.3' }, conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now() }] });
    await w.waitFor(/^edge-2\s+True\s+web-1\s+2\.8\.3\s/m, 'the changed row');
    await w.stop();
    const out = lines(w.stdout());
    expect(out[0]).toMatch(/^NAME\s+READY\s+REVISION\s+HAPROXY\s+AGE$/);
    expect(out.filter((l) => l.startsWith('NAME'))).toHaveLength(1);
    expect(w.stderr()).toBe('');

    const names = start(server, ['get', 'hi', 'edge-1', '-w', '-o', 'name']);
    await names.waitFor(/edge-1\n/);
    await putStatus('edge-1', { appliedRevision: 'web-1', heartbeatTime: now() });
    await names.waitFor(/edge-1\n.*edge-1\n/s, 'a second line after the change');
    await names.stop();
    expect(lines(names.stdout()).every((l) => l === 'haproxyinstance.haproxyhq.io/edge-1')).toBe(true);
  });
});

describe('hqctl describe', () => {
  beforeAll(async () => {
    // describe-1: edge-1's status again (the -w test replaced it).
    await create('default', 'haproxyinstances', { metadata: { name: 'describe-1', labels: { role: 'x' } }, spec: { configRevision: 'web-1', servers: [{ backend: 'app', server: 'app2', state: 'drain' }] } });
    await putStatus('describe-1', {
      appliedRevision: 'web-1',
      appliedHash: 'sha256:0123456789abcdef0123',
      heartbeatTime: now(),
      haproxy: { version: '2.6.12', pid: 100, workerPid: 200, reloads: 3, failedReloads: 1 },
      conditions: [{ type: 'Ready', status: 'True', reason: 'Running', message: 'serving web-1', lastTransitionTime: now() }],
      lastApplyError: { revision: 'web-2', message: "unknown keyword 'bogus-directive' in 'backend' section", file: 'haproxy.cfg', line: 31, time: now() },
      stats: {
        frontends: [{ name: 'http', status: 'OPEN', currentSessions: 12 }],
        servers: [
          { name: 'app1', backend: 'app', status: 'UP', currentSessions: 9, totalSessions: 700 },
          { name: 'app2', backend: 'app', status: 'DOWN', currentSessions: 0, totalSessions: 200 },
          { name: 'app3', backend: 'app', status: 'UP', currentSessions: 1, totalSessions: 5 },
        ],
      },
    });
    await create('default', 'events', {
      metadata: { name: 'describe-1.rejected' },
      involvedObject: { kind: 'HAProxyInstance', name: 'describe-1' },
      type: 'Warning',
      reason: 'ConfigRejected',
      message: 'web-2: haproxy -c failed at haproxy.cfg:31',
      lastTimestamp: now(),
      source: { component: 'hq-agent' },
    });
  });

  it('an instance: spec, status, conditions, the last apply error with HAProxy’s line, stats, events', async () => {
    const r = await hqctl(server, ['describe', 'hi', 'describe-1']);
    expect(r.code).toBe(0);
    const out = r.stdout;
    expect(out).toMatch(/^Name:\s+describe-1$/m);
    expect(out).toMatch(/^Kind:\s+HAProxyInstance$/m);
    expect(out).toMatch(/^ {2}Config Revision:\s+web-1$/m);
    expect(out).toMatch(/^ {4}app\s+app2\s+drain\s+-$/m);
    expect(out).toMatch(/^ {2}Applied Revision:\s+web-1$/m);
    expect(out).toMatch(/^ {2}Applied Hash:\s+sha256:0123456789abcdef0123$/m);
    expect(out).toMatch(/^ {2}HAProxy:\s+HAProxy 2\.6\.12, master pid 100, worker pid 200, 3 reloads \(1 failed\)$/m);
    expect(out).toMatch(/^ {2}Ready\s+True\s+Running\s+\d+s\s+serving web-1$/m);
    expect(out).toMatch(/^Last Apply Error:\n {2}Revision:\s+web-2\n {2}Where:\s+haproxy\.cfg:31\n {2}Time:.*\n {2}Message:\s+unknown keyword 'bogus-directive' in 'backend' section$/m);
    expect(out).toMatch(/^ {2}Frontends:\s+1 \(OPEN 1\)$/m);
    expect(out).toMatch(/^ {2}Servers:\s+3 \(UP 2, DOWN 1\)$/m);
    // The busiest first.
    expect(out).toMatch(/Busiest:\n.*\n.*\n {4}http\s+OPEN\s+12\s.*\n {4}app\/app1\s+UP\s+9\s.*\n {4}app\/app3\s+UP\s+1\s/);
    expect(out).toMatch(/^Events:\n {2}Type\s+Reason\s+Age\s+From\s+Message\n.*\n {2}Warning\s+ConfigRejected\s+\d+s\s+hq-agent\s+web-2: haproxy -c failed at haproxy\.cfg:31$/m);
  });

  it('a config: selector, strategy, template, revisions', async () => {
    const r = await hqctl(server, ['describe', 'haproxyconfig/web']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Selector:\s+role=edge$/m);
    expect(r.stdout).toMatch(/^Strategy:\s+Rolling, canary 1, max unavailable 25%, health deadline 60s$/m);
    expect(r.stdout).toMatch(/^Template:\s+true$/m);
    expect(r.stdout).toMatch(/^Files:\s+maps\/hosts\.map \(map\)$/m);
    expect(r.stdout).toMatch(/^Revisions:\n.*\n.*\n {2}1\s+sha256:[0-9a-f]{12}\s+\d+s\s+latest$/m);
    expect(r.stdout).toMatch(/^Events:\s+<none>$/m);
  });

  it('a missing object is the server’s NotFound', async () => {
    expect(await hqctl(server, ['describe', 'hc', 'nope'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'Error from server (NotFound): haproxyconfigs.haproxyhq.io "nope" not found\n',
    });
  });
});

describe('errors and configuration', () => {
  it('a bad selector is the server’s 400; an unknown type and a missing name are named', async () => {
    expect(await hqctl(server, ['get', 'hi', '-l', 'role=a=b'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'Error from server (BadRequest): invalid label value "a=b" in labelSelector "role=a=b"\n',
    });
    expect(await hqctl(server, ['get', 'widgets'])).toEqual({ code: 1, stdout: '', stderr: 'error: the server doesn\'t have a resource type "widgets"\n' });
    const missing = await hqctl(server, ['get', 'hi', 'edge-1', 'nope']);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toMatch(/^edge-1\s/m);
    expect(missing.stderr).toBe('Error from server (NotFound): haproxyinstances.haproxyhq.io "nope" not found\n');
  });

  it('--server and --token with --certificate-authority work without a kubeconfig; a wrong token is Unauthorized', async () => {
    const ca = join(server.dataDir, 'test-ca.pem');
    writeFileSync(ca, server.ca);
    const base = ['--server', server.url, '--certificate-authority', ca];
    const ok = await hqctl(server, ['get', 'hc', '-o', 'name', ...base, '--token', server.token], { noKubeconfig: true });
    expect(ok).toEqual({ code: 0, stdout: 'haproxyconfig.haproxyhq.io/web\n', stderr: '' });
    const env = await hqctl(server, ['get', 'hc', '-o', 'name'], { noKubeconfig: true, env: { HQ_SERVER: server.url, HQ_TOKEN: server.token, HQ_KUBECONFIG: '' } });
    expect(env.stderr).toMatch(/certificate/i);
    expect(env.code).toBe(1);
    const bad = await hqctl(server, ['get', 'hc', ...base, '--token', 'wrong'], { noKubeconfig: true });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^Error from server \(Unauthorized\): /);
  });

  it('no configuration at all says how to give one; an unreachable server is named', async () => {
    const none = await hqctl(undefined, ['get', 'hi']);
    expect(none.code).toBe(1);
    expect(none.stderr).toBe(
      'error: no API server configured: pass --kubeconfig (the server writes one to its data dir, .hq/kubeconfig for make run), set HQ_KUBECONFIG or KUBECONFIG, or pass --server and --token\n',
    );
    const port = await freePort();
    const down = await hqctl(undefined, ['get', 'hi', '--server', `https://127.0.0.1:${port}`, '--token', 't']);
    expect(down.code).toBe(1);
    expect(down.stderr).toBe(`error: the connection to the server https://127.0.0.1:${port} was refused - is the API server running, and is this its address?\n`);
  });

  it('version asks the server; --help needs none; the npm bin runs it', async () => {
    const v = await hqctl(server, ['version']);
    expect(v.stdout).toMatch(/^Client Version: v0\.1\.0\nServer Version: v\S+\n$/);
    // What `npx hqctl` runs: the workspace bin, its shebang finding the pinned Node on PATH.
    const bin = await new Promise<string>((resolve, reject) =>
      execFile(
        join(repo, 'node_modules', '.bin', 'hqctl'),
        ['get', 'hc', '-o', 'name'],
        { env: cleanEnv({ HQ_KUBECONFIG: server.kubeconfig, PATH: `${join(repo, 'node_modules', '.bin')}:${process.env.PATH}` }) },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
      ),
    );
    expect(bin).toBe('haproxyconfig.haproxyhq.io/web\n');
    const help = await hqctl(undefined, ['rollout', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage:\n {2}hqctl rollout status {2}haproxyconfig\/NAME/m);
  });
});
