/** Writes the console makes to an HAProxyConfig: save a new text, roll back, pause. */
import type { ConfigRevision, HAProxyConfig } from '@haproxyhq/schemas';
import { ApiError, api, objectPath } from './client.ts';

/**
 * Save new config text as the next revision, conditioned on the resourceVersion the edit started
 * from: if someone else saved meanwhile, the server answers 409 and nothing is overwritten.
 */
export function saveConfigText(namespace: string, name: string, baseResourceVersion: string, config: string): Promise<HAProxyConfig> {
  return api<HAProxyConfig>(objectPath('haproxyconfigs', namespace, name), {
    method: 'PATCH',
    body: { metadata: { resourceVersion: baseResourceVersion }, spec: { config } },
  });
}

/**
 * Roll back: the config's text, files and template flag become the revision's (a new revision
 * with the old content, as `hqctl rollout undo` and `kubectl rollout undo` do); selector,
 * strategy and pause stay as they are. Retries a lost race by re-reading.
 */
export async function rollBack(namespace: string, name: string, rev: ConfigRevision): Promise<HAProxyConfig> {
  const path = objectPath('haproxyconfigs', namespace, name);
  for (let attempt = 0; ; attempt++) {
    const current = await api<HAProxyConfig>(path);
    const snap = rev.spec.config;
    const spec: HAProxyConfig['spec'] = { ...current.spec, config: snap.config };
    delete spec.files;
    delete spec.template;
    if (snap.files !== undefined) spec.files = snap.files;
    if (snap.template !== undefined) spec.template = snap.template;
    try {
      return await api<HAProxyConfig>(path, { method: 'PUT', body: { ...current, status: undefined, spec } });
    } catch (err) {
      if (!(err instanceof ApiError) || err.code !== 409 || attempt >= 3) throw err;
    }
  }
}

export function setPaused(namespace: string, name: string, paused: boolean): Promise<HAProxyConfig> {
  return api<HAProxyConfig>(objectPath('haproxyconfigs', namespace, name), { method: 'PATCH', body: { spec: { paused } } });
}
