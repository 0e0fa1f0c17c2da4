/**
 * Enrollment: trade a join token for this agent's own credential, and keep it in a
 * kubeconfig-style file (mode 0600, written atomically) that client-node reads like any other.
 * The POST goes through node:https: no credential exists yet, so there is nothing for
 * client-node's KubeConfig to authenticate with (the server's CA is given by the operator).
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { EnrollmentSchema, type Enrollment } from '@haproxyhq/schemas';
import { requestJson, statusError } from './client.ts';

/** Where an agent keeps the credential enrollment gave it. */
export const stateKubeconfigPath = (stateDir: string) => join(stateDir, 'kubeconfig');

export interface EnrollOptions {
  server: string;
  /** PEM of the CA to trust for the server (from --certificate-authority). */
  ca?: string;
  token: string;
  instance: string;
  timeoutMs?: number;
}

/** POST /enroll: the credential, or an ApiError with the server's message (401/403/429), or a transport error. */
export async function enroll(o: EnrollOptions): Promise<Enrollment> {
  const url = new URL('/enroll', o.server);
  const res = await requestJson(url, { method: 'POST', ...(o.ca ? { ca: o.ca } : {}) }, JSON.stringify({ token: o.token, instance: o.instance }), o.timeoutMs);
  if (res.status !== 200) throw statusError(res.status, res.body);
  if (!Value.Check(EnrollmentSchema, res.body)) {
    const first = Value.Errors(EnrollmentSchema, res.body).First();
    throw new Error(`the server sent an invalid Enrollment: ${first ? `${first.path}: ${first.message}` : 'schema mismatch'}`);
  }
  return res.body;
}

/** A kubeconfig (JSON, which is YAML too) for an enrolled agent: server, CA, its token and namespace. */
export function kubeconfigFor(server: string, e: Pick<Enrollment, 'namespace' | 'token' | 'instance'>, ca: string | undefined): string {
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'haproxyhq', cluster: { server, ...(ca ? { 'certificate-authority-data': Buffer.from(ca).toString('base64') } : {}) } }],
    users: [{ name: `agent-${e.instance}`, user: { token: e.token } }],
    contexts: [{ name: 'haproxyhq', context: { cluster: 'haproxyhq', user: `agent-${e.instance}`, namespace: e.namespace } }],
    'current-context': 'haproxyhq',
  };
  return JSON.stringify(doc, null, 2) + '\n';
}

/** Write a file holding a secret: mode 0600, fsynced, renamed into place (never half-written). */
export function writeSecretFile(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  // The directory entry too, so a crash right after cannot lose the rename.
  try {
    const dir = openSync(dirname(path), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch {
    // Not every filesystem lets a directory be opened for fsync.
  }
}

/** Whether a kubeconfig file exists and holds a bearer token (an agent that enrolled already). */
export function hasCredential(path: string): boolean {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return false;
  }
  try {
    const doc = JSON.parse(text) as { users?: { user?: { token?: unknown } }[] };
    return (doc.users ?? []).some((u) => typeof u.user?.token === 'string' && u.user.token !== '');
  } catch {
    // Not JSON (written by hand in YAML): a token line is enough to say it has one.
    return /^\s*token:\s*\S+/m.test(text);
  }
}
