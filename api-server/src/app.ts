/**
 * Builds the API server as a Fastify instance that never listens (main.ts does), so tests can
 * build several side by side, each with its own store, and drive them with inject() or a socket.
 */
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import sjson from 'secure-json-parse';
import { RESOURCES } from '@haproxyhq/schemas';
import { RbacAuthorizer, ensureBuiltinRoles } from './rbac/authorizer.ts';
import { userFromClientCertificate } from './x509.ts';
import { installAuditHooks } from './audit/request.ts';
import { allowAuthenticated, type Authenticator, type Authorizer, type UserInfo } from './auth.ts';
import { ApiError, badRequest, pathNotFound, statusFor, tooLarge, unauthorized, unsupportedMediaType } from './errors.ts';
import { MAX_JSON_DEPTH, clientErrorHandler, frameworkErrors, jsonTooDeep, parseQuery } from './http-boundary.ts';
import { ResourceRegistry } from './registry/registry.ts';
import { STRATEGIES } from './registry/strategies.ts';
import { PUBLIC_PATHS, discoveryRoutes } from './routes/discovery.ts';
import { consoleRoutes, isConsolePath, type StaticFile } from './routes/console.ts';
import { MetricsHistory } from './metrics/history.ts';
import { startMetricsFeed } from './metrics/feed.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { resourceRoutes } from './routes/resources.ts';
import { auditRoutes } from './routes/audit.ts';
import { sessionRoutes } from './routes/session.ts';
import { userRoutes } from './routes/users.ts';
import { People, type PeopleOptions } from './users/people.ts';
import { ENROLL_PATH, tokenRoutes } from './routes/tokens.ts';
import type { Storage } from './storage/types.ts';

export interface AppOptions {
  storage: Storage;
  authenticator: Authenticator;
  authorizer?: Authorizer;
  /**
   * Authorize with RBAC (Roles, ClusterRoles, bindings and agent credentials; the built-in roles
   * are created at start). main.ts always does; tests that are not about authorization may leave
   * it off, which allows every authenticated user everything.
   */
  rbac?: boolean;
  /** Largest request body accepted (Kubernetes: 3 MiB). */
  maxBodyBytes?: number;
  /** Largest object stored. */
  maxObjectBytes?: number;
  /** How often idle watches that asked for them get BOOKMARK events. */
  bookmarkIntervalMs?: number;
  logger?: FastifyServerOptions['logger'];
  /** Log every request (Fastify's access log). Off by default: it costs ~6% CPU at load; main.ts turns it on at debug. */
  requestLogging?: boolean;
  /** Serve HTTPS with this certificate and key (main.ts always does; tests may use plain HTTP). */
  https?: {
    cert: string;
    key: string;
    /** Verify client certificates against this CA (mutual TLS, optional for clients). */
    clientCa?: string;
    /** Key-exchange groups, OpenSSL names colon-separated in order of preference (--tls-groups). */
    groups?: string;
  };
  /** The built console's files (routes/console.ts loadConsole), served at /; none: no console. */
  consoleFiles?: Map<string, StaticFile>;
  /**
   * Keep this many minutes of every instance's traffic in memory, fed from the store's watch, for
   * .../haproxyinstances/NAME/metrics (main.ts passes --metrics-history-minutes). Unset or 0: no
   * history, and the route says so.
   */
  metricsHistoryMinutes?: number;
  /** Resources whose writes the audit log leaves out (main.ts passes --audit-omit); none by default. */
  auditOmit?: string[];
  /** Users' sign-in sessions (lifetimes, the clock) and sign-in throttling (users/people.ts). */
  people?: PeopleOptions;
  /** PEM of the CA that signed the serving certificate: enrolling agents get it for their kubeconfig. */
  ca?: string;
  /** The clock of credentials (token expiry, rotation grace); tests move it. */
  now?: () => number;
}

export const DEFAULT_MAX_BODY_BYTES = 3 * 1024 * 1024;
export const DEFAULT_MAX_OBJECT_BYTES = 1536 * 1024;

const JSON_TYPES = [
  'application/json',
  'application/merge-patch+json',
  'application/json-patch+json',
  'application/strategic-merge-patch+json',
];

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const app = Fastify({
    ...(options.https
      ? {
          https: {
            cert: options.https.cert,
            key: options.https.key,
            // Asked for, verified, never required: bearer tokens keep working beside certificates.
            ...(options.https.clientCa ? { ca: options.https.clientCa, requestCert: true, rejectUnauthorized: false } : {}),
            ...(options.https.groups ? { ecdhCurve: options.https.groups } : {}),
          },
        }
      : {}),
    logger: options.logger ?? false,
    logController: new LogController({ disableRequestLogging: !options.requestLogging }),
    bodyLimit: maxBodyBytes,
    return503OnClosing: true,
    // Watches are long-lived: close() must not wait for their clients to hang up.
    forceCloseConnections: true,
    // Names are at most 253 characters; room for that plus encoding.
    routerOptions: { maxParamLength: 1024, querystringParser: parseQuery },
    frameworkErrors,
    clientErrorHandler,
  });

  app.decorate('storage', options.storage);
  app.decorate('authenticator', options.authenticator);
  await options.authenticator.start?.();
  app.addHook('onClose', async () => options.authenticator.stop?.());
  app.decorateRequest('user', undefined);
  const people = new People(options.storage, options.people);

  // Bodies: JSON (and its patch flavours) through secure-json-parse, which refuses __proto__
  // and constructor keys; the parser's own message reaches the client (Fastify's hides it).
  // apply-patch YAML is accepted only to be refused clearly by the PATCH route.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(JSON_TYPES, { parseAs: 'string' }, (req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') {
      // An empty DeleteOptions is "no options"; any other verb needs an object.
      if (req.method === 'DELETE') return done(null, undefined);
      return done(badRequest('the request body is empty: send a JSON object'), undefined);
    }
    if (jsonTooDeep(text)) return done(badRequest(`the request body nests deeper than ${MAX_JSON_DEPTH} levels`), undefined);
    try {
      done(null, sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' }));
    } catch (err) {
      done(badRequest(`the request body is not valid JSON: ${(err as Error).message}`), undefined);
    }
  });
  app.addContentTypeParser(['application/apply-patch+yaml', 'application/apply-patch+cbor'], { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  // Before authentication: a 401 is audited too.
  const auditOmit = new Set(options.auditOmit ?? []);
  installAuditHooks(app, { storage: options.storage, omit: auditOmit });
  app.addHook('onRequest', async (req, reply) => {
    const path = req.url.split('?')[0]!;
    if (PUBLIC_PATHS.has(path)) return;
    // An agent's enrollment carries its credential in the body: the join token.
    if (path === ENROLL_PATH && req.method === 'POST') return;
    if (options.consoleFiles && req.method !== 'POST' && isConsolePath(path, options.consoleFiles)) return;
    const header = req.headers.authorization;
    const m = header?.match(/^Bearer\s+(\S+)\s*$/i);
    // Mutual TLS: a verified client certificate names the user when no token is sent.
    const certUser = !header && options.https?.clientCa ? userFromClientCertificate(req) : undefined;
    if (certUser) {
      req.setDecorator<UserInfo>('user', certUser);
      return;
    }
    if (!m) {
      // No bearer token: the console's session cookie, if any, names the user (CSRF rules in users/people.ts).
      if (!(await people.authenticate(req, reply))) throw unauthorized();
      return;
    }
    const user = await options.authenticator.authenticate(m[1]!);
    if (!user) throw unauthorized('Unauthorized: the bearer token is not valid');
    req.setDecorator<UserInfo>('user', user);
  });

  app.setErrorHandler((err: FastifyError | ApiError | Error, req, reply) => {
    const apiError = toApiError(err, req, maxBodyBytes);
    if (!apiError || apiError.code >= 500) req.log.error({ err }, 'request failed');
    const status = apiError ? apiError.toStatus() : statusFor(err);
    reply.code(status.code).type('application/json').send(status);
  });
  app.setNotFoundHandler((req, reply) => {
    const status = pathNotFound(req.url.split('?')[0]!).toStatus();
    reply.code(404).send(status);
  });

  const registries = new Map<string, ResourceRegistry>();
  const lookup = (plural: string) => {
    const r = registries.get(plural);
    if (!r) throw new Error(`no registry for ${plural}`);
    return r;
  };
  for (const d of RESOURCES) {
    registries.set(
      d.plural,
      new ResourceRegistry(d, options.storage, STRATEGIES[d.plural] ?? {}, {
        maxObjectBytes: options.maxObjectBytes ?? DEFAULT_MAX_OBJECT_BYTES,
        bookmarkIntervalMs: options.bookmarkIntervalMs ?? 10_000,
        auditOmit,
      }, lookup),
    );
  }
  app.decorate('registries', registries);
  let authorizer = options.authorizer ?? allowAuthenticated;
  if (options.rbac && !options.authorizer) {
    const rbac = new RbacAuthorizer(registries, (err) => app.log.warn({ err }, 'RBAC: listing or watching roles and bindings failed; retrying'));
    await ensureBuiltinRoles(registries);
    await rbac.start();
    app.addHook('onClose', async () => rbac.stop());
    authorizer = rbac;
  }
  app.decorate('authorizer', authorizer);

  await app.register(discoveryRoutes);
  await app.register(resourceRoutes, { registries });
  await app.register(auditRoutes, { storage: options.storage });
  await app.register(userRoutes, { people });
  await app.register(sessionRoutes, { people });
  people.startSweeping((err) => app.log.warn({ err }, 'sweeping expired sessions failed; will retry'));
  app.addHook('onClose', async () => people.stop());
  await app.register(tokenRoutes, { storage: options.storage, instances: lookup('haproxyinstances'), ca: options.ca, now: options.now });
  const history = options.metricsHistoryMinutes ? new MetricsHistory({ windowMs: options.metricsHistoryMinutes * 60_000 }) : undefined;
  if (history) {
    const feed = startMetricsFeed(lookup('haproxyinstances'), history, {
      onError: (err) => app.log.warn({ err }, 'metrics history: listing or watching haproxyinstances failed; retrying'),
    });
    app.addHook('onClose', async () => feed.stop());
  }
  app.decorate('metricsHistory', history);
  await app.register(metricsRoutes, { instances: lookup('haproxyinstances'), history });
  if (options.consoleFiles) await app.register(consoleRoutes, { files: options.consoleFiles });
  return app;
}

/** Fastify's own 4xx errors (body parsing, limits) as API errors; undefined for real failures. */
function toApiError(err: Error, req: FastifyRequest, maxBodyBytes: number): ApiError | undefined {
  if (err instanceof ApiError) return err;
  const fe = err as FastifyError;
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return tooLarge(`the request body is larger than the limit of ${maxBodyBytes} bytes`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return unsupportedMediaType(
        `the Content-Type ${JSON.stringify(req.headers['content-type'] ?? '')} is not supported: send application/json (PATCH also takes merge-patch+json and json-patch+json)`,
      );
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return badRequest('the request body is empty: send a JSON object');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return badRequest('the Content-Length does not match the body');
  }
  if (err instanceof SyntaxError || fe.statusCode === 400) {
    return badRequest(`the request body is not valid JSON: ${err.message}`);
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new ApiError(fe.statusCode, 'BadRequest', err.message);
  }
  return undefined;
}
