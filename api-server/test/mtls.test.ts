/**
 * Mutual TLS, on a real server process: client certificates signed by the server's CA
 * authenticate (CN the user, O the groups); an agent's certificate is confined to its instance
 * like an enrolled agent's token; a certificate from another CA, or none, is 401; bearer tokens
 * keep working beside certificates.
 */
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import forge from 'node-forge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueClientCertificate } from '../src/tls.ts';
import { request, startServer, type ServerProcess } from './support/server.ts';
import { instanceFixture } from './support/fixtures.ts';

const NS = '/apis/haproxyhq.io/v1alpha1/namespaces/default';
let server: ServerProcess;

beforeAll(async () => {
  server = await startServer({ args: ['--client-ca-file', 'self'] });
  for (const name of ['edge-1', 'edge-2']) {
    expect((await request(server, 'POST', `${NS}/haproxyinstances`, instanceFixture({ metadata: { name } }))).status).toBe(201);
  }
});
afterAll(async () => {
  await server?.stop();
  server?.cleanup();
});

function call(method: string, path: string, cert?: { cert: string; key: string }, body?: unknown): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = httpsRequest(server.url + path, {
      method,
      ca: server.ca,
      ...(cert ? { cert: cert.cert, key: cert.key } : {}),
      headers: payload ? { 'content-type': method === 'PATCH' ? 'application/merge-patch+json' : 'application/json' } : {},
      agent: false,
    }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** A certificate from a CA the server does not know. */
function foreignCertificate(cn: string, org: string): { cert: string; key: string } {
  const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const key = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const c = forge.pki.createCertificate();
  c.publicKey = forge.pki.publicKeyFromPem(keys.publicKey.export({ type: 'spki', format: 'pem' }).toString());
  c.serialNumber = '01';
  c.validity.notBefore = new Date(Date.now() - 60_000);
  c.validity.notAfter = new Date(Date.now() + 86_400_000);
  const attrs = [{ name: 'commonName', value: cn }, { name: 'organizationName', value: org }];
  c.setSubject(attrs);
  c.setIssuer(attrs);
  c.sign(forge.pki.privateKeyFromPem(key) as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(c), key };
}

describe('mutual TLS', () => {
  it("authenticates an agent's certificate and confines it to its own instance", async () => {
    const agent = issueClientCertificate(join(server.dataDir, 'pki'), { commonName: 'system:agent:default:edge-1', groups: ['system:agents'] });
    expect((await call('GET', `${NS}/haproxyinstances/edge-1`, agent)).status).toBe(200);
    expect((await call('PATCH', `${NS}/haproxyinstances/edge-1/status`, agent, { status: { heartbeatTime: new Date().toISOString() } })).status).toBe(200);
    const other = await call('GET', `${NS}/haproxyinstances/edge-2`, agent);
    expect(other.status).toBe(403);
    expect(other.body.message).toMatch(/User "system:agent:default:edge-1" cannot get resource "haproxyinstances"/);
    expect((await call('PATCH', `${NS}/haproxyinstances/edge-2/status`, agent, { status: {} })).status).toBe(403);
  });

  it('reads groups from O: a system:masters certificate may do anything, a plain user nothing unbound', async () => {
    const admin = issueClientCertificate(join(server.dataDir, 'pki'), { commonName: 'ops-admin', groups: ['system:masters'] });
    expect((await call('GET', `${NS}/haproxyconfigs`, admin)).status).toBe(200);
    const plain = issueClientCertificate(join(server.dataDir, 'pki'), { commonName: 'mallory', groups: ['system:agents'] });
    // Not an agent's CN: the agents group alone grants nothing.
    expect((await call('GET', `${NS}/haproxyinstances/edge-1`, plain)).status).toBe(403);
  });

  it('refuses a certificate from another CA, and no certificate, with 401; tokens still work', async () => {
    const forged = foreignCertificate('system:agent:default:edge-1', 'system:agents');
    expect((await call('GET', `${NS}/haproxyinstances/edge-1`, forged)).status).toBe(401);
    expect((await call('GET', `${NS}/haproxyinstances/edge-1`)).status).toBe(401);
    expect((await request(server, 'GET', `${NS}/haproxyinstances/edge-1`)).status).toBe(200);
  });
});
