/**
 * The agent's one door to the API server. `@kubernetes/client-node` lives here and nowhere else
 * in the agent; everything that comes over the wire is checked against the schemas once, here,
 * so the rest of the agent works with typed, validated objects.
 */
import { statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import {
  ApiException,
  CustomObjectsApi,
  KubeConfig,
  Observable,
  PatchStrategy,
  Watch,
  setHeaderOptions,
  type ConfigurationOptions,
  type ObservableMiddleware,
} from '@kubernetes/client-node';
import { Value } from '@sinclair/typebox/value';
import type { Static, TSchema } from '@sinclair/typebox';
import {
  ConfigRevisionSchema,
  EnrollmentSchema,
  GROUP,
  HAProxyConfigSchema,
  HAProxyInstanceSchema,
  ListSchema,
  VERSION,
  type ConfigRevision,
  type Enrollment,
  type HAProxyConfig,
  type HAProxyInstance,
  type HAProxyInstanceStatus,
  type HQEvent,
} from '@haproxyhq/schemas';

export interface ClientOptions {
  /** kubeconfig-style file; else KUBECONFIG / default loading. */
  kubeconfig?: string;
  /** Override the server URL and token (with the CA from the kubeconfig, if any). */
  server?: string;
  token?: string;
  /** PEM file of the CA to trust for the server, over the kubeconfig's. */
  certificateAuthority?: string;
  /** Longest a request (not a watch) may wait for its answer (default 30 s, as requestJson). */
  requestTimeoutMs?: number;
  /** Longest a watch may go without an event or BOOKMARK before it is given up (default 3 min). */
  watchSilenceMs?: number;
}

/** The default of ClientOptions.requestTimeoutMs and requestJson's timeout. */
export const REQUEST_TIMEOUT_MS = 30_000;

/**
 * The default of ClientOptions.watchSilenceMs. The API server sends a watch with bookmarks a
 * BOOKMARK at least every minute, however quiet the store: three missed in a row mean the
 * connection is gone without a word (its host down, a NAT or firewall that dropped it), which TCP
 * alone may not notice for hours. The watch is then ended and resumed from its resourceVersion.
 */
export const WATCH_SILENCE_MS = 180_000;

/**
 * client-node call options that give up after `ms`. Without them a server that stops answering
 * without closing the connection (its host gone, packets dropped) holds the call, and with it
 * the reconcile pass, for undici's 5-minute header timeout: no drift report, no apply meanwhile.
 */
function withDeadline(ms: number, opt?: ConfigurationOptions<ObservableMiddleware>): ConfigurationOptions<ObservableMiddleware> {
  const deadline: ObservableMiddleware = {
    pre: (ctx) => {
      ctx.setSignal(AbortSignal.timeout(ms));
      return new Observable(Promise.resolve(ctx));
    },
    post: (res) => new Observable(Promise.resolve(res)),
  };
  return { ...opt, middleware: [...(opt?.middleware ?? []), deadline], middlewareMergeStrategy: 'append' };
}

/** An API error with the server's Status reason and message. */
export class ApiError extends Error {
  readonly code: number;
  readonly reason: string;
  constructor(code: number, reason: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.reason = reason;
  }
}

/** A non-2xx answer as an ApiError carrying the server's Status reason and message. */
export function statusError(code: number, body: unknown): ApiError {
  const st = body as { reason?: unknown; message?: unknown } | undefined;
  return new ApiError(code, typeof st?.reason === 'string' ? st.reason : 'Unknown', typeof st?.message === 'string' ? st.message : `HTTP ${code}`);
}

/**
 * One JSON request outside client-node, for the two calls it cannot make: enrollment (no
 * credential yet) and the credentials subresource POST. Resolves with the status and the parsed
 * body (undefined when it is not JSON); transport errors and the timeout reject.
 */
export function requestJson(url: URL, opts: RequestOptions, body?: string, timeoutMs = REQUEST_TIMEOUT_MS): Promise<{ status: number; body: unknown }> {
  const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
  const headers = { ...opts.headers, accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {}) };
  return new Promise((resolve, reject) => {
    const req = send(url, { ...opts, headers, timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        resolve({ status: res.statusCode ?? 500, body: parsed });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url.origin} within ${timeoutMs / 1000} s`)));
    req.on('error', reject);
    req.end(body);
  });
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface InstanceWatchHandlers {
  onEvent(type: WatchEventType, instance: HAProxyInstance | undefined, resourceVersion: string | undefined): void;
  /** The stream ended: undefined for a normal close, an ApiError (410 = re-list) or a transport error. */
  onDone(err: Error | undefined): void;
}

export interface HQClient {
  readonly namespace: string;
  readonly server: string;
  getInstance(name: string): Promise<HAProxyInstance | undefined>;
  /**
   * The instance and the store's current revision, from a list by name: after a 410, a watch
   * resumes from the list's revision (as client-go's reflector does), never from the object's
   * own resourceVersion, which may itself be older than the kept history.
   */
  listInstance(name: string): Promise<{ instance?: HAProxyInstance; resourceVersion: string }>;
  createInstance(instance: HAProxyInstance): Promise<HAProxyInstance>;
  patchInstance(name: string, patch: object): Promise<HAProxyInstance>;
  /** Merge-patch /status (the only way the agent writes status). */
  patchInstanceStatus(name: string, status: Partial<HAProxyInstanceStatus> | Record<string, unknown>): Promise<HAProxyInstance>;
  getRevision(name: string): Promise<ConfigRevision | undefined>;
  getConfig(name: string): Promise<HAProxyConfig | undefined>;
  patchConfig(name: string, patch: object): Promise<HAProxyConfig>;
  createEvent(event: Omit<HQEvent, 'apiVersion' | 'kind'>): Promise<void>;
  /** Renew (creating it if needed) the small Lease that says this agent is alive. One request when it exists. */
  renewLease(name: string, holder: string, durationSeconds: number, now: Date): Promise<void>;
  /** Watch one instance by name from resourceVersion (exclusive). Returns a function that stops it. */
  watchInstance(name: string, resourceVersion: string, handlers: InstanceWatchHandlers): Promise<() => void>;
  /** A new credential for this agent's instance; the old one stops working after the server's grace period. */
  rotateCredentials(name: string): Promise<Enrollment>;
  /** The kubeconfig file it was loaded from, with the current user's token replaced (for writing back after a rotation). */
  kubeconfigWithToken(token: string): string;
}

const InstanceListSchema = ListSchema('HAProxyInstance', HAProxyInstanceSchema);

const PLURALS = { instance: 'haproxyinstances', config: 'haproxyconfigs', revision: 'configrevisions', event: 'events', lease: 'leases' } as const;

function check<T>(schema: TSchema, value: unknown, what: string): T {
  if (!Value.Check(schema, value)) {
    const first = Value.Errors(schema, value).First();
    throw new Error(`the server sent an invalid ${what}: ${first ? `${first.path}: ${first.message}` : 'schema mismatch'}`);
  }
  return value as T;
}

/** Turn client-node's ApiException (body = Status JSON) into an ApiError naming the cause. */
function toApiError(err: unknown): unknown {
  if (!(err instanceof ApiException)) return err;
  let reason = 'Unknown';
  let message = `HTTP ${err.code}`;
  try {
    const status = JSON.parse(String(err.body)) as { reason?: unknown; message?: unknown };
    if (typeof status.reason === 'string') reason = status.reason;
    if (typeof status.message === 'string') message = status.message;
  } catch {
    // Not a Status: keep the HTTP code.
  }
  return new ApiError(err.code, reason, message);
}

async function callOnce<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toApiError(err);
  }
}

const mtimeOf = (path: string | undefined) => {
  if (!path) return undefined;
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
};

export function loadKubeConfig(options: ClientOptions): KubeConfig {
  const kc = new KubeConfig();
  if (options.kubeconfig) kc.loadFromFile(options.kubeconfig);
  else kc.loadFromDefault();
  if (options.server || options.token || options.certificateAuthority) {
    const cluster = kc.getCurrentCluster();
    const user = kc.getCurrentUser();
    kc.loadFromOptions({
      clusters: [
        {
          ...(cluster ?? { skipTLSVerify: false }),
          name: 'hq',
          server: options.server ?? cluster?.server ?? '',
          ...(options.certificateAuthority ? { caFile: options.certificateAuthority, caData: undefined } : {}),
        },
      ],
      users: [{ ...(user ?? {}), name: 'hq', token: options.token ?? user?.token }],
      contexts: [{ name: 'hq', cluster: 'hq', user: 'hq', namespace: kc.getContextObject(kc.getCurrentContext())?.namespace }],
      currentContext: 'hq',
    });
  }
  if (!kc.getCurrentCluster()?.server) {
    throw new Error('no API server configured: pass --kubeconfig (the file the server writes to its data dir) or --server and --token');
  }
  return kc;
}

export function createClient(options: ClientOptions & { namespace?: string }): HQClient {
  const kc = loadKubeConfig(options);
  const api = kc.makeApiClient(CustomObjectsApi);
  const namespace = options.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
  const timeoutMs = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  const silenceMs = options.watchSilenceMs ?? WATCH_SILENCE_MS;
  const plain = withDeadline(timeoutMs);
  const mergePatch = withDeadline(timeoutMs, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  const base = { group: GROUP, version: VERSION, namespace };

  // A credential rotated by `hq-agent rotate-credentials` (or a kubeconfig replaced by hand) is
  // picked up without a restart: on a 401, the kubeconfig is read again if the file changed.
  let loadedMtime = mtimeOf(options.kubeconfig);
  const reload = (): boolean => {
    if (!options.kubeconfig || options.token) return false;
    const m = mtimeOf(options.kubeconfig);
    if (m === undefined || m === loadedMtime) return false;
    try {
      const fresh = loadKubeConfig(options);
      kc.loadFromOptions({ clusters: fresh.clusters, users: fresh.users, contexts: fresh.contexts, currentContext: fresh.currentContext });
    } catch {
      return false;
    }
    loadedMtime = m;
    return true;
  };
  // A call that ran out of time says so, and where to.
  const once = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await callOnce(fn);
    } catch (err) {
      if ((err as Error | undefined)?.name !== 'TimeoutError') throw err;
      throw new Error(`no answer from ${kc.getCurrentCluster()!.server} within ${timeoutMs / 1000} s`, { cause: err });
    }
  };
  const call = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await once(fn);
    } catch (err) {
      if (err instanceof ApiError && err.code === 401 && reload()) return once(fn);
      throw err;
    }
  };
  const notFoundIsUndefined = async <T>(fn: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await call(fn);
    } catch (err) {
      if (err instanceof ApiError && err.code === 404) return undefined;
      throw err;
    }
  };

  return {
    namespace,
    server: kc.getCurrentCluster()!.server,
    async getInstance(name) {
      const obj = await notFoundIsUndefined(() => api.getNamespacedCustomObject({ ...base, plural: PLURALS.instance, name }, plain));
      return obj === undefined ? undefined : check<HAProxyInstance>(HAProxyInstanceSchema, obj, 'HAProxyInstance');
    },
    async listInstance(name) {
      const list = await call(() => api.listNamespacedCustomObject({ ...base, plural: PLURALS.instance, fieldSelector: `metadata.name=${name}` }, plain));
      const checked = check<Static<typeof InstanceListSchema>>(InstanceListSchema, list, 'HAProxyInstanceList');
      return { instance: checked.items[0], resourceVersion: checked.metadata.resourceVersion ?? '0' };
    },
    async createInstance(instance) {
      const obj = await call(() => api.createNamespacedCustomObject({ ...base, plural: PLURALS.instance, body: instance }, plain));
      return check<HAProxyInstance>(HAProxyInstanceSchema, obj, 'HAProxyInstance');
    },
    async patchInstance(name, patch) {
      const obj = await call(() => api.patchNamespacedCustomObject({ ...base, plural: PLURALS.instance, name, body: patch }, mergePatch));
      return check<HAProxyInstance>(HAProxyInstanceSchema, obj, 'HAProxyInstance');
    },
    async patchInstanceStatus(name, status) {
      const obj = await call(() =>
        api.patchNamespacedCustomObjectStatus({ ...base, plural: PLURALS.instance, name, body: { status } }, mergePatch),
      );
      return check<HAProxyInstance>(HAProxyInstanceSchema, obj, 'HAProxyInstance');
    },
    async getRevision(name) {
      const obj = await notFoundIsUndefined(() => api.getNamespacedCustomObject({ ...base, plural: PLURALS.revision, name }, plain));
      return obj === undefined ? undefined : check<ConfigRevision>(ConfigRevisionSchema, obj, 'ConfigRevision');
    },
    async getConfig(name) {
      const obj = await notFoundIsUndefined(() => api.getNamespacedCustomObject({ ...base, plural: PLURALS.config, name }, plain));
      return obj === undefined ? undefined : check<HAProxyConfig>(HAProxyConfigSchema, obj, 'HAProxyConfig');
    },
    async patchConfig(name, patch) {
      const obj = await call(() => api.patchNamespacedCustomObject({ ...base, plural: PLURALS.config, name, body: patch }, mergePatch));
      return check<HAProxyConfig>(HAProxyConfigSchema, obj, 'HAProxyConfig');
    },
    async createEvent(event) {
      await call(() =>
        api.createNamespacedCustomObject({
          ...base,
          plural: PLURALS.event,
          body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'Event', ...event },
        }, plain),
      );
    },
    async renewLease(name, holder, durationSeconds, now) {
      const stamp = now.toISOString().replace(/\.\d+Z$/, 'Z');
      const spec = { holderIdentity: holder, leaseDurationSeconds: durationSeconds, renewTime: stamp };
      try {
        await call(() => api.patchNamespacedCustomObject({ ...base, plural: PLURALS.lease, name, body: { spec } }, mergePatch));
      } catch (err) {
        if (!(err instanceof ApiError && err.code === 404)) throw err;
        await call(() =>
          api.createNamespacedCustomObject({
            ...base,
            plural: PLURALS.lease,
            body: {
              apiVersion: `${GROUP}/${VERSION}`,
              kind: 'Lease',
              metadata: { name, labels: { 'haproxyhq.io/instance': name } },
              spec: { ...spec, acquireTime: stamp, leaseTransitions: 0 },
            },
          }, plain),
        );
      }
    },
    async watchInstance(name, resourceVersion, handlers) {
      const watch = new Watch(kc);
      const path = `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURALS.instance}`;
      let stopped = false;
      let silence: NodeJS.Timeout | undefined;
      const end = (err: Error | undefined) => {
        stopped = true;
        clearTimeout(silence);
        handlers.onDone(err);
      };
      const heard = () => {
        clearTimeout(silence);
        silence = setTimeout(() => {
          if (stopped) return;
          end(new Error(`no event or bookmark from ${kc.getCurrentCluster()?.server} in ${silenceMs / 1000} s: the connection is taken for dead`));
          controller.abort();
        }, silenceMs);
        silence.unref();
      };
      const controller = await watch.watch(
        path,
        { fieldSelector: `metadata.name=${name}`, resourceVersion, allowWatchBookmarks: true },
        (phase, obj: unknown) => {
          if (stopped) return;
          heard();
          const type = phase as WatchEventType;
          if (type === 'ERROR') {
            const status = obj as { code?: unknown; reason?: unknown; message?: unknown };
            end(new ApiError(Number(status.code) || 500, String(status.reason ?? 'Unknown'), String(status.message ?? 'watch error')));
            controller.abort();
            return;
          }
          const rv = (obj as { metadata?: { resourceVersion?: unknown } }).metadata?.resourceVersion;
          const resourceVersion = typeof rv === 'string' ? rv : undefined;
          if (type === 'BOOKMARK') return handlers.onEvent(type, undefined, resourceVersion);
          handlers.onEvent(type, check<HAProxyInstance>(HAProxyInstanceSchema, obj, 'HAProxyInstance'), resourceVersion);
        },
        (err: unknown) => {
          if (stopped) return;
          // client-node reports a refused watch as an Error with statusCode: a 401 may mean a rotated credential.
          if (typeof err === 'object' && err !== null && 'statusCode' in err && err.statusCode === 401) reload();
          end(err === null || err === undefined ? undefined : (toApiError(err) as Error));
        },
      );
      if (!stopped) heard();
      return () => {
        stopped = true;
        clearTimeout(silence);
        controller.abort();
      };
    },
    async rotateCredentials(name) {
      // client-node has no call for a subresource POST: node:https with the KubeConfig's own TLS and token.
      const send = async () => {
        const url = new URL(`${kc.getCurrentCluster()!.server}/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURALS.instance}/${encodeURIComponent(name)}/credentials`);
        const opts: RequestOptions = { method: 'POST', headers: {} };
        await kc.applyToHTTPSOptions(opts);
        const res = await requestJson(url, opts, undefined, timeoutMs);
        if (res.status === 201 || res.status === 200) return res.body;
        throw statusError(res.status, res.body);
      };
      return check<Enrollment>(EnrollmentSchema, await call(send), 'Enrollment');
    },
    kubeconfigWithToken(token) {
      if (!options.kubeconfig) throw new Error('the credential did not come from a kubeconfig file: nothing to write the new one to');
      const fresh = new KubeConfig();
      fresh.loadFromFile(options.kubeconfig);
      const current = fresh.getCurrentUser();
      if (!current) throw new Error(`${options.kubeconfig} has no current user`);
      fresh.loadFromOptions({
        clusters: fresh.clusters,
        users: fresh.users.map((u) => (u.name === current.name ? { ...u, token } : u)),
        contexts: fresh.contexts,
        currentContext: fresh.currentContext,
      });
      return JSON.stringify(JSON.parse(fresh.exportConfig()), null, 2) + '\n';
    },
  };
}
