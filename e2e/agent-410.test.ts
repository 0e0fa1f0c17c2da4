/**
 * The agent after its watch's resourceVersion has left the store's history (a busy fleet writes
 * through a short history fast): one re-list, resuming from the list's revision, not a loop of
 * 410s; and it still applies what it is told afterwards.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { simpleConfig, startHAProxy, type HAProxyProcess } from '../agent/test/support/haproxy.ts';
import { configFixture, instanceFixture, ns } from '../api-server/test/support/fixtures.ts';
import { request, startServer, type ServerProcess } from '../api-server/test/support/server.ts';
import { until as poll } from '../api-server/test/support/until.ts';
import { spawnAgent } from './support/agent.ts';

const stateDir = mkdtempSync(join(tmpdir(), 'hq-agent-410-'));
let server: ServerProcess;
let haproxy: HAProxyProcess;
let agent: ChildProcess;
let log = '';

afterAll(async () => {
  agent?.kill('SIGKILL');
  await haproxy?.stop();
  await server?.stop();
  server?.cleanup();
  rmSync(stateDir, { recursive: true, force: true });
});

const until = <T>(what: string, fn: () => Promise<T | undefined | false>, ms = 30_000) => poll(what, fn, { ms, context: () => log.slice(-3000) });

it('re-lists once after a 410 and resumes from the current revision instead of looping', async () => {
  const args = ['--history-revisions', '100', '--compaction-interval', '0', '--controllers', 'false'];
  server = await startServer({ args });
  haproxy = await startHAProxy({ config: (ports) => simpleConfig(ports[0]!, 'v0') });
  agent = spawnAgent({
    kubeconfig: server.kubeconfig, name: 'edge-410', haproxy, stateDir,
    args: ['--coalesce-ms', '50', '--heartbeat-seconds', '30', '--resync-seconds', '30'],
    onOutput: (d) => (log += d),
  });
  await until('registered', async () => (await request(server, 'GET', `${ns('haproxyinstances')}/edge-410`)).status === 200);

  // The server restarts (the watch breaks) and 300 writes push the agent's resourceVersion out of
  // the 100-revision history before the agent reconnects.
  const dataDir = server.dataDir;
  const url = new URL(server.url);
  agent.kill('SIGSTOP'); // so it cannot reconnect before the history has moved on
  await server.stop();
  server = await startServer({ dataDir, args: [...args, '--listen', `127.0.0.1:${url.port}`] });
  for (let i = 0; i < 300; i++) {
    expect((await request(server, 'POST', ns('haproxyinstances'), instanceFixture({ metadata: { name: `filler-${i}`, labels: {} } }))).status).toBe(201);
  }
  agent.kill('SIGCONT');
  await until('the 410 handled', async () => /watch history expired/.test(log), 60_000);
  await new Promise((r) => setTimeout(r, 3_000));
  expect(log.match(/watch history expired/g)!.length).toBeLessThanOrEqual(2);

  // And it is live: a pinned revision is applied.
  expect((await request(server, 'POST', ns('haproxyconfigs'), configFixture({ spec: { config: simpleConfig(haproxy.port, 'v1'), instanceSelector: undefined } }))).status).toBe(201);
  expect((await request(server, 'PATCH', `${ns('haproxyinstances')}/edge-410`, { spec: { configRevision: 'web-1' } }, { 'content-type': 'application/merge-patch+json' })).status).toBe(200);
  await until('web-1 applied', async () => (await request(server, 'GET', `${ns('haproxyinstances')}/edge-410`)).body.status?.appliedRevision === 'web-1');
}, 120_000);
