/**
 * Output as kubectl prints it: aligned columns (its tabwriter: three spaces between columns, the
 * last one unpadded), `<none>` for empty cells, ages like 45s / 3m20s / 2d, YAML and JSON with
 * apiVersion and kind first.
 */
import { humanDuration } from '@haproxyhq/schemas';
import { dump } from 'js-yaml';
import type { Table, TableRow } from './client.ts';

/** Render rows of cells as aligned columns. */
export function columns(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows
    .map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('').trimEnd() + '\n')
    .join('');
}

/** Keeps column widths across calls, for rows that arrive one by one (get -w). */
export class StreamingColumns {
  private widths: number[] = [];
  /** Learn widths from rows without printing them. */
  measure(rows: string[][]): void {
    for (const row of rows) row.forEach((c, i) => (this.widths[i] = Math.max(this.widths[i] ?? 0, c.length)));
  }
  format(row: string[]): string {
    this.measure([row]);
    return row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(this.widths[i]! + 3))).join('').trimEnd() + '\n';
  }
}

/** A table cell as kubectl shows it. */
export function cellText(v: unknown): string {
  if (v === null || v === undefined || v === '') return '<none>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

export interface TableOptions {
  wide: boolean;
  /** Prefix a NAMESPACE column (-A). */
  withNamespace: boolean;
  /** Append a LABELS column (--show-labels). */
  showLabels: boolean;
  /** Print names as `kind.group/name` (several types in one get). */
  namePrefix?: string;
}

/** The columns of a server Table to show, by index. */
function visibleColumns(table: Table, wide: boolean): number[] {
  return table.columnDefinitions.flatMap((c, i) => (wide || (c.priority ?? 0) === 0 ? [i] : []));
}

export function tableHeader(table: Table, opts: TableOptions): string[] {
  const names = visibleColumns(table, opts.wide).map((i) => table.columnDefinitions[i]!.name.toUpperCase());
  return [...(opts.withNamespace ? ['NAMESPACE'] : []), ...names, ...(opts.showLabels ? ['LABELS'] : [])];
}

export function labelsText(labels: Record<string, string> | undefined): string {
  const entries = Object.entries(labels ?? {});
  return entries.length === 0 ? '<none>' : entries.map(([k, v]) => `${k}=${v}`).join(',');
}

/** One row of a server Table, with the same column choice as its header. `columnsOf` gives the definitions. */
export function tableRow(columnsOf: Table, row: TableRow, opts: TableOptions): string[] {
  const meta = row.object?.metadata;
  const cells = visibleColumns(columnsOf, opts.wide).map((i) => {
    const text = cellText(row.cells[i]);
    return i === 0 && opts.namePrefix ? `${opts.namePrefix}${text}` : text;
  });
  return [...(opts.withNamespace ? [meta?.namespace ?? '<none>'] : []), ...cells, ...(opts.showLabels ? [labelsText(meta?.labels)] : [])];
}

/** Age of an RFC 3339 timestamp, or `<unknown>`. */
export function age(timestamp: string | undefined, now = Date.now()): string {
  const t = timestamp ? Date.parse(timestamp) : NaN;
  return Number.isNaN(t) ? '<unknown>' : humanDuration(now - t);
}

/** apiVersion and kind first, as kubectl prints objects; then the rest in the server's order. */
export function ordered(obj: object, apiVersion: string, kind: string): Record<string, unknown> {
  return { apiVersion, kind, ...obj };
}

export function toYaml(value: unknown): string {
  return dump(value, { noRefs: true, lineWidth: -1 });
}

export function toJson(value: unknown): string {
  return JSON.stringify(value, null, 4) + '\n';
}

/** kubectl's List wrapper for -o yaml/json of several objects. */
export function listOf(items: unknown[]): Record<string, unknown> {
  return { apiVersion: 'v1', items, kind: 'List', metadata: { resourceVersion: '' } };
}

/** Config text followed by each file under a `# --- path ---` header (-o rendered, history --revision). */
export function configText(config: string, files: { path: string; content: string }[] | undefined): string {
  let out = config.endsWith('\n') || config === '' ? config : config + '\n';
  for (const f of files ?? []) {
    out += `# --- ${f.path} ---\n${f.content}`;
    if (!f.content.endsWith('\n') && f.content !== '') out += '\n';
  }
  return out;
}

/**
 * Aligned `Label:  value` lines at one indent (kubectl describe's look). A value with several
 * lines continues under the value column.
 */
export function fields(pairs: [string, string | undefined][], indent = 0): string {
  const shown = pairs.filter((p): p is [string, string] => p[1] !== undefined);
  const width = Math.max(0, ...shown.map(([k]) => k.length + 1));
  const pad = ' '.repeat(indent);
  return shown
    .map(([k, v]) => {
      const label = `${pad}${`${k}:`.padEnd(width)}  `;
      const [first, ...more] = v.split('\n');
      return [label + first, ...more.map((l) => ' '.repeat(label.length) + l)].map((l) => l.trimEnd()).join('\n') + '\n';
    })
    .join('');
}

/** A describe sub-table (conditions, events) indented under its heading. */
export function indentedTable(header: string[], rows: string[][], indent = 2): string {
  const underline = header.map((h) => '-'.repeat(h.length));
  return columns([header, underline, ...rows])
    .split('\n')
    .map((l) => (l === '' ? l : ' '.repeat(indent) + l))
    .join('\n');
}
