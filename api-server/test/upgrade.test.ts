/**
 * The upgrade path: today's server started on a store written before users, roles and agent
 * enrollment (test/fixtures/store-before-rbac, made at commit 85e4bf2). It starts; the objects are
 * there; the old admin token (a token record of the first format: no id, no kind, no expiry)
 * still lists and creates; it is listed by an id derived from its hash, can be revoked through the
 * tokens API like any other, and stays revoked across a restart.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, startServer, type ServerProcess } from './support/server.ts';

const fixture = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'store-before-rbac');
const oldToken = readFileSync(join(fixture, 'admin-token'), 'utf8').trim();
const B = '/apis/haproxyhq.io/v1alpha1';
const NS = `${B}/namespaces/default`;
let server: ServerProcess;
const dataDir = mkdtempSync(join(tmpdir(), 'hq-upgrade-'));

/** The server, with `token` instead of the one in its own kubeconfig. */
const as = (token: string) => ({ ...server, token });

beforeAll(async () => {
  copyFileSync(join(fixture, 'store.db'), join(dataDir, 'store.db'));
  server = await startServer({ dataDir, args: ['--controllers', 'false'] });
});
afterAll(async () => {
  await server?.stop();
  server?.cleanup();
});

describe('a server started on a store from before issue 6', () => {
  it("keeps the old objects, and the old admin token lists and creates", async () => {
    expect(oldToken).toMatch(/^hq_/);
    expect(oldToken).not.toBe(server.token);
    const instances = await request(as(oldToken), 'GET', `${NS}/haproxyinstances`);
    expect(instances.status, instances.text).toBe(200);
    expect(instances.body.items.map((i: any) => i.metadata.name).sort()).toEqual(['edge-1', 'edge-2']);
    const configs = await request(as(oldToken), 'GET', `${NS}/haproxyconfigs`);
    expect(configs.body.items.map((c: any) => c.metadata.name)).toEqual(['web']);
    expect((await request(as(oldToken), 'GET', `${NS}/configrevisions`)).body.items.length).toBeGreaterThan(0);
    const created = await request(as(oldToken), 'POST', `${NS}/haproxyinstances`, { metadata: { name: 'edge-3' }, spec: {} });
    expect(created.status, created.text).toBe(201);
    // And the new kinds work for it: it is in system:masters.
    expect((await request(as(oldToken), 'GET', `${B}/clusterroles`)).status).toBe(200);
  });

  it('lists the old token by an id from its hash, and revokes it by that id: 401 from then on, after a restart too', async () => {
    // A new admin token, made with the old one, to do the revoking.
    const made = await request(as(oldToken), 'POST', `${B}/tokens`, { user: { name: 'admin', groups: ['system:masters'] }, description: 'replaces the pre-upgrade admin token' });
    expect(made.status, made.text).toBe(201);
    const fresh: string = made.body.token;

    const list = await request(as(fresh), 'GET', `${B}/tokens`);
    expect(list.status).toBe(200);
    const oldId = createHash('sha256').update(oldToken).digest('hex').slice(0, 12);
    const old = list.body.items.find((t: any) => t.metadata.name === oldId);
    expect(old).toMatchObject({ type: 'user', user: { name: 'admin', groups: ['system:masters'] } });
    expect(old.expirationTimestamp).toBeUndefined();
    expect(list.text).not.toContain(oldToken);

    const revoked = await request(as(fresh), 'DELETE', `${B}/tokens/${oldId}`);
    expect(revoked.status, revoked.text).toBe(200);
    const deadline = Date.now() + 2000;
    while ((await request(as(oldToken), 'GET', `${NS}/haproxyinstances`)).status !== 401) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect((await request(as(fresh), 'GET', `${NS}/haproxyinstances`)).status).toBe(200);
    expect((await request(as(fresh), 'GET', `${B}/tokens`)).body.items.map((t: any) => t.metadata.name)).not.toContain(oldId);

    await server.stop();
    server = await startServer({ dataDir, args: ['--controllers', 'false'] });
    expect((await request(as(oldToken), 'GET', `${NS}/haproxyinstances`)).status).toBe(401);
    expect((await request(as(fresh), 'GET', `${NS}/haproxyinstances`)).body.items.map((i: any) => i.metadata.name).sort()).toEqual(['edge-1', 'edge-2', 'edge-3']);
    // The server's own kubeconfig token (made at the upgrade's first start) is unchanged and works.
    expect((await request(server, 'GET', `${NS}/haproxyinstances`)).status).toBe(200);
  });
});
