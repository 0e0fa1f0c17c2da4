/**
 * The small JSONPath subset Kubernetes printer columns use: `.a.b`, `.a[0]`, `.a[*].b` and
 * `.a[?(@.key=="value")].b`, plus `.a['b.c']` for keys with dots (label keys). Returns every
 * match, in order.
 */
type Step = { field: string } | { index: number } | { all: true } | { filterKey: string; filterValue: string };

const cache = new Map<string, Step[]>();

function parse(path: string): Step[] {
  const cached = cache.get(path);
  if (cached) return cached;
  const steps: Step[] = [];
  const re = /\.([A-Za-z0-9_-]+)|\[(\d+)\]|\[\?\(@\.([A-Za-z0-9_-]+)\s*==\s*["']([^"']*)["']\)\]|(\[\*\])|\[(?:'([^']+)'|"([^"]+)")\]/y;
  let pos = 0;
  while (pos < path.length) {
    re.lastIndex = pos;
    const m = re.exec(path);
    if (!m) throw new Error(`unsupported JSONPath ${JSON.stringify(path)} at offset ${pos}`);
    if (m[1] !== undefined) steps.push({ field: m[1] });
    else if (m[6] !== undefined || m[7] !== undefined) steps.push({ field: (m[6] ?? m[7])! });
    else if (m[2] !== undefined) steps.push({ index: Number(m[2]) });
    else if (m[5] !== undefined) steps.push({ all: true });
    else steps.push({ filterKey: m[3]!, filterValue: m[4]! });
    pos = re.lastIndex;
  }
  cache.set(path, steps);
  return steps;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Evaluate `path` against `value`; an empty array when nothing matches. */
export function evaluateJsonPath(value: unknown, path: string): unknown[] {
  let current: unknown[] = [value];
  for (const step of parse(path)) {
    const next: unknown[] = [];
    for (const v of current) {
      if ('field' in step) {
        if (isRecord(v) && v[step.field] !== undefined) next.push(v[step.field]);
      } else if ('index' in step) {
        if (Array.isArray(v) && step.index < v.length) next.push(v[step.index]);
      } else if ('all' in step) {
        if (Array.isArray(v)) next.push(...v);
      } else if (Array.isArray(v)) {
        for (const item of v) if (isRecord(item) && String(item[step.filterKey]) === step.filterValue) next.push(item);
      }
    }
    current = next;
  }
  return current;
}
