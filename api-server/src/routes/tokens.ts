/**
 * Credentials through the API: API tokens for people and pipelines, join tokens, agent
 * enrollment (POST /enroll, the one write that needs no credential: the join token is it), and
 * revocation and rotation of an instance's credentials. Secrets appear only in the answer to the
 * request that made them; lists show public ids. See schemas/src/tokens.ts for the shapes.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  API_VERSION,
  DEFAULT_JOIN_TOKEN_TTL_SECONDS,
  GROUP,
  JoinTokenRequestSchema,
  TOKEN_ID_PATTERN,
  TokenRequestSchema,
  VERSION,
  type APITokenList,
  type JoinTokenList,
  type JoinTokenRequest,
  type TokenRequest,
} from '@haproxyhq/schemas';
import type { Authorizer, UserInfo } from '../auth.ts';
import { auditOf } from '../audit/request.ts';
import { SYSTEM_ACTORS } from '../audit/log.ts';
import { CredentialStore } from '../credentials/store.ts';
import { RateLimiter } from '../credentials/rate-limit.ts';
import { ApiError, badRequest, forbidden, invalid, notFound, serviceUnavailable } from '../errors.ts';
import { AGENTS_GROUP, SUPERUSER_GROUP } from '../rbac/rules.ts';
import type { ResourceRegistry } from '../registry/registry.ts';
import { schemaCauses } from '../registry/validation.ts';
import { StorageUnavailableError, type Storage } from '../storage/types.ts';
import { authorizeRequest, checkNamespace } from './resources.ts';

const BASE = `/apis/${GROUP}/${VERSION}`;
/** The path agents enroll at, without credentials (app.ts lets it through). */
export const ENROLL_PATH = '/enroll';
const ID = new RegExp(TOKEN_ID_PATTERN);
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export interface TokenRoutesOptions {
  storage: Storage;
  instances: ResourceRegistry;
  /** PEM of the server's CA, handed to enrolling agents for their kubeconfig. */
  ca?: string;
  now?: () => number;
  /** Failed enrollments per source address: a burst, then this many per second. */
  enrollBurst?: number;
  enrollPerSecond?: number;
  /** How often expired credentials are swept (ms); 0: never. */
  sweepIntervalMs?: number;
}

/** 422 naming the failing fields, or the body typed. */
function parseBody<T>(kind: string, schema: Parameters<typeof schemaCauses>[0], body: unknown): T {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest(`the request body must be a JSON object (a ${kind})`);
  const causes = schemaCauses(schema, body);
  if (causes.length > 0) throw invalid(kind, GROUP, '', causes);
  return body as T;
}

/** Storage failures as 503s (the store is down), anything else unchanged. */
async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof StorageUnavailableError) throw serviceUnavailable(`storage unavailable: ${err.message}`);
    throw err;
  }
}

export async function tokenRoutes(app: FastifyInstance, opts: TokenRoutesOptions): Promise<void> {
  const authorizer = app.getDecorator<Authorizer>('authorizer');
  const store = new CredentialStore(opts.storage, { now: opts.now });
  const limiter = new RateLimiter({ burst: opts.enrollBurst ?? 10, perSecond: opts.enrollPerSecond ?? 1 / 6, now: opts.now });
  const userOf = (req: FastifyRequest) => req.getDecorator<UserInfo | undefined>('user');

  const sweepMs = opts.sweepIntervalMs ?? 3600_000;
  if (sweepMs > 0) {
    const timer = setInterval(() => {
      store.sweep().catch((err: unknown) => app.log.warn({ err }, 'sweeping expired credentials failed; will retry'));
    }, sweepMs);
    timer.unref();
    app.addHook('onClose', async () => clearInterval(timer));
  }

  // --- API tokens ---------------------------------------------------------------------------

  app.post(`${BASE}/tokens`, async (req, reply) => {
    await authorizeRequest(authorizer, req, { verb: 'create', resource: 'tokens' });
    const body = parseBody<TokenRequest>('TokenRequest', TokenRequestSchema, req.body);
    const me = userOf(req)!;
    // Agents' identities come only from enrollment; superuser power only from a superuser.
    const reserved = body.user.name.startsWith('system:agent:') || body.user.groups.includes(AGENTS_GROUP);
    if (reserved) throw forbidden(`tokens for agents (user system:agent:..., group ${AGENTS_GROUP}) come only from enrollment: use hqctl create join-token`);
    if (body.user.groups.includes(SUPERUSER_GROUP) && !me.groups.includes(SUPERUSER_GROUP)) {
      throw forbidden(`only a member of ${SUPERUSER_GROUP} may make a token in ${SUPERUSER_GROUP}`);
    }
    const token = await guarded(() => store.createUserToken(body));
    reply.code(201).header('cache-control', 'no-store');
    return token;
  });

  app.get(`${BASE}/tokens`, async (req, reply) => {
    await authorizeRequest(authorizer, req, { verb: 'list', resource: 'tokens' });
    const items = await guarded(() => store.listTokens());
    reply.header('cache-control', 'no-cache, private');
    const list: APITokenList = { apiVersion: API_VERSION, kind: 'APITokenList', metadata: {}, items };
    return list;
  });

  app.delete<{ Params: { id: string } }>(`${BASE}/tokens/:id`, async (req) => {
    const { id } = req.params;
    await authorizeRequest(authorizer, req, { verb: 'delete', resource: 'tokens', name: id });
    if (!ID.test(id)) throw notFound('APIToken', GROUP, id, 'tokens');
    return guarded(() => store.revokeToken(id));
  });

  // --- join tokens --------------------------------------------------------------------------

  app.post<{ Params: { namespace: string } }>(`${BASE}/namespaces/:namespace/jointokens`, async (req, reply) => {
    const { namespace } = req.params;
    checkNamespace(namespace);
    await authorizeRequest(authorizer, req, { verb: 'create', resource: 'jointokens', namespace });
    const body = parseBody<JoinTokenRequest>('JoinTokenRequest', JoinTokenRequestSchema, req.body);
    const join = await guarded(() =>
      store.createJoinToken(namespace, {
        ttlSeconds: body.ttlSeconds ?? DEFAULT_JOIN_TOKEN_TTL_SECONDS,
        instance: body.instance,
        description: body.description,
        createdBy: userOf(req)!.name,
      }),
    );
    reply.code(201).header('cache-control', 'no-store');
    return join;
  });

  app.get<{ Params: { namespace: string } }>(`${BASE}/namespaces/:namespace/jointokens`, async (req, reply) => {
    const { namespace } = req.params;
    checkNamespace(namespace);
    await authorizeRequest(authorizer, req, { verb: 'list', resource: 'jointokens', namespace });
    const items = await guarded(() => store.listJoinTokens(namespace));
    reply.header('cache-control', 'no-cache, private');
    const list: JoinTokenList = { apiVersion: API_VERSION, kind: 'JoinTokenList', metadata: {}, items };
    return list;
  });

  app.delete<{ Params: { namespace: string; id: string } }>(`${BASE}/namespaces/:namespace/jointokens/:id`, async (req) => {
    const { namespace, id } = req.params;
    checkNamespace(namespace);
    await authorizeRequest(authorizer, req, { verb: 'delete', resource: 'jointokens', namespace, name: id });
    if (!ID.test(id)) throw notFound('JoinToken', GROUP, id, 'jointokens');
    return guarded(() => store.deleteJoinToken(namespace, id));
  });

  // --- enrollment ---------------------------------------------------------------------------

  app.post(ENROLL_PATH, async (req, reply) => {
    const source = req.ip;
    const wait = limiter.retryAfter(source);
    if (wait > 0) {
      reply.header('retry-after', String(wait));
      throw new ApiError(429, 'TooManyRequests', `too many failed enrollments from ${source}: try again in ${wait} s`, { retryAfterSeconds: wait });
    }
    try {
      const body = req.body as { token?: unknown; instance?: unknown } | undefined;
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('the request body must be a JSON object: {"token": "hqj_...", "instance": "NAME"}');
      const extra = Object.keys(body).filter((k) => k !== 'token' && k !== 'instance');
      if (extra.length > 0) throw badRequest(`unknown field ${JSON.stringify(extra[0])}: an enrollment takes only token and instance`);
      // The token is never echoed, not even in an error.
      if (typeof body.token !== 'string' || body.token === '') throw badRequest('token is required: the join token (hqj_...) from hqctl create join-token');
      if (typeof body.instance !== 'string' || body.instance.length > 253 || !DNS1123_SUBDOMAIN.test(body.instance)) {
        throw badRequest("instance must be the HAProxyInstance's name, a DNS-1123 subdomain (lowercase letters, digits, '-' and '.')");
      }
      const instance = body.instance;
      const actor = { ...auditOf(req).actor, user: SYSTEM_ACTORS.enrollment.user };
      const enrolled = await guarded(() => store.enroll(body.token as string, instance, { instances: opts.instances, actor, ca: opts.ca }));
      // The request's own audit record names the agent it made.
      req.setDecorator<UserInfo>('user', { name: enrolled.user.name, groups: enrolled.user.groups });
      req.log.info({ instance: `${enrolled.namespace}/${enrolled.instance}`, tokenId: enrolled.tokenId }, 'agent enrolled');
      reply.header('cache-control', 'no-store');
      return enrolled;
    } catch (err) {
      if (err instanceof ApiError && err.code < 500) limiter.take(source);
      throw err;
    }
  });

  // --- an instance's credentials ------------------------------------------------------------

  type InstanceReq = FastifyRequest<{ Params: { namespace: string; name: string } }>;
  const credentialsPath = `${BASE}/namespaces/:namespace/haproxyinstances/:name/credentials`;

  // Rotation, by the agent itself (rbac/authorizer.ts allows an agent its own) or an admin.
  app.post(credentialsPath, async (req: InstanceReq, reply) => {
    const { namespace, name } = req.params;
    checkNamespace(namespace);
    await authorizeRequest(authorizer, req, { verb: 'create', resource: 'haproxyinstances', subresource: 'credentials', namespace, name });
    if (!(await guarded(() => opts.instances.find(namespace, name)))) throw notFound('HAProxyInstance', GROUP, name, 'haproxyinstances');
    const rotated = await guarded(() => store.rotate(namespace, name, opts.ca));
    req.log.info({ instance: `${namespace}/${name}`, tokenId: rotated.tokenId }, 'agent credential rotated');
    reply.code(201).header('cache-control', 'no-store');
    return rotated;
  });

  app.delete(credentialsPath, async (req: InstanceReq) => {
    const { namespace, name } = req.params;
    checkNamespace(namespace);
    await authorizeRequest(authorizer, req, { verb: 'delete', resource: 'haproxyinstances', subresource: 'credentials', namespace, name });
    const revoked = await guarded(() => store.revokeInstance(namespace, name));
    const list: APITokenList = { apiVersion: API_VERSION, kind: 'APITokenList', metadata: {}, items: revoked };
    return list;
  });
}
