/**
 * The kubeconfig-style file written at first start: server URL and admin token, readable by
 * kubectl, hqctl and hq-agent. Mode 0600: it holds a secret.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dump, load } from 'js-yaml';

export interface KubeconfigInfo {
  server: string;
  /** PEM of the CA that signed the server's certificate. */
  ca: string;
  token: string;
  namespace: string;
}

export function kubeconfigPath(dataDir: string): string {
  return join(dataDir, 'kubeconfig');
}

/** The token in an existing kubeconfig we wrote, or undefined. */
export function readOwnKubeconfig(path: string): KubeconfigInfo | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const doc = load(text) as { clusters?: { cluster?: { server?: unknown; 'certificate-authority-data'?: unknown } }[]; users?: { user?: { token?: unknown } }[]; contexts?: { context?: { namespace?: unknown } }[] } | undefined;
  const token = doc?.users?.[0]?.user?.token;
  const server = doc?.clusters?.[0]?.cluster?.server;
  const namespace = doc?.contexts?.[0]?.context?.namespace;
  const caData = doc?.clusters?.[0]?.cluster?.['certificate-authority-data'];
  if (typeof token !== 'string' || typeof server !== 'string') return undefined;
  const ca = typeof caData === 'string' ? Buffer.from(caData, 'base64').toString('utf8') : '';
  return { token, server, ca, namespace: typeof namespace === 'string' ? namespace : 'default' };
}

/** Write atomically with mode 0600. */
export function writeKubeconfig(path: string, info: KubeconfigInfo): void {
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      { name: 'haproxyhq', cluster: { server: info.server, 'certificate-authority-data': Buffer.from(info.ca).toString('base64') } },
    ],
    users: [{ name: 'haproxyhq-admin', user: { token: info.token } }],
    contexts: [{ name: 'haproxyhq', context: { cluster: 'haproxyhq', user: 'haproxyhq-admin', namespace: info.namespace } }],
    'current-context': 'haproxyhq',
  };
  mkdirSync(join(path, '..'), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, dump(doc), { mode: 0o600 });
  renameSync(tmp, path);
}
