/**
 * One generic set of routes serving every resource (Kubernetes gives every resource the same
 * verbs): list/watch, create, get, update, patch, delete, and the /status subresource.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  API_VERSION,
  GROUP,
  TemplateError,
  VERSION,
  renderConfig,
  type ConfigRevision,
  type HAProxyInstance,
  type RenderedConfig,
} from '@haproxyhq/schemas';
import { auditOf } from '../audit/request.ts';
import type { Authorizer, RequestAttributes, UserInfo } from '../auth.ts';
import { badRequest, forbidden, invalid, methodNotAllowed, pathNotFound, statusFor, unsupportedMediaType } from '../errors.ts';
import { contentHash } from '../registry/strategies.ts';
import type { ApiObject, ResourceRegistry, WatchEventType, WriteOptions } from '../registry/registry.ts';
import { warningHeader } from '../http-boundary.ts';
import { toTable, wantsTable, type IncludeObject } from '../table.ts';

type Query = Record<string, string | undefined>;
type Params = { namespace?: string; plural: string; name?: string };

const BASE = `/apis/${GROUP}/${VERSION}`;
/** A watcher that stops reading is cut off once this much is buffered for it. */
const MAX_WATCH_BUFFER_BYTES = 16 * 1024 * 1024;
/** Kubernetes ends watches after a random 30-60 minutes so load spreads across replicas. */
const DEFAULT_WATCH_SECONDS = 1800;

/** A Table's rows' `includeObject` (None, Metadata or Object; Metadata when not given). */
function includeObjectOf(q: Query): IncludeObject {
  const v = q.includeObject;
  if (v === undefined || v === '') return 'Metadata';
  if (v === 'None' || v === 'Metadata' || v === 'Object') return v;
  throw badRequest(`invalid includeObject ${JSON.stringify(v)}: must be None, Metadata or Object`);
}

/** Ask the authorizer whether the request's user may do `attrs`; 403 Forbidden, in kube-apiserver's words, if not. */
export async function authorizeRequest(authorizer: Authorizer, req: FastifyRequest, attrs: RequestAttributes): Promise<void> {
  const user = req.getDecorator<UserInfo | undefined>('user');
  if (!user) return;
  const decision = await authorizer.authorize(user, attrs);
  if (!decision.allowed) {
    throw forbidden(
      `${attrs.resource}${attrs.subresource ? '/' + attrs.subresource : ''}.${GROUP}${attrs.name ? ` "${attrs.name}"` : ''} is forbidden: User "${user.name}" cannot ${attrs.verb} resource "${attrs.resource}" in API group "${GROUP}"${attrs.namespace ? ` in the namespace "${attrs.namespace}"` : ''}${decision.reason ? `: ${decision.reason}` : ''}`,
    );
  }
}

/** 400 unless the namespace in a path is a DNS-1123 label. */
export function checkNamespace(ns: string | undefined): void {
  if (ns !== undefined && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(ns)) {
    throw badRequest(`invalid namespace ${JSON.stringify(ns)}: must be a DNS-1123 label`);
  }
}

export interface ResourceRoutesOptions {
  registries: Map<string, ResourceRegistry>;
}

export async function resourceRoutes(app: FastifyInstance, opts: ResourceRoutesOptions): Promise<void> {
  const authorizer = app.getDecorator<Authorizer>('authorizer');
  // Open watch streams, ended when the server closes so shutdown does not wait for clients.
  const streams = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const finish of [...streams]) finish();
  });
  const registry = (plural: string): ResourceRegistry => {
    const r = opts.registries.get(plural);
    if (!r) throw pathNotFound(`${BASE}/${plural}`);
    return r;
  };
  /**
   * The registry for a path, checked against the resource's scope: namespaced kinds live under
   * /namespaces/NS/, cluster-wide kinds (ClusterRole, ClusterRoleBinding) directly under the
   * group version. Cluster-wide objects are stored with the empty namespace.
   */
  const scoped = (plural: string, namespace: string | undefined, url: string): { r: ResourceRegistry; ns: string } => {
    const r = registry(plural);
    if (r.descriptor.namespaced && namespace === undefined) {
      throw pathNotFound(url, `${plural} are namespaced: use ${BASE}/namespaces/NAMESPACE/${plural}`);
    }
    if (!r.descriptor.namespaced && namespace !== undefined) {
      throw pathNotFound(url, `${plural} are cluster-wide: use ${BASE}/${plural}, without a namespace`);
    }
    return { r, ns: namespace ?? '' };
  };

  const authorize = (req: FastifyRequest, attrs: RequestAttributes) => authorizeRequest(authorizer, req, attrs);

  const send = (req: FastifyRequest, reply: FastifyReply, r: ResourceRegistry, obj: ApiObject, code = 200, opts?: WriteOptions) => {
    reply.code(code);
    if (opts?.warnings?.length) reply.header('warning', warningHeader(opts.warnings));
    if (wantsTable(req.headers.accept)) return toTable(r.descriptor, [obj], { resourceVersion: obj.metadata.resourceVersion }, true, includeObjectOf(req.query as Query));
    return obj;
  };

  const isDryRun = (q: Query) => {
    if (q.dryRun === undefined) return false;
    if (q.dryRun !== 'All') throw badRequest(`invalid dryRun ${JSON.stringify(q.dryRun)}: the only supported value is All`);
    return true;
  };

  /** dryRun and fieldValidation from the query, and the request's actor; warnings go out as Warning headers. */
  const writeOptions = (req: FastifyRequest<{ Querystring: Query }>): WriteOptions => {
    const fv = req.query.fieldValidation;
    if (fv !== undefined && fv !== 'Ignore' && fv !== 'Warn' && fv !== 'Strict') {
      throw badRequest(`invalid fieldValidation ${JSON.stringify(fv)}: must be Ignore, Warn or Strict`);
    }
    const warnings: string[] = [];
    // send() turns them into Warning headers, in Kubernetes' form: `299 - "text"`.
    return { dryRun: isDryRun(req.query), fieldValidation: fv ?? 'Strict', warnings, ...auditOf(req) };
  };

  async function listOrWatch(req: FastifyRequest<{ Params: Params; Querystring: Query }>, reply: FastifyReply) {
    const { namespace, plural } = req.params;
    checkNamespace(namespace);
    // A namespaced kind listed without a namespace is "across all namespaces".
    const r = namespace === undefined ? registry(plural) : scoped(plural, namespace, req.url).r;
    const q = req.query;
    const watch = q.watch === 'true' || q.watch === '1';
    // A list pinned to one name by its field selector is authorized for that name (agents watch only their own).
    const pinned = /^\s*metadata\.name\s*==?\s*([^,]+?)\s*$/.exec(q.fieldSelector ?? '')?.[1];
    await authorize(req, { verb: watch ? 'watch' : 'list', resource: plural, namespace, name: pinned });
    if (watch) return streamWatch(req, reply, r, namespace, q);
    let limit: number | undefined;
    if (q.limit !== undefined) {
      if (!/^\d+$/.test(q.limit)) throw badRequest(`invalid limit ${JSON.stringify(q.limit)}: must be a non-negative integer`);
      limit = Math.min(Number(q.limit), 10_000);
    }
    const list = await r.list(namespace, {
      labelSelector: q.labelSelector,
      fieldSelector: q.fieldSelector,
      limit,
      continue: q.continue,
      resourceVersion: q.resourceVersion,
      resourceVersionMatch: q.resourceVersionMatch,
    });
    if (wantsTable(req.headers.accept)) return toTable(r.descriptor, list.items, list.metadata, true, includeObjectOf(q));
    return list;
  }

  async function streamWatch(req: FastifyRequest, reply: FastifyReply, r: ResourceRegistry, namespace: string | undefined, q: Query) {
    let timeoutSeconds = DEFAULT_WATCH_SECONDS * (1 + Math.random());
    if (q.timeoutSeconds !== undefined) {
      if (!/^\d+$/.test(q.timeoutSeconds)) throw badRequest(`invalid timeoutSeconds ${JSON.stringify(q.timeoutSeconds)}`);
      timeoutSeconds = Math.min(Number(q.timeoutSeconds), DEFAULT_WATCH_SECONDS * 2);
    }
    const table = wantsTable(req.headers.accept);
    const includeObject = includeObjectOf(q);
    const raw = reply.raw;
    let open = true;
    let first = true;
    let watch: { close(): void } | undefined;
    const finish = () => {
      if (!open) return;
      open = false;
      streams.delete(finish);
      clearTimeout(timer);
      watch?.close();
      raw.end();
    };
    const write = (type: WatchEventType, object: unknown) => {
      if (!open) return;
      if (!raw.headersSent) {
        raw.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache, private', 'transfer-encoding': 'chunked' });
      }
      let payload = object;
      if (table && type !== 'ERROR' && type !== 'BOOKMARK') {
        // The first event carries the column definitions; the rest only rows (as kube-apiserver does).
        payload = toTable(r.descriptor, [object as ApiObject], {}, first, includeObject);
        first = false;
      }
      raw.write(JSON.stringify({ type, object: payload }) + '\n');
      if (raw.writableLength > MAX_WATCH_BUFFER_BYTES) {
        req.log.warn({ resource: r.descriptor.plural }, 'watch client is not reading; closing its watch');
        finish();
      }
    };
    const timer = setTimeout(finish, timeoutSeconds * 1000);
    timer.unref();
    streams.add(finish);
    try {
      watch = await r.watch(
        namespace,
        {
          labelSelector: q.labelSelector,
          fieldSelector: q.fieldSelector,
          resourceVersion: q.resourceVersion,
          allowWatchBookmarks: q.allowWatchBookmarks === 'true' || q.allowWatchBookmarks === '1',
        },
        { event: write, end: finish },
      );
    } catch (err) {
      // Before the first byte (a bad selector, the store down) the error handler answers;
      // after it, the error can only travel as an ERROR event.
      if (!raw.headersSent) {
        clearTimeout(timer);
        streams.delete(finish);
        throw err;
      }
      req.log.error({ err }, 'watch failed after it started');
      write('ERROR', statusFor(err));
      reply.hijack();
      finish();
      return;
    }
    if (!open) watch.close();
    reply.hijack();
    if (!raw.headersSent) {
      raw.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache, private', 'transfer-encoding': 'chunked' });
      // Flush the headers now: clients wait for them before they consider the watch open.
      raw.flushHeaders();
    }
    raw.on('close', finish);
    req.raw.on('close', () => {
      if (raw.writableFinished || req.raw.destroyed) finish();
    });
  }

  app.get<{ Params: Params; Querystring: Query }>(`${BASE}/:plural`, listOrWatch);
  app.get<{ Params: Params; Querystring: Query }>(`${BASE}/namespaces/:namespace/:plural`, listOrWatch);

  async function createItem(req: FastifyRequest<{ Params: Params; Querystring: Query }>, reply: FastifyReply) {
    const { namespace, plural } = req.params;
    checkNamespace(namespace);
    const { r, ns } = scoped(plural, namespace, req.url);
    await authorize(req, { verb: 'create', resource: plural, namespace, object: req.body });
    const opts = writeOptions(req);
    const created = await r.create(ns, req.body, opts);
    return send(req, reply, r, created, 201, opts);
  }
  app.post<{ Params: Params; Querystring: Query }>(`${BASE}/namespaces/:namespace/:plural`, createItem);
  app.post<{ Params: Params; Querystring: Query }>(`${BASE}/:plural`, createItem);

  const item = `${BASE}/namespaces/:namespace/:plural/:name`;
  const clusterItem = `${BASE}/:plural/:name`;
  type ItemReq = FastifyRequest<{ Params: Params; Querystring: Query }>;

  const subresourceOf = (req: ItemReq): 'status' | undefined => (req.url.split('?')[0]!.endsWith('/status') ? 'status' : undefined);

  /** Resolve and authorize an item request: its registry, namespace, name and subresource. */
  async function itemTarget(req: ItemReq, verb: RequestAttributes['verb'], object?: unknown) {
    const { namespace, plural, name } = req.params;
    checkNamespace(namespace);
    const { r, ns } = scoped(plural, namespace, req.url);
    const sub = subresourceOf(req);
    if (sub && !r.descriptor.statusSubresource) throw pathNotFound(req.url);
    await authorize(req, { verb, resource: plural, subresource: sub, namespace, name, object });
    return { r, sub, namespace: ns, name: name! };
  }

  async function getItem(req: ItemReq, reply: FastifyReply) {
    const { r, namespace, name } = await itemTarget(req, 'get');
    return send(req, reply, r, await r.get(namespace, name));
  }

  async function putItem(req: ItemReq, reply: FastifyReply) {
    const { r, sub, namespace, name } = await itemTarget(req, 'update', req.body);
    const opts = writeOptions(req);
    return send(req, reply, r, await r.update(namespace, name, req.body, sub, opts), 200, opts);
  }

  async function patchItem(req: ItemReq, reply: FastifyReply) {
    const { r, sub, namespace, name } = await itemTarget(req, 'patch');
    const type = patchType(req.headers['content-type']);
    const opts = writeOptions(req);
    return send(req, reply, r, await r.patch(namespace, name, type, req.body, sub, opts), 200, opts);
  }

  app.get<{ Params: Params; Querystring: Query }>(item, getItem);
  app.get<{ Params: Params; Querystring: Query }>(`${item}/status`, getItem);
  app.put<{ Params: Params; Querystring: Query }>(item, putItem);
  app.put<{ Params: Params; Querystring: Query }>(`${item}/status`, putItem);
  app.patch<{ Params: Params; Querystring: Query }>(item, patchItem);
  app.patch<{ Params: Params; Querystring: Query }>(`${item}/status`, patchItem);
  app.get<{ Params: Params; Querystring: Query }>(clusterItem, getItem);
  app.put<{ Params: Params; Querystring: Query }>(clusterItem, putItem);
  app.patch<{ Params: Params; Querystring: Query }>(clusterItem, patchItem);

  // What one instance runs: its revision (or ?revision=) rendered with its labels and values.
  app.get<{ Params: Params; Querystring: Query & { revision?: string } }>(
    `${BASE}/namespaces/:namespace/haproxyinstances/:name/rendered`,
    async (req) => {
      const { namespace, name } = req.params;
      checkNamespace(namespace);
      await authorize(req, { verb: 'get', resource: 'haproxyinstances', subresource: 'rendered', namespace, name });
      await authorize(req, { verb: 'get', resource: 'configrevisions', namespace });
      const instance = (await registry('haproxyinstances').get(namespace!, name!)) as unknown as HAProxyInstance;
      const revisionName = typeof req.query.revision === 'string' && req.query.revision !== '' ? req.query.revision : instance.spec?.configRevision;
      if (!revisionName) {
        throw badRequest(`haproxyinstance "${name}" has no spec.configRevision yet: pass ?revision=NAME to render a given revision`);
      }
      const rev = (await registry('configrevisions').get(namespace!, revisionName)) as unknown as ConfigRevision;
      let rendered;
      try {
        rendered = renderConfig(rev.spec.config, instance);
      } catch (e) {
        if (!(e instanceof TemplateError)) throw e;
        throw invalid('HAProxyInstance', GROUP, name!, [{ reason: 'FieldValueInvalid', field: e.file === 'haproxy.cfg' ? 'spec.config' : `spec.files[${e.file}]`, message: e.message }]);
      }
      const files = rendered.files.map((f) => ({ path: f.path, content: f.content }));
      const body: RenderedConfig = {
        apiVersion: API_VERSION,
        kind: 'RenderedConfig',
        metadata: { name: name!, namespace: namespace! },
        revision: revisionName,
        template: rev.spec.config.template === true,
        contentHash: contentHash({ config: rendered.config, files }),
        config: rendered.config,
        files,
      };
      return body;
    },
  );

  async function deleteItem(req: FastifyRequest<{ Params: Params; Querystring: Query }>, reply: FastifyReply) {
    const { namespace, plural, name } = req.params;
    checkNamespace(namespace);
    const { r, ns } = scoped(plural, namespace, req.url);
    await authorize(req, { verb: 'delete', resource: plural, namespace, name });
    const body = req.body as { preconditions?: { uid?: string; resourceVersion?: string }; dryRun?: string[] } | undefined;
    if (body !== undefined && body !== null && (typeof body !== 'object' || Array.isArray(body))) {
      throw badRequest('the body of a DELETE must be a DeleteOptions object');
    }
    const pre = body?.preconditions;
    if (pre !== undefined && (typeof pre !== 'object' || pre === null)) throw badRequest('preconditions must be an object');
    const dryRun = isDryRun(req.query) || (Array.isArray(body?.dryRun) && body.dryRun.includes('All'));
    const deleted = await r.delete(ns, name!, { preconditions: pre, dryRun, ...auditOf(req) });
    return send(req, reply, r, deleted);
  }
  app.delete<{ Params: Params; Querystring: Query }>(item, deleteItem);
  app.delete<{ Params: Params; Querystring: Query }>(clusterItem, deleteItem);

  app.delete<{ Params: Params }>(`${BASE}/namespaces/:namespace/:plural`, async (req) => {
    registry(req.params.plural);
    throw methodNotAllowed('deletecollection is not supported: delete objects one by one (kubectl delete --all does)');
  });
}

/** Which patch a Content-Type asks for. Strategic merge is treated as a merge patch (our types carry no patch strategies). */
function patchType(contentType: string | undefined): 'merge' | 'json' {
  const ct = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (ct === 'application/merge-patch+json' || ct === 'application/strategic-merge-patch+json') return 'merge';
  if (ct === 'application/json-patch+json') return 'json';
  if (ct === 'application/apply-patch+yaml' || ct === 'application/apply-patch+cbor') {
    throw unsupportedMediaType(
      'server-side apply is not supported: use client-side apply (kubectl apply --server-side=false, the default) or a merge patch',
    );
  }
  throw unsupportedMediaType(
    `the patch Content-Type ${JSON.stringify(ct)} is not supported: use application/merge-patch+json, application/json-patch+json or application/strategic-merge-patch+json`,
  );
}

