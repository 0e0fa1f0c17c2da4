import type { AuditEvent } from '@haproxyhq/schemas';
import { describe, expect, it } from 'vitest';
import type { Context } from '../command.ts';
import { auditQuery, auditRow } from './audit.ts';

const event = (over: Partial<AuditEvent>): AuditEvent => ({
  apiVersion: 'haproxyhq.io/v1alpha1',
  kind: 'AuditEvent',
  metadata: { name: '1795487566919-c2389c1f-000000.0' },
  time: '2026-11-24T02:32:46.919Z',
  verb: 'update',
  user: { name: 'alice', groups: [] },
  sourceIP: '10.0.0.7',
  resource: 'haproxyinstances',
  namespace: 'prod',
  name: 'edge-1',
  resourceVersionBefore: '12',
  resourceVersionAfter: '15',
  code: 200,
  ...over,
});

function ctx(flags: Record<string, string | boolean>, namespace?: string, positionals: string[] = []): Context {
  return {
    positionals,
    flags,
    out: () => {},
    err: () => {},
    client: () => {
      throw new Error('no client in unit tests');
    },
    namespace: () => namespace ?? 'default',
    explicitNamespace: namespace !== undefined,
    stdin: () => '',
    interrupted: new Promise(() => {}),
  };
}

describe('hqctl audit rows', () => {
  it('prints time to the second, versions before→after, and code with the reason of a failure', () => {
    expect(auditRow(event({}), false)).toEqual(['2026-11-24T02:32:46Z', 'alice', 'update', 'haproxyinstances', 'prod', 'edge-1', '12→15', '200', '10.0.0.7']);
    const created = event({ verb: 'create', resourceVersionBefore: undefined, subresource: 'status', code: 201 });
    expect(auditRow(created, false).slice(2, 8)).toEqual(['create', 'haproxyinstances/status', 'prod', 'edge-1', '-→15', '201']);
    const refused = event({ user: { name: 'system:unauthenticated', groups: [] }, name: undefined, resourceVersionBefore: undefined, resourceVersionAfter: undefined, code: 401, reason: 'Unauthorized' });
    expect(auditRow(refused, false).slice(1, 8)).toEqual(['system:unauthenticated', 'update', 'haproxyinstances', 'prod', '-', '-', '401 Unauthorized']);
    const system = event({ user: { name: 'system:controller:rollout', groups: ['system:controllers'] }, sourceIP: undefined, dryRun: true });
    expect(auditRow(system, true)).toEqual([...auditRow(system, false), '-', '-', '1795487566919-c2389c1f-000000.0']);
    expect(auditRow(system, false)[2]).toBe('update (dry run)');
    expect(auditRow(event({ resource: '', path: '/apis/x', namespace: undefined }), false).slice(3, 5)).toEqual(['/apis/x', '-']);
  });
});

describe('hqctl audit filters', () => {
  it('sends the whole log without -n, one namespace with it, resource aliases as plurals, --since as a time', () => {
    expect(auditQuery(ctx({}))).toEqual({ user: undefined, namespace: undefined, resource: undefined, name: undefined, verb: undefined, sinceTime: undefined });
    const now = Date.parse('2026-11-24T10:00:00Z');
    expect(auditQuery(ctx({ user: 'alice', resource: 'hc', name: 'web', verb: 'patch', since: '1h30m' }, 'prod'), now)).toEqual({
      user: 'alice',
      namespace: 'prod',
      resource: 'haproxyconfigs',
      name: 'web',
      verb: 'patch',
      sinceTime: '2026-11-24T08:30:00.000Z',
    });
    expect(auditQuery(ctx({ resource: 'clusterroles', 'all-namespaces': true })).resource).toBe('clusterroles');
  });

  it('refuses -A with -n, an unknown verb, a bad duration and arguments', () => {
    expect(() => auditQuery(ctx({ 'all-namespaces': true }, 'prod'))).toThrow('--all-namespaces and --namespace cannot be used together');
    expect(() => auditQuery(ctx({ verb: 'get' }))).toThrow('expected one of create, update, patch, delete, deletecollection');
    expect(() => auditQuery(ctx({ since: 'yesterday' }))).toThrow('"--since" flag');
    expect(() => auditQuery(ctx({}, undefined, ['hi']))).toThrow('hqctl audit takes no arguments');
  });
});
