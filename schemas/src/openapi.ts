/** Builds the OpenAPI v3 and v2 documents the server serves, from the resource descriptors. */
import { convertSchema } from './convert.ts';
import { ObjectMetaSchema, GROUP, VERSION, StatusSchema } from './meta.ts';
import { RESOURCES, type ResourceDescriptor } from './resources.ts';
import { SERVED_ENDPOINTS } from './served.ts';

type Json = Record<string, unknown>;

const defName = (kind: string) => `io.haproxyhq.${VERSION}.${kind}`;
const gvk = (kind: string) => [{ group: GROUP, version: VERSION, kind }];

function objectSchema(r: ResourceDescriptor, ref: (name: string) => string): Json {
  const s = convertSchema(r.schema, 'openapi');
  const props = s.properties as Json;
  props.metadata = { $ref: ref('io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta'), description: 'Standard object metadata.' };
  return { ...s, 'x-kubernetes-group-version-kind': gvk(r.kind) };
}

function listSchema(r: ResourceDescriptor, ref: (name: string) => string): Json {
  return {
    description: `A list of ${r.kind} objects.`,
    type: 'object',
    required: ['items'],
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { $ref: ref('io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta') },
      items: { type: 'array', items: { $ref: ref(defName(r.kind)) } },
    },
    'x-kubernetes-group-version-kind': gvk(`${r.kind}List`),
  };
}

const listMeta: Json = {
  type: 'object',
  properties: {
    resourceVersion: { type: 'string' },
    continue: { type: 'string' },
    remainingItemCount: { type: 'integer', format: 'int64' },
  },
};

function params(names: string[], v3: boolean): Json[] {
  return names.map((name) => {
    const p: Json = { name, in: 'query', description: `Kubernetes ${name} parameter.` };
    if (v3) p.schema = { type: name === 'limit' || name === 'timeoutSeconds' ? 'integer' : name === 'watch' ? 'boolean' : 'string' };
    else p.type = name === 'limit' || name === 'timeoutSeconds' ? 'integer' : name === 'watch' ? 'boolean' : 'string';
    return p;
  });
}

function paths(v3: boolean, ref: (name: string) => string): Json {
  const out: Json = {};
  const body = (name: string): Json =>
    v3
      ? { requestBody: { required: true, content: { 'application/json': { schema: { $ref: ref(name) } } } } }
      : { parameters: [{ name: 'body', in: 'body', required: true, schema: { $ref: ref(name) } }] };
  const resp = (name: string): Json =>
    v3
      ? { '200': { description: 'OK', content: { 'application/json': { schema: { $ref: ref(name) } } } } }
      : { '200': { description: 'OK', schema: { $ref: ref(name) } } };
  const write = ['dryRun', 'fieldManager', 'fieldValidation'];
  const ext = (action: string, kind: string) => ({
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': { group: GROUP, version: VERSION, kind },
  });
  const nsParam = v3
    ? { name: 'namespace', in: 'path', required: true, schema: { type: 'string' } }
    : { name: 'namespace', in: 'path', required: true, type: 'string' };
  const nameParam = v3
    ? { name: 'name', in: 'path', required: true, schema: { type: 'string' } }
    : { name: 'name', in: 'path', required: true, type: 'string' };
  for (const r of RESOURCES) {
    const base = r.namespaced ? `/apis/${GROUP}/${VERSION}/namespaces/{namespace}/${r.plural}` : `/apis/${GROUP}/${VERSION}/${r.plural}`;
    // Kubernetes' operation names: listNamespacedX / readX for cluster-wide kinds.
    const scoped = r.namespaced ? 'Namespaced' : '';
    const listParams = ['labelSelector', 'fieldSelector', 'limit', 'continue', 'resourceVersion', 'watch', 'allowWatchBookmarks', 'timeoutSeconds'];
    if (r.namespaced) {
      out[`/apis/${GROUP}/${VERSION}/${r.plural}`] = {
        get: { operationId: `list${r.kind}ForAllNamespaces`, parameters: params(listParams, v3), responses: resp(`${defName(r.kind)}List`), ...ext('list', r.kind) },
      };
    }
    out[base] = {
      ...(r.namespaced ? { parameters: [nsParam] } : {}),
      get: { operationId: `list${scoped}${r.kind}`, parameters: params(listParams, v3), responses: resp(`${defName(r.kind)}List`), ...ext('list', r.kind) },
    };
    if (!r.serverCreated) {
      (out[base] as Json).post = withBody(body(defName(r.kind)), params(write, v3), { operationId: `create${scoped}${r.kind}`, responses: resp(defName(r.kind)), ...ext('post', r.kind) });
    }
    const item: Json = {
      parameters: r.namespaced ? [nameParam, nsParam] : [nameParam],
      get: { operationId: `read${scoped}${r.kind}`, responses: resp(defName(r.kind)), ...ext('get', r.kind) },
      delete: { operationId: `delete${scoped}${r.kind}`, parameters: params(['dryRun'], v3), responses: resp('io.k8s.apimachinery.pkg.apis.meta.v1.Status'), ...ext('delete', r.kind) },
    };
    item.put = withBody(body(defName(r.kind)), params(write, v3), { operationId: `replace${scoped}${r.kind}`, responses: resp(defName(r.kind)), ...ext('put', r.kind) });
    item.patch = withBody(body('io.k8s.apimachinery.pkg.apis.meta.v1.Patch'), params(write, v3), { operationId: `patch${scoped}${r.kind}`, responses: resp(defName(r.kind)), ...ext('patch', r.kind) });
    out[`${base}/{name}`] = item;
    if (r.statusSubresource) {
      out[`${base}/{name}/status`] = {
        parameters: [nameParam, nsParam],
        get: { operationId: `readNamespaced${r.kind}Status`, responses: resp(defName(r.kind)), ...ext('get', r.kind) },
        put: withBody(body(defName(r.kind)), params(write, v3), { operationId: `replaceNamespaced${r.kind}Status`, responses: resp(defName(r.kind)), ...ext('put', r.kind) }),
        patch: withBody(body('io.k8s.apimachinery.pkg.apis.meta.v1.Patch'), params(write, v3), { operationId: `patchNamespaced${r.kind}Status`, responses: resp(defName(r.kind)), ...ext('patch', r.kind) }),
      };
    }
  }
  // The endpoints that are not stored resources: only the operations they have.
  for (const e of SERVED_ENDPOINTS) {
    const base = e.namespaced ? `/apis/${GROUP}/${VERSION}/namespaces/{namespace}/${e.plural}` : `/apis/${GROUP}/${VERSION}/${e.plural}`;
    const scoped = e.namespaced ? 'Namespaced' : '';
    const collection: Json = {
      ...(e.namespaced ? { parameters: [nsParam] } : {}),
      get: { operationId: `list${scoped}${e.kind}`, parameters: params(e.listParams, v3), responses: resp(`${defName(e.kind)}List`), ...ext('list', e.kind) },
    };
    if (e.createBody) collection.post = withBody(body(`${defName(e.kind)}Request`), [], { operationId: `create${scoped}${e.kind}`, responses: resp(defName(e.kind)), ...ext('post', e.kind) });
    out[base] = collection;
    if (e.read || e.update || e.deleteAnswers) {
      const item: Json = { parameters: e.namespaced ? [nameParam, nsParam] : [nameParam] };
      if (e.read) item.get = { operationId: `read${scoped}${e.kind}`, responses: resp(defName(e.kind)), ...ext('get', e.kind) };
      if (e.update) item.put = withBody(body(defName(e.kind)), [], { operationId: `replace${scoped}${e.kind}`, responses: resp(defName(e.kind)), ...ext('put', e.kind) });
      if (e.deleteAnswers) {
        const answer = e.deleteAnswers === 'object' ? defName(e.kind) : 'io.k8s.apimachinery.pkg.apis.meta.v1.Status';
        item.delete = { operationId: `delete${scoped}${e.kind}`, responses: resp(answer), ...ext('delete', e.kind) };
      }
      out[`${base}/{name}`] = item;
    }
    if (e.password) {
      out[`${base}/{name}/password`] = {
        parameters: [nameParam],
        put: withBody(body(`${defName(e.kind)}PasswordChange`), [], { operationId: `replace${e.kind}Password`, responses: resp(defName(e.kind)), ...ext('put', e.kind) }),
      };
    }
  }
  return out;
}

function withBody(body: Json, query: Json[], op: Json): Json {
  const parameters = [...((body.parameters as Json[] | undefined) ?? []), ...query];
  const { parameters: _drop, ...rest } = body;
  return { ...op, ...rest, parameters };
}

function definitions(ref: (name: string) => string): Json {
  const defs: Json = {
    'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta': convertSchema(ObjectMetaSchema, 'openapi'),
    'io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta': listMeta,
    'io.k8s.apimachinery.pkg.apis.meta.v1.Status': convertSchema(StatusSchema, 'openapi'),
    'io.k8s.apimachinery.pkg.apis.meta.v1.Patch': { type: 'object', description: 'A merge patch or JSON patch body.' },
  };
  for (const r of RESOURCES) {
    defs[defName(r.kind)] = objectSchema(r, ref);
    defs[`${defName(r.kind)}List`] = listSchema(r, ref);
  }
  for (const e of SERVED_ENDPOINTS) {
    defs[defName(e.kind)] = { ...convertSchema(e.schema, 'openapi'), 'x-kubernetes-group-version-kind': gvk(e.kind) };
    defs[`${defName(e.kind)}List`] = { ...convertSchema(e.listSchema, 'openapi'), 'x-kubernetes-group-version-kind': gvk(`${e.kind}List`) };
    if (e.createBody) defs[`${defName(e.kind)}Request`] = convertSchema(e.createBody, 'openapi');
    if (e.password) defs[`${defName(e.kind)}PasswordChange`] = convertSchema(e.password, 'openapi');
  }
  return defs;
}

/** The OpenAPI v3 document for haproxyhq.io/v1alpha1 (served at /openapi/v3/apis/haproxyhq.io/v1alpha1). */
export function buildOpenApiV3(): Json {
  const ref = (name: string) => `#/components/schemas/${name}`;
  return {
    openapi: '3.0.0',
    info: { title: 'HAProxyHQ', version: VERSION },
    paths: paths(true, ref),
    components: { schemas: definitions(ref) },
  };
}

/** The Swagger 2.0 document (served at /openapi/v2) for older clients. */
export function buildOpenApiV2(): Json {
  const ref = (name: string) => `#/definitions/${name}`;
  return {
    swagger: '2.0',
    info: { title: 'HAProxyHQ', version: VERSION },
    paths: paths(false, ref),
    definitions: definitions(ref),
  };
}
