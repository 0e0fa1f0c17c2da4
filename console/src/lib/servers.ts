/**
 * Server actions as declarations: drain, maint, ready and weight are written to the instance's
 * spec.servers (the agent holds them through the runtime API and re-asserts them after reloads),
 * never sent to HAProxy directly. The same rule hqctl's drain/maint/ready/weight follow.
 */
import type { HAProxyInstanceSpec } from '@haproxyhq/schemas';

export type ServerState = NonNullable<HAProxyInstanceSpec['servers']>[number];
export type ServerChange = { state: 'ready' | 'drain' | 'maint' } | { weight: number };

/** spec.servers with `change` applied to backend/server: its entry updated, or one appended. */
export function withServerChange(servers: readonly ServerState[], backend: string, server: string, change: ServerChange): ServerState[] {
  const out = servers.map((s) => ({ ...s }));
  const hit = out.find((s) => s.backend === backend && s.server === server);
  if (hit) Object.assign(hit, change);
  else out.push({ backend, server, ...change });
  return out;
}

/** What the declaration says for one server, if anything. */
export function declaredFor(servers: readonly ServerState[] | undefined, backend: string, server: string): ServerState | undefined {
  return servers?.find((s) => s.backend === backend && s.server === server);
}

/** A person-readable sentence for the confirmation dialog. */
export function describeChange(change: ServerChange, backend: string, server: string, instance: string): string {
  if ('weight' in change) return `Set the weight of ${backend}/${server} on ${instance} to ${change.weight}.`;
  switch (change.state) {
    case 'drain':
      return `Drain ${backend}/${server} on ${instance}: its sessions finish, new ones go to other servers (persistent ones still arrive).`;
    case 'maint':
      return `Put ${backend}/${server} on ${instance} in maintenance: it takes no traffic and its health checks stop.`;
    case 'ready':
      return `Make ${backend}/${server} on ${instance} ready: it takes traffic again.`;
  }
}
