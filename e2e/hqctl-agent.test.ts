/**
 * hqctl over the whole system: a real API server with its rollout controller, a real hq-agent
 * beside a real HAProxy 2.6, and hqctl as an operator types it. The example config (a template)
 * rolls out; `get`, `describe` and `-o rendered` show what the agent reports; `hqctl drain` moves
 * traffic off a server through the agent (the declared state, never the runtime API directly),
 * and `hqctl ready` brings it back. Every port is a free one, so this runs beside the other e2e
 * tests.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpGet, simpleConfig, startHAProxy, startHttpBackend, type HAProxyProcess, type HttpBackend } from '../agent/test/support/haproxy.ts';
import { startServer, type ServerProcess } from '../api-server/test/support/server.ts';
import { EXAMPLES, hqctl } from '../hqctl/test/support.ts';
import { until as poll } from '../api-server/test/support/until.ts';
import { spawnAgent } from './support/agent.ts';

const NAME = 'e2e-edge';
let server: ServerProcess;
let haproxy: HAProxyProcess;
let agent: ChildProcess;
let stateDir: string;
const backends: HttpBackend[] = [];
let logs = '';

/** Poll until `fn` returns something truthy; on time-out, say what was awaited and show the agent's log. */
const until = <T>(what: string, fn: () => Promise<T | undefined | false>, ms = 60_000) =>
  poll(what, fn, { ms, intervalMs: 250, context: () => `agent log:\n${logs.slice(-3000)}` });

async function ok(args: string[], input?: string): Promise<string> {
  const r = await hqctl(server, args, { input });
  if (r.code !== 0) throw new Error(`hqctl ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

beforeAll(async () => {
  server = await startServer({ args: ['--leader-lease-seconds', '2'] });
  backends.push(await startHttpBackend('app1'), await startHttpBackend('app2'));
  haproxy = await startHAProxy({ config: (ports) => simpleConfig(ports[0]!, 'boot') });
  stateDir = mkdtempSync(join(tmpdir(), 'hqctl-e2e-state-'));
  // The instance, declared before its agent connects: labels for the selector, values for the template.
  const manifest = `apiVersion: haproxyhq.io/v1alpha1
kind: HAProxyInstance
metadata:
  name: ${NAME}
  labels: {role: edge, region: e2e}
spec:
  values:
    bind: 127.0.0.1:${haproxy.port}
    app1: 127.0.0.1:${backends[0]!.port}
    app2: 127.0.0.1:${backends[1]!.port}
`;
  expect(await ok(['apply', '-f', '-'], manifest)).toBe(`haproxyinstance.haproxyhq.io/${NAME} created\n`);
  agent = spawnAgent({ kubeconfig: server.kubeconfig, name: NAME, haproxy, stateDir, args: ['--stats-seconds', '1'], onOutput: (d) => (logs += d) });
});

afterAll(async () => {
  agent?.kill('SIGKILL');
  await haproxy?.stop();
  for (const b of backends) await b.close();
  await server?.stop();
  server?.cleanup();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

describe('hqctl with a real agent and HAProxy', () => {
  it('apply rolls the templated example out; get, describe and -o rendered show what runs', async () => {
    expect(await ok(['apply', '-f', join(EXAMPLES, 'haproxyconfig-web.yaml')])).toBe('haproxyconfig.haproxyhq.io/web created\n');
    const status = await hqctl(server, ['rollout', 'status', 'hc/web', '--timeout', '90s']);
    expect(status.stderr).toBe('');
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/haproxyconfig "web" successfully rolled out\n$/);

    const row = (await ok(['get', 'hi', NAME])).split('\n')[1];
    expect(row).toMatch(new RegExp(`^${NAME}\\s+True\\s+web-1\\s+2\\.\\d+\\S*\\s+\\d+s$`));
    const rendered = await ok(['get', 'hi', NAME, '-o', 'rendered']);
    expect(rendered).toContain(`# ${NAME} in e2e\n`);
    expect(rendered).toContain(`    bind 127.0.0.1:${haproxy.port}\n`);
    // What the agent wrote is what -o rendered says it runs.
    expect(readFileSync(haproxy.configPath, 'utf8')).toBe(rendered.slice(0, rendered.indexOf('# --- maps/hosts.map ---\n')));

    const described = await until('describe to show the stats', async () => {
      const d = await ok(['describe', 'hi', NAME]);
      return /^ {2}Servers:\s+2 \(UP 2\)$/m.test(d) && d;
    });
    expect(described).toMatch(/^ {2}Applied Revision:\s+web-1$/m);
    expect(described).toMatch(/^ {2}HAProxy:\s+HAProxy 2\.\d+/m);
    expect(described).toMatch(/^ {2}Ready\s+True\s/m);
    expect(described).toMatch(/^ {2}Backends:\s+\d+ \(/m);
    expect((await httpGet(haproxy.port, '/', { host: 'example.com' })).status).toBe(200);
  });

  it('drain moves new requests off a server through the agent; ready brings it back', async () => {
    expect(await ok(['drain', NAME, 'app/app1'])).toBe(`haproxyinstance.haproxyhq.io/${NAME} app/app1 set to drain\n`);
    await until('HAProxy to report app1 draining', async () => {
      const d = await ok(['describe', 'hi', NAME]);
      return /^ {2}Servers:\s+2 \((UP 1, DRAIN 1|DRAIN 1, UP 1)\)$/m.test(d);
    });
    for (let i = 0; i < 6; i++) expect((await httpGet(haproxy.port, '/', { host: 'example.com' })).body).toBe('app2');

    expect(await ok(['ready', NAME, 'app/app1'])).toBe(`haproxyinstance.haproxyhq.io/${NAME} app/app1 set to ready\n`);
    await until('app1 to take requests again', async () => {
      const bodies = new Set<string>();
      for (let i = 0; i < 4; i++) bodies.add((await httpGet(haproxy.port, '/', { host: 'example.com' })).body);
      return bodies.has('app1');
    });
    expect(await ok(['describe', 'hi', NAME])).toMatch(/^ {4}app\s+app1\s+ready\s+-$/m);
  });
});
