/**
 * `as=Table` responses (meta.k8s.io/v1 Table) with the descriptor's printer columns, as
 * kube-apiserver renders CRD tables: dates become ages, rows carry PartialObjectMetadata.
 */
import { evaluateJsonPath, type PrinterColumn, type ResourceDescriptor } from '@haproxyhq/schemas';
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

/** Kubernetes' HumanDuration: 45s, 3m20s, 5h, 2d3h, 400d. */
export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (d < 8) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  if (d < 365 * 2) return `${d}d`;
  return `${Math.floor(d / 365)}y`;
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

export function toTable(
  d: ResourceDescriptor,
  objects: ApiObject[],
  meta: Table['metadata'],
  withColumns = true,
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
      object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata },
    })),
  };
}
