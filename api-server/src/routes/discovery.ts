/** Discovery, version, health and OpenAPI: what kubectl and client libraries read first. */
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { GROUP, RESOURCES, SERVED_ENDPOINTS, VERSION, servedVerbs } from '@haproxyhq/schemas';
import openapiV2 from '@haproxyhq/schemas/openapi-v2.json' with { type: 'json' };
import openapiV3 from '@haproxyhq/schemas/openapi.json' with { type: 'json' };
import type { Storage } from '../storage/types.ts';
import { serviceUnavailable } from '../errors.ts';

export const SERVER_VERSION = '0.1.0';
const GROUP_VERSION = `${GROUP}/${VERSION}`;
const v3Hash = createHash('sha512').update(JSON.stringify(openapiV3)).digest('hex').slice(0, 64).toUpperCase();

/** Routes that answer without credentials: health, version, and the console's sign-in (routes/session.ts). */
export const PUBLIC_PATHS = new Set(['/healthz', '/livez', '/readyz', '/version', '/login']);

/**
 * The group's endpoints that are not stored resources (schemas/src/served.ts), in discovery with
 * the verbs they answer, so that kubectl and client libraries, which map a resource name through
 * discovery, can reach them (`kubectl get auditevents`).
 */
const SERVED_NOT_STORED = SERVED_ENDPOINTS.flatMap((e) => [
  { name: e.plural, singularName: e.singular, namespaced: e.namespaced, kind: e.kind, verbs: servedVerbs(e) },
  ...(e.password ? [{ name: `${e.plural}/password`, singularName: '', namespaced: e.namespaced, kind: e.kind, verbs: ['update'] }] : []),
]);

export async function discoveryRoutes(app: FastifyInstance): Promise<void> {
  const storage = app.getDecorator<Storage>('storage');

  app.get('/healthz', async () => 'ok');
  app.get('/livez', async () => 'ok');
  app.get('/readyz', async () => {
    try {
      await storage.currentRevision();
    } catch (err) {
      throw serviceUnavailable(`storage (${storage.name}) is not reachable: ${(err as Error).message}`);
    }
    return 'ok';
  });

  app.get('/version', async () => ({
    major: '0',
    minor: '1',
    gitVersion: `v${SERVER_VERSION}`,
    gitCommit: '',
    gitTreeState: '',
    buildDate: '',
    goVersion: '',
    compiler: 'node',
    platform: `${process.platform}/${process.arch}`,
    nodeVersion: process.version,
    storage: storage.name,
  }));

  // The core group: we serve none of its resources, but clients expect the endpoint.
  app.get('/api', async () => ({ kind: 'APIVersions', versions: [], serverAddressByClientCIDRs: [] }));

  const group = {
    name: GROUP,
    versions: [{ groupVersion: GROUP_VERSION, version: VERSION }],
    preferredVersion: { groupVersion: GROUP_VERSION, version: VERSION },
  };
  app.get('/apis', async () => ({ kind: 'APIGroupList', apiVersion: 'v1', groups: [group] }));
  app.get(`/apis/${GROUP}`, async () => ({ kind: 'APIGroup', apiVersion: 'v1', ...group }));
  app.get(`/apis/${GROUP_VERSION}`, async () => ({
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: GROUP_VERSION,
    resources: RESOURCES.flatMap((r) => {
      const main = {
        name: r.plural,
        singularName: r.singular,
        namespaced: r.namespaced,
        kind: r.kind,
        verbs: r.serverCreated
          ? ['delete', 'get', 'list', 'patch', 'update', 'watch']
          : ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
        shortNames: r.shortNames,
        categories: r.categories,
      };
      if (!r.statusSubresource) return [main];
      return [main, { name: `${r.plural}/status`, singularName: '', namespaced: true, kind: r.kind, verbs: ['get', 'patch', 'update'] }];
    }).concat(SERVED_NOT_STORED),
  }));

  app.get('/openapi/v2', async (req, reply) => {
    const accept = req.headers.accept ?? '';
    // JSON only. kubectl before 1.29 accepts nothing but gnostic protobuf here and then cannot
    // validate client-side (--validate=false works, and the server validates anyway); 1.29+
    // reads /openapi/v3.
    if (/protobuf/.test(accept) && !/json|\*\/\*/.test(accept)) {
      return reply.code(406).send({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'NotAcceptable', message: 'only application/json is served', code: 406 });
    }
    return openapiV2;
  });
  app.get('/openapi/v3', async () => ({
    paths: { [`apis/${GROUP_VERSION}`]: { serverRelativeURL: `/openapi/v3/apis/${GROUP_VERSION}?hash=${v3Hash}` } },
  }));
  app.get(`/openapi/v3/apis/${GROUP_VERSION}`, async () => openapiV3);
}
