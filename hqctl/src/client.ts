/**
 * hqctl's one door to the API server. `@kubernetes/client-node` lives here and nowhere else in
 * hqctl (as in the agent's client): the KubeConfig gives the server, CA and token, the
 * CustomObjectsApi does the verbs, Watch streams objects. Everything that comes over the wire is
 * checked against the schemas here, once, so the commands work with typed, validated objects.
 *
 * Two requests client-node has no call for go out through node:https with the KubeConfig's own
 * TLS and auth options: watches that ask for Table rows (client-node's Watch cannot set Accept)
 * and the instance's `/rendered` view.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { createInterface } from 'node:readline';
import {
  ApiException,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  Watch,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import {
  AuditEventListSchema,
  APITokenListSchema,
  APITokenSchema,
  JoinTokenListSchema,
  JoinTokenSchema,
  type APIToken,
  type JoinToken,
  type JoinTokenRequest,
  type TokenRequest,
  ClusterRoleBindingSchema,
  ClusterRoleSchema,
  RoleBindingSchema,
  RoleSchema,
  ConfigRevisionSchema,
  EventSchema,
  GROUP,
  HAProxyConfigSchema,
  HAProxyInstanceSchema,
  LeaseSchema,
  ListMetaSchema,
  ObjectMetaSchema,
  RenderedConfigSchema,
  VERSION,
  type AuditEventList,
  type RenderedConfig,
  SessionInfoSchema,
  UserListSchema,
  UserSchema,
  type CreateUserRequest,
  type PasswordChange,
  type SessionInfo,
  type User,
} from '@haproxyhq/schemas';
import { ApiError, CliError } from './errors.ts';
import type { Kind, KindTypes, Resource } from './resources.ts';

export interface ClientOptions {
  /** kubeconfig-style file (--kubeconfig, HQ_KUBECONFIG); else KUBECONFIG / ~/.kube/config. */
  kubeconfig?: string;
  /** Override the server URL and token, keeping the kubeconfig's CA when there is one. */
  server?: string;
  token?: string;
  /** PEM file of the CA to trust (--certificate-authority). */
  certificateAuthority?: string;
  insecureSkipTlsVerify?: boolean;
  /** Namespace (-n, HQ_NAMESPACE); else the context's; else "default". */
  namespace?: string;
}

/** Where a list or watch looks: one namespace, or every namespace when `namespace` is undefined. */
export interface ListOptions {
  namespace: string | undefined;
  labelSelector?: string;
  fieldSelector?: string;
}

export interface WatchOptions extends ListOptions {
  /** Start after this resourceVersion (the list's). */
  resourceVersion: string;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** A running watch: resumes by itself when the stream ends; `done` settles when it stops or fails. */
export interface RunningWatch {
  stop(): void;
  /** Resolves after stop(); rejects on an error (an ApiError with code 410 means: list again). */
  done: Promise<void>;
}

// --- Schemas of the wire formats the resource schemas do not cover --------------------------

const TableColumnSchema = Type.Object({
  name: Type.String(),
  type: Type.String(),
  format: Type.Optional(Type.String()),
  description: Type.Optional(Type.String()),
  priority: Type.Optional(Type.Integer()),
});

const TableRowSchema = Type.Object({
  cells: Type.Array(Type.Unknown()),
  object: Type.Optional(Type.Object({ metadata: Type.Optional(ObjectMetaSchema) })),
});

/** meta.k8s.io/v1 Table, as the server renders `as=Table`. */
export const TableSchema = Type.Object({
  kind: Type.Literal('Table'),
  apiVersion: Type.String(),
  metadata: Type.Optional(ListMetaSchema),
  columnDefinitions: Type.Array(TableColumnSchema),
  rows: Type.Array(TableRowSchema),
});
export type Table = Static<typeof TableSchema>;
export type TableColumn = Static<typeof TableColumnSchema>;
export type TableRow = Static<typeof TableRowSchema>;

const ListEnvelopeSchema = Type.Object({
  kind: Type.String(),
  metadata: Type.Optional(ListMetaSchema),
  items: Type.Array(Type.Unknown()),
});

const StatusBodySchema = Type.Object({
  kind: Type.Literal('Status'),
  reason: Type.Optional(Type.String()),
  message: Type.Optional(Type.String()),
  code: Type.Optional(Type.Integer()),
});

const WatchLineSchema = Type.Object({ type: Type.String(), object: Type.Unknown() });
const VersionSchema = Type.Object({ gitVersion: Type.String() }, { additionalProperties: true });
const MetadataOnlySchema = Type.Object({ metadata: Type.Object({ resourceVersion: Type.Optional(Type.String()) }) });

// --- Checking -------------------------------------------------------------------------------

const compiled = new Map<TSchema, TypeCheck<TSchema>>();

/** The schema's checker, compiled once: lists of thousands of instances stay cheap to check. */
function checker(schema: TSchema): TypeCheck<TSchema> {
  let c = compiled.get(schema);
  if (!c) {
    c = TypeCompiler.Compile(schema);
    compiled.set(schema, c);
  }
  return c;
}

function conforms<T extends TSchema>(schema: T, value: unknown): value is Static<T> {
  return checker(schema).Check(value);
}

function invalid(schema: TSchema, value: unknown, what: string): Error {
  const first = checker(schema).Errors(value).First();
  return new Error(`the server sent an invalid ${what}: ${first ? `${first.path || '/'}: ${first.message}` : 'schema mismatch'}`);
}

function expect<T extends TSchema>(schema: T, value: unknown, what: string): Static<T> {
  if (conforms(schema, value)) return value;
  throw invalid(schema, value, what);
}

const KIND_SCHEMAS: { [K in Kind]: TSchema } = {
  HAProxyInstance: HAProxyInstanceSchema,
  HAProxyConfig: HAProxyConfigSchema,
  ConfigRevision: ConfigRevisionSchema,
  Event: EventSchema,
  Lease: LeaseSchema,
  Role: RoleSchema,
  ClusterRole: ClusterRoleSchema,
  RoleBinding: RoleBindingSchema,
  ClusterRoleBinding: ClusterRoleBindingSchema,
};

/** One type guard per kind, so a generic caller gets the object type of its resource. */
const GUARDS: { [K in Kind]: (v: unknown) => v is KindTypes[K] } = {
  HAProxyInstance: (v): v is KindTypes['HAProxyInstance'] => conforms(HAProxyInstanceSchema, v),
  HAProxyConfig: (v): v is KindTypes['HAProxyConfig'] => conforms(HAProxyConfigSchema, v),
  ConfigRevision: (v): v is KindTypes['ConfigRevision'] => conforms(ConfigRevisionSchema, v),
  Event: (v): v is KindTypes['Event'] => conforms(EventSchema, v),
  Lease: (v): v is KindTypes['Lease'] => conforms(LeaseSchema, v),
  Role: (v): v is KindTypes['Role'] => conforms(RoleSchema, v),
  ClusterRole: (v): v is KindTypes['ClusterRole'] => conforms(ClusterRoleSchema, v),
  RoleBinding: (v): v is KindTypes['RoleBinding'] => conforms(RoleBindingSchema, v),
  ClusterRoleBinding: (v): v is KindTypes['ClusterRoleBinding'] => conforms(ClusterRoleBindingSchema, v),
};

function checkObject<K extends Kind>(r: Resource<K>, value: unknown): KindTypes[K] {
  const guard: (v: unknown) => v is KindTypes[K] = GUARDS[r.kind];
  if (guard(value)) return value;
  const name = typeof value === 'object' && value !== null && 'metadata' in value && conforms(ObjectMetaSchema, value.metadata) ? ` "${value.metadata.name}"` : '';
  throw invalid(KIND_SCHEMAS[r.kind], value, `${r.kind}${name}`);
}

// --- Errors ---------------------------------------------------------------------------------

function statusOf(code: number, body: unknown): ApiError {
  let parsed: unknown = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      parsed = undefined;
    }
  }
  if (conforms(StatusBodySchema, parsed)) {
    return new ApiError(code, parsed.reason || 'Unknown', parsed.message || `HTTP ${code}`);
  }
  if (code === 401) return new ApiError(401, 'Unauthorized', 'Unauthorized: the token was refused (check --token or the kubeconfig)');
  return new ApiError(code, 'Unknown', `the server answered HTTP ${code}${typeof body === 'string' && body ? `: ${body.slice(0, 200)}` : ''}`);
}

/** A transport error as kubectl words it, naming the server. */
function transportError(err: unknown, server: string): Error | undefined {
  const codes: string[] = [];
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = 'code' in e ? e.code : undefined;
    if (typeof code === 'string') codes.push(code);
  }
  if (codes.includes('ECONNREFUSED')) return new CliError(`the connection to the server ${server} was refused - is the API server running, and is this its address?`);
  if (codes.includes('ENOTFOUND') || codes.includes('EAI_AGAIN')) return new CliError(`the server ${server} cannot be resolved (DNS)`);
  const tls = codes.find((c) => /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(c));
  if (tls) return new CliError(`TLS: the certificate of ${server} is not trusted (${tls}): use the kubeconfig the server wrote, or --certificate-authority`);
  if (codes.includes('ECONNRESET') || codes.includes('UND_ERR_SOCKET')) return new CliError(`the connection to the server ${server} was reset`);
  return undefined;
}

// --- Configuration --------------------------------------------------------------------------

/** The KubeConfig for these options, or a CliError that says how to point hqctl at a server. */
export function loadKubeConfig(options: ClientOptions): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (options.kubeconfig) kc.loadFromFile(options.kubeconfig);
    else if (!(options.server && options.token)) kc.loadFromDefault();
  } catch (err) {
    throw new CliError(`cannot load kubeconfig${options.kubeconfig ? ` ${options.kubeconfig}` : ''}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const cluster = kc.getCurrentCluster();
  const user = kc.getCurrentUser();
  const overridden = options.server || options.token || options.certificateAuthority || options.insecureSkipTlsVerify;
  if (overridden) {
    kc.loadFromOptions({
      clusters: [
        {
          ...(cluster ?? {}),
          name: 'hq',
          server: options.server ?? cluster?.server ?? '',
          ...(options.certificateAuthority ? { caFile: options.certificateAuthority, caData: undefined } : {}),
          skipTLSVerify: options.insecureSkipTlsVerify ?? cluster?.skipTLSVerify ?? false,
        },
      ],
      users: [{ ...(user ?? {}), name: 'hq', token: options.token ?? user?.token }],
      contexts: [{ name: 'hq', cluster: 'hq', user: 'hq', namespace: kc.getContextObject(kc.getCurrentContext())?.namespace }],
      currentContext: 'hq',
    });
  }
  const server = kc.getCurrentCluster()?.server;
  // client-node's last resort is http://localhost:8080 with no credentials: never what anyone meant.
  if (!server || (!options.kubeconfig && !overridden && !kc.getCurrentUser()?.token && server === 'http://localhost:8080')) {
    throw new CliError(
      'no API server configured: pass --kubeconfig (the server writes one to its data dir, .hq/kubeconfig for make run), set HQ_KUBECONFIG or KUBECONFIG, or pass --server and --token',
    );
  }
  return kc;
}

// --- The client -----------------------------------------------------------------------------

export interface HQClient {
  /** The namespace commands act in when none is given. */
  readonly namespace: string;
  readonly server: string;
  list<K extends Kind>(r: Resource<K>, opts: ListOptions): Promise<{ items: KindTypes[K][]; resourceVersion: string }>;
  /** The server's Table for a list (or one object when `name` is set), with its printer columns. */
  /** A Table of the objects (`wholeObjects`: each row carries its whole object, for --sort-by). */
  table(r: Resource, opts: ListOptions & { name?: string; wholeObjects?: boolean }): Promise<Table>;
  get<K extends Kind>(r: Resource<K>, namespace: string, name: string): Promise<KindTypes[K]>;
  create<K extends Kind>(r: Resource<K>, namespace: string, body: object, dryRun?: boolean): Promise<KindTypes[K]>;
  /** PUT: metadata.resourceVersion in the body is the optimistic-concurrency precondition. */
  replace<K extends Kind>(r: Resource<K>, namespace: string, name: string, body: object, dryRun?: boolean): Promise<KindTypes[K]>;
  mergePatch<K extends Kind>(r: Resource<K>, namespace: string, name: string, patch: object): Promise<KindTypes[K]>;
  delete(r: Resource, namespace: string, name: string): Promise<void>;
  /** Watch objects; resumes from the last resourceVersion when the server or client-node ends the stream. */
  watch<K extends Kind>(r: Resource<K>, opts: WatchOptions, onEvent: (type: WatchEventType, obj: KindTypes[K]) => void): RunningWatch;
  /** Watch Table rows (kubectl get -w); the first event's Table carries the column definitions. */
  watchTable(r: Resource, opts: WatchOptions, onEvent: (type: WatchEventType, table: Table) => void): RunningWatch;
  /** The config an instance runs (or would run from `revision`), templates filled in by the server. */
  rendered(namespace: string, name: string, revision?: string): Promise<RenderedConfig>;
  /** The server's /version gitVersion. */
  serverVersion(): Promise<string>;
  /** One page of the audit log (GET .../auditevents with these query parameters). */
  auditEvents(query: AuditQuery): Promise<AuditEventList>;
  /** A new API token (its secret is in the answer, and never again). */
  createToken(req: TokenRequest): Promise<APIToken>;
  /** Every working API token, by id (never secrets). */
  listTokens(): Promise<APIToken[]>;
  /** Revoke an API token by its id. */
  revokeToken(id: string): Promise<APIToken>;
  /** A new join token for agents enrolling into `namespace` (its secret is in the answer). */
  createJoinToken(namespace: string, req: JoinTokenRequest): Promise<JoinToken>;
  listJoinTokens(namespace: string): Promise<JoinToken[]>;
  deleteJoinToken(namespace: string, id: string): Promise<JoinToken>;
  /** Revoke every credential of an instance's agent; returns those revoked. */
  revokeAgent(namespace: string, name: string): Promise<APIToken[]>;
  /** PEM of the CA the kubeconfig trusts for this server, when it names one. */
  certificateAuthority(): string | undefined;
  /** Users (people who sign in to the console with a password); never their hashes. */
  createUser(req: CreateUserRequest): Promise<User>;
  listUsers(): Promise<User[]>;
  getUser(name: string): Promise<User>;
  deleteUser(name: string): Promise<void>;
  /** Replace a user as read (its resourceVersion a precondition): only its groups change. */
  updateUser(user: User): Promise<User>;
  /** Set a user's password: your own with currentPassword, anyone's for an admin. */
  changePassword(name: string, change: PasswordChange): Promise<User>;
  /** Who the server takes this client's credentials for (GET /session). */
  whoAmI(): Promise<SessionInfo>;
}

/** The audit log's query parameters (undefined: not sent). */
export interface AuditQuery {
  user?: string;
  namespace?: string;
  resource?: string;
  name?: string;
  verb?: string;
  sinceTime?: string;
  limit?: string;
  continue?: string;
  order?: 'asc' | 'desc';
}

/** Pause before reopening a watch stream that ended normally. */
const RESUME_DELAY_MS = 200;
const TABLE_ACCEPT = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json';
const BASE = `/apis/${GROUP}/${VERSION}`;

export function createClient(options: ClientOptions): HQClient {
  const kc = loadKubeConfig(options);
  const api = kc.makeApiClient(CustomObjectsApi);
  const server = kc.getCurrentCluster()!.server;
  const namespace = options.namespace || kc.getContextObject(kc.getCurrentContext())?.namespace || 'default';
  const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  const asTable = setHeaderOptions('Accept', TABLE_ACCEPT);

  async function call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ApiException) throw statusOf(err.code, err.body);
      throw transportError(err, server) ?? err;
    }
  }

  // Cluster-wide kinds (ClusterRole, ClusterRoleBinding) have no namespace in their paths.
  const listPath = (r: Resource, ns: string | undefined) =>
    ns === undefined || !r.descriptor.namespaced ? `${BASE}/${r.plural}` : `${BASE}/namespaces/${ns}/${r.plural}`;
  const cluster = (r: Resource) => !r.descriptor.namespaced;

  /** One request outside client-node, with the KubeConfig's CA and token; resolves on the response headers. */
  async function raw(path: string, query: Record<string, string | undefined>, accept: string, method = 'GET', body?: object): Promise<IncomingMessage> {
    const url = new URL(server + path);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, v);
    const opts: RequestOptions = { method, headers: {} };
    await kc.applyToHTTPSOptions(opts);
    opts.headers = { ...opts.headers, accept, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) };
    const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, opts, resolve);
      req.on('error', (err) => reject(transportError(err, server) ?? err));
      req.end(body !== undefined ? JSON.stringify(body) : undefined);
    });
  }

  async function readBody(res: IncomingMessage): Promise<string> {
    res.setEncoding('utf8');
    let text = '';
    for await (const chunk of res) text += chunk;
    return text;
  }

  /** One JSON request outside client-node (the credential routes have no call there): the parsed answer, or the Status as an ApiError. */
  async function json(method: string, path: string, body?: object): Promise<unknown> {
    const res = await raw(path, {}, 'application/json', method, body);
    const text = await readBody(res);
    if (res.statusCode === undefined || res.statusCode >= 300) throw statusOf(res.statusCode ?? 500, text);
    return parseJson(text);
  }

  /**
   * The resume-on-end loop both watches share. `open` starts one stream from a resourceVersion
   * and calls back per line; a stream that ends without error is reopened from the last
   * resourceVersion seen (client-node ends a watch idle for 30 s; the server ends them after
   * 30-60 minutes, as kube-apiserver does).
   */
  function resumingWatch(
    startRv: string,
    open: (rv: string, onLine: (type: string, object: unknown) => void, onEnd: (err: Error | undefined) => void) => Promise<() => void>,
    onObject: (type: WatchEventType, object: unknown) => void,
  ): RunningWatch {
    let rv = startRv;
    let stopped = false;
    let abort: (() => void) | undefined;
    let settle: { resolve(): void; reject(err: Error): void };
    const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    const fail = (err: Error) => {
      if (stopped) return;
      stopped = true;
      abort?.();
      settle.reject(err);
    };
    const start = () => {
      if (stopped) return;
      open(
        rv,
        (type, object) => {
          if (stopped) return;
          if (type === 'ERROR') return fail(statusOf(conforms(StatusBodySchema, object) && object.code ? object.code : 500, object));
          if (conforms(MetadataOnlySchema, object) && object.metadata.resourceVersion) rv = object.metadata.resourceVersion;
          if (type === 'BOOKMARK') return;
          if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') return;
          try {
            onObject(type, object);
          } catch (err) {
            fail(err instanceof Error ? err : new Error(String(err)));
          }
        },
        (err) => {
          if (stopped) return;
          if (err && !(err instanceof DOMException && err.name === 'TimeoutError')) return fail(err);
          // A short pause, so a server that keeps ending streams at once is not hammered.
          setTimeout(start, RESUME_DELAY_MS);
        },
      ).then(
        (a) => {
          abort = a;
          if (stopped) a();
        },
        (err: unknown) => fail(err instanceof Error ? err : new Error(String(err))),
      );
    };
    start();
    return {
      stop() {
        if (stopped) return;
        stopped = true;
        abort?.();
        settle.resolve();
      },
      done,
    };
  }

  return {
    namespace,
    server,

    async list(r, opts) {
      const q = { group: GROUP, version: VERSION, labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector };
      const body = await call(() =>
        cluster(r)
          ? api.listClusterCustomObject({ ...q, plural: r.plural })
          : opts.namespace === undefined
            ? api.listCustomObjectForAllNamespaces({ ...q, resourcePlural: r.plural })
            : api.listNamespacedCustomObject({ ...q, namespace: opts.namespace, plural: r.plural }),
      );
      const list = expect(ListEnvelopeSchema, body, `${r.kind}List`);
      return { items: list.items.map((item) => checkObject(r, item)), resourceVersion: list.metadata?.resourceVersion ?? '0' };
    },

    async table(r, opts) {
      const q = { group: GROUP, version: VERSION };
      let body: unknown;
      if (opts.wholeObjects) {
        // client-node's calls have no includeObject.
        const path = opts.name !== undefined ? `${listPath(r, opts.namespace ?? namespace)}/${encodeURIComponent(opts.name)}` : listPath(r, opts.namespace);
        const res = await raw(path, { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector, includeObject: 'Object' }, TABLE_ACCEPT);
        const text = await readBody(res);
        if (res.statusCode !== 200) throw statusOf(res.statusCode ?? 500, text);
        body = parseJson(text);
      } else if (opts.name !== undefined && cluster(r)) {
        body = await call(() => api.getClusterCustomObject({ ...q, plural: r.plural, name: opts.name! }, asTable));
      } else if (opts.name !== undefined) {
        body = await call(() => api.getNamespacedCustomObject({ ...q, namespace: opts.namespace ?? namespace, plural: r.plural, name: opts.name! }, asTable));
      } else if (cluster(r)) {
        body = await call(() => api.listClusterCustomObject({ ...q, plural: r.plural, labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector }, asTable));
      } else if (opts.namespace === undefined) {
        body = await call(() =>
          api.listCustomObjectForAllNamespaces({ ...q, resourcePlural: r.plural, labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector }, asTable),
        );
      } else {
        body = await call(() =>
          api.listNamespacedCustomObject(
            { ...q, namespace: opts.namespace!, plural: r.plural, labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector },
            asTable,
          ),
        );
      }
      return expect(TableSchema, body, 'Table');
    },

    async get(r, ns, name) {
      const body = await call(() =>
        cluster(r)
          ? api.getClusterCustomObject({ group: GROUP, version: VERSION, plural: r.plural, name })
          : api.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: r.plural, name }),
      );
      return checkObject(r, body);
    },

    async create(r, ns, body, dryRun) {
      const dry = dryRun ? 'All' : undefined;
      const out = await call(() =>
        cluster(r)
          ? api.createClusterCustomObject({ group: GROUP, version: VERSION, plural: r.plural, body, dryRun: dry })
          : api.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: r.plural, body, dryRun: dry }),
      );
      return checkObject(r, out);
    },

    async replace(r, ns, name, body, dryRun) {
      const dry = dryRun ? 'All' : undefined;
      const out = await call(() =>
        cluster(r)
          ? api.replaceClusterCustomObject({ group: GROUP, version: VERSION, plural: r.plural, name, body, dryRun: dry })
          : api.replaceNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: r.plural, name, body, dryRun: dry }),
      );
      return checkObject(r, out);
    },

    async mergePatch(r, ns, name, patch) {
      const out = await call(() =>
        cluster(r)
          ? api.patchClusterCustomObject({ group: GROUP, version: VERSION, plural: r.plural, name, body: patch }, mergePatch)
          : api.patchNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: r.plural, name, body: patch }, mergePatch),
      );
      return checkObject(r, out);
    },

    async delete(r, ns, name) {
      await call(() =>
        cluster(r)
          ? api.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: r.plural, name })
          : api.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: r.plural, name }),
      );
    },

    watch(r, opts, onEvent) {
      const w = new Watch(kc);
      return resumingWatch(
        opts.resourceVersion,
        async (rv, onLine, onEnd) => {
          const controller = await w.watch(
            listPath(r, opts.namespace),
            { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector, resourceVersion: rv, allowWatchBookmarks: true },
            (phase: string, obj: unknown) => onLine(phase, obj),
            (err: unknown) => {
              if (err === null || err === undefined) return onEnd(undefined);
              if (err instanceof DOMException) return onEnd(err);
              // client-node reports a non-200 answer as an Error with statusCode and no body.
              const code = typeof err === 'object' && 'statusCode' in err && typeof err.statusCode === 'number' ? err.statusCode : undefined;
              if (code !== undefined) return onEnd(new ApiError(code, code === 410 ? 'Expired' : 'Unknown', `watch refused with HTTP ${code}`));
              onEnd(transportError(err, server) ?? (err instanceof Error ? err : new Error(String(err))));
            },
          );
          return () => controller.abort();
        },
        (type, obj) => onEvent(type, checkObject(r, obj)),
      );
    },

    watchTable(r, opts, onEvent) {
      return resumingWatch(
        opts.resourceVersion,
        async (rv, onLine, onEnd) => {
          const res = await raw(
            listPath(r, opts.namespace),
            { watch: 'true', labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector, resourceVersion: rv, allowWatchBookmarks: 'true' },
            TABLE_ACCEPT,
          );
          if (res.statusCode !== 200) {
            onEnd(statusOf(res.statusCode ?? 500, await readBody(res)));
            return () => {};
          }
          let ended = false;
          const end = (err: Error | undefined) => {
            if (ended) return;
            ended = true;
            onEnd(err);
          };
          const lines = createInterface({ input: res });
          lines.on('line', (line) => {
            if (line.trim() === '') return;
            let parsed: unknown;
            try {
              parsed = JSON.parse(line);
            } catch {
              return end(new Error(`the server sent a watch line that is not JSON: ${line.slice(0, 200)}`));
            }
            if (!conforms(WatchLineSchema, parsed)) return end(invalid(WatchLineSchema, parsed, 'watch event'));
            onLine(parsed.type, parsed.object);
          });
          res.on('error', (err) => end(transportError(err, server) ?? err));
          res.on('end', () => end(undefined));
          return () => {
            ended = true;
            res.destroy();
          };
        },
        (type, obj) => onEvent(type, expect(TableSchema, obj, 'Table')),
      );
    },

    async rendered(ns, name, revision) {
      const res = await raw(`${BASE}/namespaces/${ns}/haproxyinstances/${encodeURIComponent(name)}/rendered`, { revision }, 'application/json');
      const text = await readBody(res);
      if (res.statusCode !== 200) throw statusOf(res.statusCode ?? 500, text);
      return expect(RenderedConfigSchema, parseJson(text), 'RenderedConfig');
    },

    async serverVersion() {
      const res = await raw('/version', {}, 'application/json');
      const text = await readBody(res);
      if (res.statusCode !== 200) throw statusOf(res.statusCode ?? 500, text);
      return expect(VersionSchema, parseJson(text), 'version').gitVersion;
    },

    async auditEvents(query) {
      const res = await raw(`${BASE}/auditevents`, { ...query }, 'application/json');
      const text = await readBody(res);
      if (res.statusCode !== 200) throw statusOf(res.statusCode ?? 500, text);
      return expect(AuditEventListSchema, parseJson(text), 'AuditEventList');
    },

    async createToken(req) {
      return expect(APITokenSchema, await json('POST', `${BASE}/tokens`, req), 'APIToken');
    },

    async listTokens() {
      return expect(APITokenListSchema, await json('GET', `${BASE}/tokens`), 'APITokenList').items;
    },

    async revokeToken(id) {
      return expect(APITokenSchema, await json('DELETE', `${BASE}/tokens/${encodeURIComponent(id)}`), 'APIToken');
    },

    async createJoinToken(ns, req) {
      return expect(JoinTokenSchema, await json('POST', `${BASE}/namespaces/${ns}/jointokens`, req), 'JoinToken');
    },

    async listJoinTokens(ns) {
      return expect(JoinTokenListSchema, await json('GET', `${BASE}/namespaces/${ns}/jointokens`), 'JoinTokenList').items;
    },

    async deleteJoinToken(ns, id) {
      return expect(JoinTokenSchema, await json('DELETE', `${BASE}/namespaces/${ns}/jointokens/${encodeURIComponent(id)}`), 'JoinToken');
    },

    async revokeAgent(ns, name) {
      const path = `${BASE}/namespaces/${ns}/haproxyinstances/${encodeURIComponent(name)}/credentials`;
      return expect(APITokenListSchema, await json('DELETE', path), 'APITokenList').items;
    },

    async createUser(req) {
      return expect(UserSchema, await json('POST', `${BASE}/users`, req), 'User');
    },

    async listUsers() {
      return expect(UserListSchema, await json('GET', `${BASE}/users`), 'UserList').items;
    },

    async getUser(name) {
      return expect(UserSchema, await json('GET', `${BASE}/users/${encodeURIComponent(name)}`), 'User');
    },

    async deleteUser(name) {
      await json('DELETE', `${BASE}/users/${encodeURIComponent(name)}`);
    },

    async updateUser(user) {
      return expect(UserSchema, await json('PUT', `${BASE}/users/${encodeURIComponent(user.metadata.name)}`, user), 'User');
    },

    async changePassword(name, change) {
      return expect(UserSchema, await json('PUT', `${BASE}/users/${encodeURIComponent(name)}/password`, change), 'User');
    },

    async whoAmI() {
      return expect(SessionInfoSchema, await json('GET', '/session'), 'Session');
    },

    certificateAuthority() {
      const cluster = kc.getCurrentCluster();
      if (cluster?.caData) return Buffer.from(cluster.caData, 'base64').toString('utf8');
      if (cluster?.caFile) {
        try {
          return readFileSync(cluster.caFile, 'utf8');
        } catch {
          return undefined;
        }
      }
      return undefined;
    },
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`the server sent a body that is not JSON: ${text.slice(0, 200)}`);
  }
}
