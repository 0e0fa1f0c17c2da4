/** Small builders for test objects (not copied literals). */
import { API_VERSION } from '@haproxyhq/schemas';

type Meta = { name?: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };

export function instanceFixture(opts: { metadata?: Meta; spec?: Record<string, unknown>; status?: unknown } = {}) {
  return {
    apiVersion: API_VERSION,
    kind: 'HAProxyInstance',
    metadata: { name: 'edge-1', labels: { role: 'edge' }, ...opts.metadata },
    spec: { paused: false, ...opts.spec },
    ...(opts.status !== undefined ? { status: opts.status } : {}),
  };
}

export const MINIMAL_CFG = `global
    maxconn 100

defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend fe
    bind 127.0.0.1:18081
    default_backend be

backend be
    server s1 127.0.0.1:19001
`;

export function configFixture(opts: { metadata?: Meta; spec?: Record<string, unknown> } = {}) {
  return {
    apiVersion: API_VERSION,
    kind: 'HAProxyConfig',
    metadata: { name: 'web', ...opts.metadata },
    spec: { config: MINIMAL_CFG, instanceSelector: { matchLabels: { role: 'edge' } }, ...opts.spec },
  };
}

export const BASE = `/apis/haproxyhq.io/v1alpha1`;
export const ns = (plural: string, namespace = 'default') => `${BASE}/namespaces/${namespace}/${plural}`;
