/** GET /apis/haproxyhq.io/v1alpha1/auditevents: the audit log, newest first (or ?order=asc), filtered and paged. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AUDIT_VERBS, GROUP, VERSION } from '@haproxyhq/schemas';
import type { Authorizer } from '../auth.ts';
import { badRequest, serviceUnavailable } from '../errors.ts';
import { InvalidContinueError, listAudit } from '../audit/log.ts';
import { StorageUnavailableError, type Storage } from '../storage/types.ts';
import { authorizeRequest } from './resources.ts';

const BASE = `/apis/${GROUP}/${VERSION}`;

export async function auditRoutes(app: FastifyInstance, opts: { storage: Storage }): Promise<void> {
  const authorizer = app.getDecorator<Authorizer>('authorizer');
  type Req = FastifyRequest<{ Querystring: Record<string, string | undefined> }>;
  app.get(`${BASE}/auditevents`, async (req: Req, reply) => {
    await authorizeRequest(authorizer, req, { verb: 'list', resource: 'auditevents' });
    const q = req.query;
    if (q.watch !== undefined) throw badRequest('auditevents cannot be watched: poll with order=asc and sinceTime (hqctl audit -w does)');
    let limit = 500;
    if (q.limit !== undefined) {
      if (!/^\d+$/.test(q.limit) || Number(q.limit) < 1) throw badRequest(`invalid limit ${JSON.stringify(q.limit)}: must be a positive integer`);
      limit = Math.min(Number(q.limit), 5000);
    }
    const order = q.order ?? 'desc';
    if (order !== 'asc' && order !== 'desc') throw badRequest(`invalid order ${JSON.stringify(order)}: must be asc (oldest first) or desc (newest first)`);
    if (q.verb !== undefined && !(AUDIT_VERBS as readonly string[]).includes(q.verb)) {
      throw badRequest(`invalid verb ${JSON.stringify(q.verb)}: must be one of ${AUDIT_VERBS.join(', ')}`);
    }
    let sinceMs: number | undefined;
    if (q.sinceTime !== undefined) {
      sinceMs = /^\d{4}-\d\d-\d\dT/.test(q.sinceTime) ? Date.parse(q.sinceTime) : NaN;
      if (Number.isNaN(sinceMs)) throw badRequest(`invalid sinceTime ${JSON.stringify(q.sinceTime)}: must be an RFC 3339 time, e.g. 2026-11-24T10:00:00Z`);
    }
    const empty = (v: string | undefined) => (v === '' ? undefined : v);
    try {
      const list = await listAudit(opts.storage, {
        user: empty(q.user),
        namespace: empty(q.namespace),
        resource: empty(q.resource),
        name: empty(q.name),
        verb: empty(q.verb),
        sinceMs,
        limit,
        continue: empty(q.continue),
        order,
      });
      reply.header('cache-control', 'no-cache, private');
      return list;
    } catch (err) {
      if (err instanceof InvalidContinueError) throw badRequest(err.message);
      if (err instanceof StorageUnavailableError) throw serviceUnavailable(`storage unavailable: ${err.message}`);
      throw err;
    }
  });
}
