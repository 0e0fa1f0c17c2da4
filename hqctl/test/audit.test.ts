/**
 * hqctl audit against a real API server (controllers off, so the log holds exactly what the test
 * does): the table, filters, -o json, --limit, a refused request's row, and -w printing a write
 * as it happens.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, startServer, type ServerProcess } from '../../api-server/test/support/server.ts';
import { BASE, hqctl, lines, start } from './support.ts';

let server: ServerProcess;
const inst = (namespace: string) => `${BASE}/namespaces/${namespace}/haproxyinstances`;

beforeAll(async () => {
  server = await startServer({ args: ['--controllers', 'false'] });
  for (const [namespace, name] of [['default', 'edge-1'], ['prod', 'p-1']] as const) {
    const r = await request(server, 'POST', inst(namespace), { metadata: { name }, spec: {} });
    expect(r.status).toBe(201);
  }
  const patched = await request(server, 'PATCH', `${inst('default')}/edge-1`, { spec: { paused: true } }, { 'content-type': 'application/merge-patch+json' });
  expect(patched.status).toBe(200);
  const refused = await request(server, 'DELETE', `${inst('default')}/edge-1`, undefined, { authorization: 'Bearer hq_not-the-token-of-anyone' });
  expect(refused.status).toBe(401);
});

afterAll(async () => {
  await server?.stop();
  server?.cleanup();
});

describe('hqctl audit', () => {
  it('prints the newest records oldest first, with versions before and after, codes and sources', async () => {
    const r = await hqctl(server, ['audit']);
    expect(r.code, r.stderr).toBe(0);
    const rows = lines(r.stdout);
    expect(rows[0]).toMatch(/^TIME\s+USER\s+VERB\s+RESOURCE\s+NAMESPACE\s+NAME\s+RV\s+CODE\s+SOURCE$/);
    const mine = rows.slice(1).filter((l) => /haproxyinstances/.test(l));
    expect(mine).toHaveLength(4);
    expect(mine[0]).toMatch(/^\S+Z\s+admin\s+create\s+haproxyinstances\s+default\s+edge-1\s+-→\d+\s+201\s+127\.0\.0\.1$/);
    expect(mine[1]).toMatch(/\s+create\s+haproxyinstances\s+prod\s+p-1\s+/);
    expect(mine[2]).toMatch(/\s+patch\s+haproxyinstances\s+default\s+edge-1\s+(\d+)→(\d+)\s+200\s+/);
    expect(mine[3]).toMatch(/system:unauthenticated\s+delete\s+haproxyinstances\s+default\s+edge-1\s+-\s+401 Unauthorized\s+127\.0\.0\.1$/);
    expect(r.stdout).not.toContain(server.token);
  });

  it('filters by namespace, resource alias, user and verb, and keeps the newest --limit records', async () => {
    const prod = await hqctl(server, ['audit', '-n', 'prod', '--resource', 'hi']);
    expect(lines(prod.stdout).slice(1).map((l) => l.split(/\s+/)[5])).toEqual(['p-1']);
    const patches = await hqctl(server, ['audit', '--user', 'admin', '--verb', 'patch']);
    expect(lines(patches.stdout)).toHaveLength(2);
    const last = await hqctl(server, ['audit', '--limit', '1']);
    expect(lines(last.stdout)).toHaveLength(2);
    expect(lines(last.stdout)[1]).toContain('401 Unauthorized');
    const none = await hqctl(server, ['audit', '--user', 'nobody']);
    expect(none.code).toBe(0);
    expect(none.stderr).toBe('No audit records found.\n');
  });

  it('prints AuditEvents with -o json, and says what is wrong with bad flags', async () => {
    const r = await hqctl(server, ['audit', '--resource', 'haproxyinstances', '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const list = JSON.parse(r.stdout);
    expect(list.kind).toBe('List');
    expect(list.items.map((e: any) => `${e.kind} ${e.verb} ${e.code}`)).toEqual(['AuditEvent create 201', 'AuditEvent create 201', 'AuditEvent patch 200', 'AuditEvent delete 401']);
    const bad = await hqctl(server, ['audit', '--verb', 'get']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('expected one of create, update, patch, delete, deletecollection');
  });

  it('-w prints new records as they are written', async () => {
    const w = start(server, ['audit', '-w', '--interval', '100ms', '--resource', 'hi']);
    try {
      await w.waitFor(/401 Unauthorized/, 'the existing records');
      const r = await request(server, 'POST', inst('default'), { metadata: { name: 'edge-9' }, spec: {} });
      expect(r.status).toBe(201);
      await w.waitFor(/create\s+haproxyinstances\s+default\s+edge-9/, 'the new record');
      expect(w.stdout().match(/edge-9/g)).toHaveLength(1);
    } finally {
      expect(await w.stop()).toBe(0);
    }
  });
});
