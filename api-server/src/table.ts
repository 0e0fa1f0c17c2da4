/**
 * `as=Table` responses (meta.k8s.io/v1 Table) with the descriptor's printer columns, as
 * kube-apiserver renders CRD tables: dates become ages, rows carry PartialObjectMetadata.
 */
import { evaluateJsonPath, humanDuration, type PrinterColumn, type ResourceDescriptor } from '@haproxyhq/schemas';
import type { ApiObject } from './registry/registry.ts';

export interface Table {
  kind: 'Table';
  apiVersion: 'meta.k8s.io/v1';
  metadata: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  columnDefinitions: { name: string; type: string; format: string; description: string; priority: number }[];
  rows: { cells: unknown[]; object: unknown }[];
}

/** True when the Accept header asks for a Table (kubectl get does). */
export function wantsTable(accept: string | undefined): boolean {
  return !!accept && /;\s*as=Table/.test(accept);
}

function cell(obj: ApiObject, c: PrinterColumn, now: number): unknown {
  const values = evaluateJsonPath(obj, c.jsonPath);
  if (values.length === 0) return null;
  const v = values[0];
  if (c.type === 'date') {
    const t = typeof v === 'string' ? Date.parse(v) : NaN;
    return Number.isNaN(t) ? '<invalid>' : humanDuration(now - t);
  }
  if (c.type === 'string') return values.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(',');
  return v;
}

/**
 * What each row carries of its object (Kubernetes' `includeObject`): nothing, its metadata as a
 * PartialObjectMetadata (the default), or the whole object (kubectl --sort-by asks for it).
 */
export type IncludeObject = 'None' | 'Metadata' | 'Object';

export function toTable(
  d: ResourceDescriptor,
  objects: ApiObject[],
  meta: Table['metadata'],
  withColumns = true,
  includeObject: IncludeObject = 'Metadata',
): Table {
  const now = Date.now();
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: meta,
    columnDefinitions: withColumns
      ? [
          { name: 'Name', type: 'string', format: 'name', description: 'Name of the object.', priority: 0 },
          ...d.printerColumns.map((c) => ({
            name: c.name,
            type: c.type,
            format: '',
            description: c.description,
            priority: c.priority ?? 0,
          })),
        ]
      : [],
    rows: objects.map((o) => ({
      cells: [o.metadata.name, ...d.printerColumns.map((c) => cell(o, c, now))],
      object:
        includeObject === 'Object'
          ? o
          : includeObject === 'None'
            ? null
            : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata },
    })),
  };
}
