/**
 * The README's run command, for real: `make run` from the repo serves the API on the embedded
 * store, over HTTPS, with the kubeconfig it writes.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { readOwnKubeconfig } from '../api-server/src/kubeconfig.ts';
import { request } from '../api-server/test/support/server.ts';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

it('make run serves the API on the embedded store with a kubeconfig for kubectl', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'hq-make-run-'));
  const port = await freePort();
  // make runs npm from PATH; the pinned Node comes from node_modules/.bin inside npm scripts.
  // `-o` the install stamp: the test run already has node_modules, and a package.json edited
  // during development must not make this test `npm ci` under the other tests' feet.
  const child = spawn('make', ['--no-print-directory', '-o', 'node_modules/.package-lock.json', 'run'], {
    cwd: repo,
    env: { ...process.env, HQ_LISTEN: `127.0.0.1:${port}`, HQ_DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  try {
    const deadline = Date.now() + 60_000;
    while (!out.includes('HAProxyHQ API server listening on')) {
      if (child.exitCode !== null) throw new Error(`make run exited with ${child.exitCode}:\n${out}`);
      if (Date.now() > deadline) throw new Error(`make run did not start within 60 s:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const kc = readOwnKubeconfig(join(dataDir, 'kubeconfig'));
    expect(kc?.server).toBe(`https://127.0.0.1:${port}`);
    const server = { url: kc!.server, token: kc!.token, ca: kc!.ca };
    const version = await request(server, 'GET', '/version');
    expect(version.body).toMatchObject({ storage: 'embedded', nodeVersion: expect.stringMatching(/^v24\./) });
    const list = await request(server, 'GET', '/apis/haproxyhq.io/v1alpha1/namespaces/default/haproxyinstances');
    expect(list.body.kind).toBe('HAProxyInstanceList');
  } finally {
    // make -> npm -> node: signal the whole process group.
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      // already gone
    }
    await new Promise((r) => child.once('exit', r));
    rmSync(dataDir, { recursive: true, force: true });
  }
});
