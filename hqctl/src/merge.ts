/**
 * What `apply` sends. A manifest owns the fields it sets, and only those: applying an instance
 * manifest must not wipe the spec.configRevision the rollout controller set or the spec.servers
 * that `hqctl drain` declared. A field the previous apply set and this manifest no longer has is
 * removed (kubectl's three-way merge). kubectl remembers the whole last manifest in an
 * annotation; a config can be 1 MiB, so hqctl remembers only the names of the fields it set.
 */
import { isDeepStrictEqual } from 'node:util';

/** Annotation listing the spec fields, labels and annotations the last `hqctl apply` set. */
export const APPLIED_FIELDS_ANNOTATION = 'haproxyhq.io/applied-fields';

export interface AppliedFields {
  spec: string[];
  labels: string[];
  annotations: string[];
}

type Obj = Record<string, unknown>;

const isRecord = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const recordOf = (v: unknown): Obj => (isRecord(v) ? v : {});
const stringMap = (v: unknown): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(recordOf(v))) if (typeof x === 'string') out[k] = x;
  return out;
};

/** The fields a manifest sets. */
export function fieldsOf(manifest: Obj): AppliedFields {
  const meta = recordOf(manifest.metadata);
  return {
    spec: Object.keys(recordOf(manifest.spec)).sort(),
    labels: Object.keys(recordOf(meta.labels)).sort(),
    annotations: Object.keys(recordOf(meta.annotations))
      .filter((k) => k !== APPLIED_FIELDS_ANNOTATION)
      .sort(),
  };
}

/** The fields the previous apply set, from the live object's annotation (none if absent or unreadable). */
export function previousFields(live: Obj): AppliedFields {
  const raw = stringMap(recordOf(live.metadata).annotations)[APPLIED_FIELDS_ANNOTATION];
  const none = { spec: [], labels: [], annotations: [] };
  if (raw === undefined) return none;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return none;
  }
  const list = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
  const p = recordOf(parsed);
  return { spec: list(p.spec), labels: list(p.labels), annotations: list(p.annotations) };
}

const annotationValue = (f: AppliedFields) => JSON.stringify(f);

/** Keys `prev` set that `next` no longer has are dropped; everything `next` has wins. */
function mergeMap<T>(live: Record<string, T>, prevKeys: string[], next: Record<string, T>): Record<string, T> {
  const out = { ...live };
  for (const k of prevKeys) if (!(k in next)) delete out[k];
  return Object.assign(out, next);
}

/** The body to create: the manifest, in `namespace`, recording the fields it sets. */
export function forCreate(manifest: Obj, namespace: string): Obj {
  const meta = recordOf(manifest.metadata);
  const rest = { ...manifest };
  delete rest.status;
  return {
    ...rest,
    metadata: {
      ...meta,
      namespace,
      annotations: { ...stringMap(meta.annotations), [APPLIED_FIELDS_ANNOTATION]: annotationValue(fieldsOf(manifest)) },
    },
  };
}

/**
 * The body to PUT over `live`: live's spec, labels and annotations with the manifest's fields
 * merged in. The resourceVersion is live's (so a concurrent write is a 409 and apply retries on a
 * fresh read), or the manifest's own when it carries one: then a stale manifest is a conflict.
 */
export function forUpdate(live: Obj, manifest: Obj): Obj {
  const prev = previousFields(live);
  const next = fieldsOf(manifest);
  const liveMeta = recordOf(live.metadata);
  const meta = recordOf(manifest.metadata);
  const labels = mergeMap(stringMap(liveMeta.labels), prev.labels, stringMap(meta.labels));
  const annotations = mergeMap(stringMap(liveMeta.annotations), prev.annotations, stringMap(meta.annotations));
  annotations[APPLIED_FIELDS_ANNOTATION] = annotationValue(next);
  const liveRest = { ...live };
  delete liveRest.status;
  const body: Obj = {
    ...liveRest,
    metadata: {
      ...liveMeta,
      labels,
      annotations,
      resourceVersion: typeof meta.resourceVersion === 'string' && meta.resourceVersion !== '' ? meta.resourceVersion : liveMeta.resourceVersion,
    },
  };
  if ('spec' in manifest || 'spec' in live) body.spec = mergeMap(recordOf(live.spec), prev.spec, recordOf(manifest.spec));
  if (Object.keys(labels).length === 0) delete recordOf(body.metadata).labels;
  return body;
}

/** The part of an object apply compares: spec, labels and annotations (JSON-equal, empty maps as absent). */
function content(o: Obj): unknown {
  const meta = recordOf(o.metadata);
  const nonEmpty = (v: unknown) => (isRecord(v) && Object.keys(v).length > 0 ? v : undefined);
  return JSON.parse(JSON.stringify({ spec: o.spec, labels: nonEmpty(meta.labels), annotations: nonEmpty(meta.annotations) }));
}

/** True when apply would change nothing that matters. */
export function sameContent(a: Obj, b: Obj): boolean {
  return isDeepStrictEqual(content(a), content(b));
}
