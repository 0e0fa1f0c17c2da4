import { createServer, type Socket } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
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

it('a request the server never answers fails after requestTimeoutMs, naming the server, instead of holding the pass', async () => {
  const client = createClient({ server: url, token: 't', requestTimeoutMs: 300 });
  for (const call of [() => client.getInstance('edge-1'), () => client.patchInstanceStatus('edge-1', {}), () => client.renewLease('edge-1', 'h', 40, new Date())]) {
    const started = Date.now();
    await expect(call()).rejects.toThrow(`no answer from ${url} within 0.3 s`);
    expect(Date.now() - started).toBeLessThan(5_000);
  }
  expect(sockets.size).toBeGreaterThan(0);
});
