import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ensureTls } from '../../api-server/src/tls.ts';
import { createClient } from './client.ts';

// A server that accepts connections and never answers, not even the TLS handshake (its host gone,
// packets dropped): the one fault a closed port or a stopped server cannot stand in for, since
// those fail at once.
const sockets = new Set<Socket>();
const silent = createServer((s) => {
  sockets.add(s);
  s.on('close', () => sockets.delete(s));
});
let url = '';
beforeAll(async () => {
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  url = `https://127.0.0.1:${(silent.address() as { port: number }).port}`;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => silent.close(r));
});

it('every request the server never answers fails after requestTimeoutMs, naming the server, instead of holding the pass', async () => {
  const client = createClient({ server: url, token: 't', requestTimeoutMs: 300 });
  const instance = { apiVersion: 'haproxyhq.io/v1alpha1', kind: 'HAProxyInstance', metadata: { name: 'edge-1' }, spec: {} } as Parameters<typeof client.createInstance>[0];
  const event = { metadata: { name: 'edge-1.1' }, involvedObject: { kind: 'HAProxyInstance', name: 'edge-1' }, type: 'Normal', reason: 'Applied' } as Parameters<typeof client.createEvent>[0];
  const calls: Record<string, () => Promise<unknown>> = {
    getInstance: () => client.getInstance('edge-1'),
    listInstance: () => client.listInstance('edge-1'),
    createInstance: () => client.createInstance(instance),
    patchInstance: () => client.patchInstance('edge-1', { metadata: { labels: { a: 'b' } } }),
    patchInstanceStatus: () => client.patchInstanceStatus('edge-1', {}),
    getRevision: () => client.getRevision('web-1'),
    getConfig: () => client.getConfig('web'),
    patchConfig: () => client.patchConfig('web', { spec: {} }),
    createEvent: () => client.createEvent(event),
    renewLease: () => client.renewLease('edge-1', 'h', 40, new Date()),
    rotateCredentials: () => client.rotateCredentials('edge-1'),
  };
  // Every call the client has, so that a new one cannot go without the limit unnoticed; the
  // watch has its own (watchSilenceMs, below) and kubeconfigWithToken sends nothing.
  const methods = Object.entries(client).filter(([k, v]) => typeof v === 'function' && k !== 'watchInstance' && k !== 'kubeconfigWithToken').map(([k]) => k);
  expect(Object.keys(calls).sort()).toEqual(methods.sort());
  for (const [name, call] of Object.entries(calls)) {
    const started = Date.now();
    await expect(call(), name).rejects.toThrow(`no answer from ${url} within 0.3 s`);
    expect(Date.now() - started, name).toBeLessThan(5_000);
  }
  expect(sockets.size).toBeGreaterThan(0);
});

// A watch the server accepted and then never wrote to again: what a dropped connection looks like
// from the agent's side, since no FIN or RST arrives. `every` > 0: a BOOKMARK every that many ms.
async function watchServer(every: number) {
  const dir = mkdtempSync(join(tmpdir(), 'hq-watch-'));
  const tls = ensureTls(dir, { sans: ['127.0.0.1'] });
  const caFile = join(dir, 'trust.crt');
  writeFileSync(caFile, tls.ca);
  const open = new Set<ServerResponse>();
  const server = createHttpsServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.flushHeaders();
    open.add(res);
    if (every > 0) {
      const timer = setInterval(() => res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { kind: 'HAProxyInstance', apiVersion: 'haproxyhq.io/v1alpha1', metadata: { resourceVersion: '7' } } })}\n`), every);
      res.on('close', () => clearInterval(timer));
    }
    res.on('close', () => open.delete(res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    url,
    caFile,
    open,
    close: async () => {
      for (const r of open) r.destroy();
      await new Promise((r) => server.close(r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

it('a watch that hears nothing for watchSilenceMs ends with an error naming the server, and closes its connection', async () => {
  const srv = await watchServer(0);
  try {
    const client = createClient({ server: srv.url, token: 't', certificateAuthority: srv.caFile, watchSilenceMs: 300 });
    const started = Date.now();
    const done = new Promise<Error | undefined>((resolve) => void client.watchInstance('edge-1', '5', { onEvent: () => undefined, onDone: resolve }));
    const err = await done;
    expect(err?.message).toBe(`no event or bookmark from ${srv.url} in 0.3 s: the connection is taken for dead`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    await expect.poll(() => srv.open.size).toBe(0);
  } finally {
    await srv.close();
  }
});

it('bookmarks keep a quiet watch alive past watchSilenceMs', async () => {
  const srv = await watchServer(100);
  try {
    const client = createClient({ server: srv.url, token: 't', certificateAuthority: srv.caFile, watchSilenceMs: 400 });
    const seen: string[] = [];
    let ended: Error | undefined | 'open' = 'open';
    const stop = await client.watchInstance('edge-1', '5', { onEvent: (type, _obj, rv) => seen.push(`${type} ${rv}`), onDone: (err) => (ended = err) });
    await new Promise((r) => setTimeout(r, 1_200));
    expect(ended).toBe('open');
    expect(seen.length).toBeGreaterThanOrEqual(5);
    expect(seen[0]).toBe('BOOKMARK 7');
    stop();
  } finally {
    await srv.close();
  }
});
