/**
 * --tls-groups, on real server processes: the default negotiates the hybrid post-quantum
 * X25519MLKEM768 with a client that offers it (Node 24 does), and a server told X25519:P-256
 * negotiates X25519 with the same client and still answers requests.
 */
import { connect } from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { request, startServer, type ServerProcess } from './support/server.ts';

const servers: ServerProcess[] = [];
afterAll(async () => {
  for (const s of servers) {
    await s.stop();
    s.cleanup();
  }
});

/** The key-exchange group a default Node client and the server agree on. */
async function negotiated(server: ServerProcess): Promise<string | undefined> {
  const url = new URL(server.url);
  const socket = connect({ host: url.hostname, port: Number(url.port), ca: server.ca, servername: 'localhost' });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    return (socket.getEphemeralKeyInfo() as { name?: string } | null)?.name;
  } finally {
    socket.destroy();
  }
}

describe('--tls-groups', () => {
  it('defaults to OpenSSL groups (X25519MLKEM768 first); X25519:P-256 leaves out the ML-KEM key share', async () => {
    const plain = await startServer();
    servers.push(plain);
    expect(await negotiated(plain)).toBe('X25519MLKEM768');

    const classic = await startServer({ args: ['--tls-groups', 'X25519:P-256'] });
    servers.push(classic);
    expect(await negotiated(classic)).toBe('X25519');
    expect((await request(classic, 'GET', '/apis/haproxyhq.io/v1alpha1/namespaces/default/haproxyinstances')).status).toBe(200);
  });
});
