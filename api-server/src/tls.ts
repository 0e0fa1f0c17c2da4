/**
 * HTTPS from the first start: the server creates its own CA and a serving certificate under
 * `$HQ_DATA_DIR/pki/` (or uses the files it is given). Clients pin the CA from the kubeconfig.
 * kubectl (client-go) never sends a bearer token over plain HTTP, so TLS is not optional.
 */
import { X509Certificate, generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import forge from 'node-forge';

export interface TlsMaterial {
  cert: string;
  key: string;
  /** The CA clients should trust (PEM). */
  ca: string;
}

export interface TlsOptions {
  certFile?: string;
  keyFile?: string;
  caFile?: string;
  /** Extra names and addresses the serving certificate must cover. */
  sans?: string[];
}

const DAY = 24 * 60 * 60 * 1000;

function newKeyPair(): { privatePem: string; publicPem: string } {
  // Native key generation (forge's pure-JS RSA generation takes seconds).
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

function sign(
  subject: string,
  publicPem: string,
  issuer: { cert?: forge.pki.Certificate; keyPem: string },
  days: number,
  extensions: object[],
  organizations: string[] = ['HAProxyHQ'],
): string {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicPem);
  // Positive 128-bit serial (leading 0x01 keeps the sign bit clear).
  cert.serialNumber = '01' + randomBytes(15).toString('hex');
  cert.validity.notBefore = new Date(Date.now() - 5 * 60 * 1000);
  cert.validity.notAfter = new Date(Date.now() + days * DAY);
  const attrs = [{ name: 'commonName', value: subject }, ...organizations.map((o) => ({ name: 'organizationName', value: o }))];
  cert.setSubject(attrs);
  cert.setIssuer(issuer.cert ? issuer.cert.subject.attributes : attrs);
  cert.setExtensions(extensions);
  cert.sign(forge.pki.privateKeyFromPem(issuer.keyPem) as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

function writeSecret(path: string, content: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode: 0o600 });
  renameSync(tmp, path);
}

/** Names the serving certificate covers by default. */
export function defaultSans(listenHost: string): string[] {
  const names = new Set(['localhost', '127.0.0.1', '::1', hostname()]);
  if (listenHost !== '0.0.0.0' && listenHost !== '::') names.add(listenHost);
  return [...names];
}

function covers(certPem: string, sans: string[]): boolean {
  const cert = new X509Certificate(certPem);
  if (Date.parse(cert.validTo) - Date.now() < 30 * DAY) return false;
  return sans.every((s) => (isIP(s) ? cert.checkIP(s) !== undefined : cert.checkHost(s) !== undefined));
}

/** Load the configured certificate, or create (once) a CA and a serving certificate in `dir`. */
export function ensureTls(dir: string, options: TlsOptions): TlsMaterial {
  if (options.certFile || options.keyFile) {
    if (!options.certFile || !options.keyFile) throw new Error('--tls-cert-file and --tls-key-file go together');
    const cert = readFileSync(options.certFile, 'utf8');
    return { cert, key: readFileSync(options.keyFile, 'utf8'), ca: options.caFile ? readFileSync(options.caFile, 'utf8') : cert };
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caCrt = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  const srvCrt = join(dir, 'server.crt');
  const srvKey = join(dir, 'server.key');
  if (!existsSync(caCrt) || !existsSync(caKey)) {
    const pair = newKeyPair();
    const pem = sign('HAProxyHQ CA', pair.publicPem, { keyPem: pair.privatePem }, 3650, [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
      { name: 'subjectKeyIdentifier' },
    ]);
    writeSecret(caKey, pair.privatePem);
    writeFileSync(caCrt, pem);
  }
  const ca = readFileSync(caCrt, 'utf8');
  const sans = options.sans ?? [];
  if (!existsSync(srvCrt) || !existsSync(srvKey) || !covers(readFileSync(srvCrt, 'utf8'), sans)) {
    const pair = newKeyPair();
    const pem = sign('haproxyhq-api-server', pair.publicPem, { cert: forge.pki.certificateFromPem(ca), keyPem: readFileSync(caKey, 'utf8') }, 365, [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: sans.map((s) => (isIP(s) ? { type: 7, ip: s } : { type: 2, value: s })) },
    ]);
    writeSecret(srvKey, pair.privatePem);
    writeFileSync(srvCrt, pem);
  }
  return { cert: readFileSync(srvCrt, 'utf8'), key: readFileSync(srvKey, 'utf8'), ca };
}

/**
 * A client certificate signed by the server's own CA (in `dir`, as ensureTls made it), for
 * mutual TLS: CN is the user name and each O a group, as Kubernetes reads client certificates.
 * An agent's is CN=system:agent:NAMESPACE:NAME, O=system:agents.
 */
export function issueClientCertificate(dir: string, subject: { commonName: string; groups: string[] }, days = 365): { cert: string; key: string } {
  const caCrt = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  if (!existsSync(caKey)) throw new Error(`${caKey} does not exist: client certificates can only be issued by the server's own CA`);
  const pair = newKeyPair();
  const cert = sign(subject.commonName, pair.publicPem, { cert: forge.pki.certificateFromPem(readFileSync(caCrt, 'utf8')), keyPem: readFileSync(caKey, 'utf8') }, days, [
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', clientAuth: true },
  ], subject.groups);
  return { cert, key: pair.privatePem };
}
