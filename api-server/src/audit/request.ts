/**
 * Requests in the audit log: every mutating request gets an id (its Audit-Id response header) and
 * an actor for the registry, which records the request's writes in their own transactions; a
 * request that committed nothing (a failure, a dry run, a write that changed nothing) is recorded
 * here once its response is sent, with its code and Status reason.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GROUP, VERSION, type AuditVerb } from '@haproxyhq/schemas';
import type { UserInfo } from '../auth.ts';
import type { Audited } from '../registry/registry.ts';
import type { Storage } from '../storage/types.ts';
import { UNAUTHENTICATED, appendRecord, type Actor, type AuditEntry, type AuditTrace } from './log.ts';

const BASE = `/apis/${GROUP}/${VERSION}`;
const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const VERB_OF: Record<string, AuditVerb> = { POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };

/** Per mutating request: its id, and what its write reported. */
interface RequestAudit {
  id: string;
  trace: AuditTrace;
  /** The Status reason of a failed response, read off the body as it is sent. */
  reason?: string;
}
const requests = new WeakMap<FastifyRequest, RequestAudit>();

/** The actor of a request, for the registry's WriteOptions/DeleteOptions (only mutating requests are audited). */
export function auditOf(req: FastifyRequest): Audited {
  let a = requests.get(req);
  if (!a) requests.set(req, (a = { id: randomUUID(), trace: {} }));
  const user = req.getDecorator<UserInfo | undefined>('user');
  return { actor: actorOf(req, a.id, user ? { name: user.name, groups: user.groups } : UNAUTHENTICATED), trace: a.trace };
}

function actorOf(req: FastifyRequest, id: string, user: Actor['user']): Actor {
  const ua = req.headers['user-agent'];
  return { user, sourceIP: req.ip, ...(typeof ua === 'string' && ua !== '' ? { userAgent: ua } : {}), requestID: id };
}

/** What a request path names: resource, subresource, namespace, name; undefined for other paths. */
function targetOf(path: string): { resource: string; subresource?: string; namespace?: string; name?: string } | undefined {
  if (!path.startsWith(`${BASE}/`)) return undefined;
  let parts: string[];
  try {
    parts = path.slice(BASE.length + 1).split('/').map(decodeURIComponent);
  } catch {
    return undefined;
  }
  let namespace: string | undefined;
  if (parts[0] === 'namespaces' && parts.length >= 3) {
    namespace = parts[1];
    parts = parts.slice(2);
  }
  const [resource, name, subresource, ...rest] = parts;
  if (!resource || rest.length > 0) return undefined;
  return { resource, ...(subresource ? { subresource } : {}), ...(namespace !== undefined ? { namespace } : {}), ...(name ? { name } : {}) };
}

/** The record of a request that committed nothing itself. */
function entryOf(req: FastifyRequest, code: number, a: RequestAudit | undefined): AuditEntry {
  const path = req.url.split('?')[0]!;
  const target = targetOf(path);
  let verb = VERB_OF[req.method]!;
  if (verb === 'delete' && target && !target.name) verb = 'deletecollection';
  // A failed create names its object only in the body: take the name, nothing else of it.
  // Users are not registry objects: every create of one is recorded here, named by the body's
  // name ({name, groups, password}: nothing else of it).
  const body = req.body as { metadata?: { name?: unknown }; name?: unknown } | undefined;
  const bodyName = verb === 'create' ? (target?.resource === 'users' ? body?.name : body?.metadata?.name) : undefined;
  const t = a?.trace ?? {};
  const ct = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const patchType = verb !== 'patch' ? undefined : ct === 'application/json-patch+json' ? 'json' : ct.endsWith('merge-patch+json') ? 'merge' : undefined;
  return {
    verb,
    resource: target?.resource ?? '',
    ...(target?.subresource ? { subresource: target.subresource } : {}),
    ...(target?.namespace !== undefined ? { namespace: target.namespace } : {}),
    ...(target?.name ? { name: target.name } : typeof bodyName === 'string' && bodyName !== '' ? { name: bodyName } : {}),
    ...(t.resourceVersionBefore !== undefined ? { resourceVersionBefore: t.resourceVersionBefore } : {}),
    ...(t.resourceVersionAfter !== undefined && code < 400 ? { resourceVersionAfter: t.resourceVersionAfter } : {}),
    ...(patchType ? { patchType } : {}),
    ...(t.dryRun ? { dryRun: true } : {}),
    code,
    ...(code >= 400 && a?.reason ? { reason: a.reason } : {}),
    ...(target ? {} : { path }),
  };
}

export interface AuditOptions {
  storage: Storage;
  /** Resources not audited (--audit-omit): requests about them are not recorded either. */
  omit?: ReadonlySet<string>;
  /** Records of unauthenticated requests per second, at most (a flood without a token must not fill the store). */
  unauthenticatedPerSecond?: number;
}

/**
 * Install the audit hooks on the root instance, so they see every route, the 404 handler and the
 * authentication hook's 401s: call it before adding that hook.
 */
export function installAuditHooks(app: FastifyInstance, options: AuditOptions): void {
  const { storage } = options;
  const pending = new Set<Promise<void>>();
  const limit = options.unauthenticatedPerSecond ?? 100;
  let windowStart = 0;
  let inWindow = 0;
  let dropped = 0;

  app.addHook('onRequest', async (req, reply) => {
    if (!MUTATING.has(req.method)) return;
    const a: RequestAudit = { id: randomUUID(), trace: {} };
    requests.set(req, a);
    reply.header('audit-id', a.id);
  });

  // A failure's Status reason, from the body as sent (whatever produced it: route, hook, parser, 404).
  app.addHook('onSend', async (req, reply, payload) => {
    if (reply.statusCode < 400 || !MUTATING.has(req.method) || typeof payload !== 'string' || payload.length > 65_536) return payload;
    const a = requests.get(req);
    if (!a) return payload;
    try {
      const status = JSON.parse(payload) as { kind?: unknown; reason?: unknown };
      if (status.kind === 'Status' && typeof status.reason === 'string') a.reason = status.reason;
    } catch {
      // Not a Status: the code says enough.
    }
    return payload;
  });

  app.addHook('onResponse', async (req, reply) => {
    if (!MUTATING.has(req.method)) return;
    const a = requests.get(req);
    if (a?.trace.committed) return;
    const entry = entryOf(req, reply.statusCode, a);
    if (options.omit?.has(entry.resource)) return;
    const user = req.getDecorator<UserInfo | undefined>('user');
    if (!user) {
      const now = Date.now();
      if (now - windowStart >= 1000) {
        if (dropped > 0) req.log.warn(`audit: ${dropped} unauthenticated request(s) not recorded (over ${limit}/s)`);
        windowStart = now;
        inWindow = 0;
        dropped = 0;
      }
      if (++inWindow > limit) {
        dropped++;
        return;
      }
    }
    const actor = actorOf(req, a?.id ?? randomUUID(), user ? { name: user.name, groups: user.groups } : UNAUTHENTICATED);
    const write = appendRecord(storage, actor, entry)
      .catch((err: unknown) => req.log.warn({ err }, `audit: could not record ${req.method} ${req.url.split('?')[0]} (${reply.statusCode})`))
      .finally(() => pending.delete(write));
    pending.add(write);
  });

  // Records still being written when the server closes are waited for (main.ts closes the store after).
  app.addHook('onClose', async () => {
    await Promise.all([...pending]);
  });
}
