/** Writes the console makes to an HAProxyInstance. */
import type { HAProxyInstance } from '@haproxyhq/schemas';
import { ApiError, api, objectPath } from './client.ts';
import { withServerChange, type ServerChange } from '../lib/servers.ts';

const CONFLICT_RETRIES = 3;

/**
 * Declare a server's state or weight: read the instance, change its spec.servers, and write it
 * back conditioned on the resourceVersion read (a merge patch carrying it), re-reading on a
 * conflict so a concurrent controller or agent write is never overwritten.
 */
export async function setServer(namespace: string, name: string, backend: string, server: string, change: ServerChange): Promise<HAProxyInstance> {
  const path = objectPath('haproxyinstances', namespace, name);
  for (let attempt = 0; ; attempt++) {
    const current = await api<HAProxyInstance>(path);
    const servers = withServerChange(current.spec?.servers ?? [], backend, server, change);
    try {
      return await api<HAProxyInstance>(path, {
        method: 'PATCH',
        body: { metadata: { resourceVersion: current.metadata.resourceVersion }, spec: { servers } },
      });
    } catch (err) {
      if (!(err instanceof ApiError) || err.code !== 409 || attempt >= CONFLICT_RETRIES) throw err;
    }
  }
}
