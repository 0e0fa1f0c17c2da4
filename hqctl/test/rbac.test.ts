/**
 * RBAC through hqctl: roles and bindings, namespaced and cluster-wide, applied from manifests,
 * listed, described and deleted like any other resource.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, startServer, type ServerProcess } from '../../api-server/test/support/server.ts';
import { BASE, hqctl, repo } from './support.ts';

let server: ServerProcess;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
  server?.cleanup();
});

describe('hqctl and RBAC', () => {
  it('applies the example roles and bindings, cluster-wide ones without a namespace', async () => {
    const applied = await hqctl(server, ['apply', '-f', join(repo, 'manifests/rbac')]);
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    expect(applied.stdout).toBe(
      'rolebinding.haproxyhq.io/team-a-editors created\nclusterrolebinding.haproxyhq.io/sre-viewers created\nrole.haproxyhq.io/push-web created\nrolebinding.haproxyhq.io/agents-push-web created\n',
    );
    const again = await hqctl(server, ['apply', '-f', join(repo, 'manifests/rbac')]);
    expect(again.stdout.trim().split('\n').every((l) => l.endsWith(' unchanged'))).toBe(true);
    expect((await request(server, 'GET', `${BASE}/clusterrolebindings/sre-viewers`)).body.metadata.namespace).toBeUndefined();
    expect((await request(server, 'GET', `${BASE}/namespaces/team-a/rolebindings/team-a-editors`)).status).toBe(200);
  });

  it('lists the built-in roles, shows a binding, and deletes one', async () => {
    const roles = await hqctl(server, ['get', 'clusterroles']);
    expect(roles.code).toBe(0);
    for (const name of ['admin', 'editor', 'viewer']) expect(roles.stdout).toMatch(new RegExp(`^${name}\\s`, 'm'));
    const binding = await hqctl(server, ['get', 'clusterrolebinding', 'sre-viewers', '-o', 'yaml']);
    expect(binding.stdout).toMatch(/roleRef:\n\s+kind: ClusterRole\n\s+name: viewer/);
    const deleted = await hqctl(server, ['delete', 'clusterrolebinding', 'sre-viewers']);
    expect(deleted.code).toBe(0);
    expect(deleted.stdout).toMatch(/clusterrolebinding.haproxyhq.io "sre-viewers" deleted/);
    expect((await request(server, 'GET', `${BASE}/clusterrolebindings/sre-viewers`)).status).toBe(404);
  });
});
