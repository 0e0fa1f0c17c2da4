/**
 * Label and field selectors, in Kubernetes' string syntax (`env=prod,tier in (a,b),!canary`)
 * and as LabelSelector objects. Parse errors are 400s that quote the selector.
 */
import type { LabelSelector } from '@haproxyhq/schemas';
import { badRequest } from '../errors.ts';

export type Requirement =
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'exists' | 'notexists' };

export type Labels = Record<string, string> | undefined;

const KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Parse `labelSelector=` into requirements (all must hold). */
export function parseLabelSelector(selector: string | undefined): Requirement[] {
  if (!selector || selector.trim() === '') return [];
  const reqs: Requirement[] = [];
  for (const part of splitTopLevel(selector)) {
    const s = part.trim();
    let m: RegExpMatchArray | null;
    if ((m = s.match(/^!\s*(\S+)$/))) reqs.push({ key: checkKey(m[1]!, selector), op: 'notexists' });
    else if ((m = s.match(/^(\S+?)\s*(==|!=|=)\s*(\S*)$/))) {
      const values = [checkValue(m[3]!, selector)];
      reqs.push({ key: checkKey(m[1]!, selector), op: m[2] === '!=' ? 'notin' : 'in', values });
    } else if ((m = s.match(/^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/))) {
      const values = m[3]!.split(',').map((v) => checkValue(v.trim(), selector));
      reqs.push({ key: checkKey(m[1]!, selector), op: m[2] as 'in' | 'notin', values });
    } else if ((m = s.match(/^(\S+)$/))) reqs.push({ key: checkKey(m[1]!, selector), op: 'exists' });
    else throw badRequest(`unable to parse requirement ${JSON.stringify(s)} in labelSelector ${JSON.stringify(selector)}`);
  }
  return reqs;
}

function splitTopLevel(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

function checkKey(key: string, selector: string): string {
  if (!KEY.test(key) || key.length > 317) {
    throw badRequest(`invalid label key ${JSON.stringify(key)} in labelSelector ${JSON.stringify(selector)}`);
  }
  return key;
}

function checkValue(value: string, selector: string): string {
  if (!VALUE.test(value) || value.length > 63) {
    throw badRequest(`invalid label value ${JSON.stringify(value)} in labelSelector ${JSON.stringify(selector)}`);
  }
  return value;
}

/** Requirements from a LabelSelector object (as in HAProxyConfig.spec.instanceSelector). */
export function requirementsFromSelector(selector: LabelSelector | undefined): Requirement[] {
  if (!selector) return [];
  const reqs: Requirement[] = [];
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) reqs.push({ key, op: 'in', values: [value] });
  for (const e of selector.matchExpressions ?? []) {
    if (e.operator === 'In') reqs.push({ key: e.key, op: 'in', values: e.values ?? [] });
    else if (e.operator === 'NotIn') reqs.push({ key: e.key, op: 'notin', values: e.values ?? [] });
    else if (e.operator === 'Exists') reqs.push({ key: e.key, op: 'exists' });
    else reqs.push({ key: e.key, op: 'notexists' });
  }
  return reqs;
}

/** True when `labels` satisfy every requirement. */
export function matchesLabels(reqs: Requirement[], labels: Labels): boolean {
  for (const r of reqs) {
    const v = labels?.[r.key];
    switch (r.op) {
      case 'in':
        if (v === undefined || !r.values.includes(v)) return false;
        break;
      case 'notin':
        if (v !== undefined && r.values.includes(v)) return false;
        break;
      case 'exists':
        if (v === undefined) return false;
        break;
      case 'notexists':
        if (v !== undefined) return false;
        break;
    }
  }
  return true;
}

export interface FieldRequirement {
  field: string;
  op: '=' | '!=';
  value: string;
}

/** How a field label reads its value from an object (Kubernetes' per-resource field label set). */
export type FieldGetters = Record<string, (obj: { metadata: { name?: string; namespace?: string } }) => string | undefined>;

/** Every resource supports these two, as CRDs do. */
export const METADATA_FIELDS: FieldGetters = {
  'metadata.name': (o) => o.metadata.name,
  'metadata.namespace': (o) => o.metadata.namespace,
};

/** Parse `fieldSelector=` against the field labels a resource supports (metadata.name and metadata.namespace by default). */
export function parseFieldSelector(selector: string | undefined, getters: FieldGetters = METADATA_FIELDS): FieldRequirement[] {
  if (!selector || selector.trim() === '') return [];
  return selector.split(',').map((part) => {
    const m = part.trim().match(/^([A-Za-z.]+)\s*(==|!=|=)\s*(.*)$/);
    if (!m) throw badRequest(`invalid fieldSelector ${JSON.stringify(selector)}: expected field=value, field==value or field!=value`);
    if (!Object.hasOwn(getters, m[1]!)) {
      throw badRequest(`field label not supported: ${m[1]} (fieldSelector supports ${Object.keys(getters).join(', ')})`);
    }
    return { field: m[1]!, op: m[2] === '!=' ? '!=' : '=', value: m[3]! };
  });
}

/** Whether every requirement holds for `obj` (a missing field reads as ''). */
export function matchesFields(reqs: FieldRequirement[], obj: { metadata: { name?: string; namespace?: string } }, getters: FieldGetters = METADATA_FIELDS): boolean {
  for (const r of reqs) {
    const v = getters[r.field]?.(obj) ?? '';
    if ((v === r.value) !== (r.op === '=')) return false;
  }
  return true;
}

/** Whether the requirements read only name and namespace, which a key's old and new values share. */
export const onlyMetadataFields = (reqs: FieldRequirement[]) => reqs.every((r) => r.field === 'metadata.name' || r.field === 'metadata.namespace');

/** The single name a field selector pins, if any: lets a get-by-name replace a list scan. */
export function pinnedName(reqs: FieldRequirement[]): string | undefined {
  return reqs.find((r) => r.field === 'metadata.name' && r.op === '=')?.value;
}
