/**
 * Validates whole objects against their TypeBox schema and the metadata rules Kubernetes
 * applies (label syntax, annotation size). Returns causes with field paths (`spec.config`),
 * worded for people: a 422 should say what to change.
 */
import type { TObject, TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { ValueErrorType } from '@sinclair/typebox/errors';
import { DNS1123_LABEL, DNS1123_SUBDOMAIN, type ObjectMeta } from '@haproxyhq/schemas';
import type { Cause } from '../errors.ts';


/** The message of an unknown-field cause (Kubernetes says the same). */
export const UNKNOWN_FIELD = 'unknown field';

const PATTERN_HELP: Record<string, string> = {
  [DNS1123_SUBDOMAIN]:
    "must be a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit (e.g. 'edge-1')",
  [DNS1123_LABEL]: "must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit",
};

const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>();

function checker(schema: TObject): TypeCheck<TSchema> {
  let c = compiled.get(schema);
  if (!c) {
    c = TypeCompiler.Compile(schema);
    compiled.set(schema, c);
  }
  return c;
}

const toField = (path: string) =>
  path
    .split('/')
    .filter(Boolean)
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, t) => (/^\d+$/.test(t) ? `${acc}[${t}]` : acc ? `${acc}.${t}` : t), '');

function describeError(type: ValueErrorType, schema: TSchema, value: unknown, fallback: string): { reason: string; message: string } {
  const s = schema as Record<string, unknown>;
  switch (type) {
    case ValueErrorType.ObjectAdditionalProperties:
      return { reason: 'FieldValueInvalid', message: UNKNOWN_FIELD };
    case ValueErrorType.ObjectRequiredProperty:
      return { reason: 'FieldValueRequired', message: 'Required value' };
    case ValueErrorType.StringPattern:
      return {
        reason: 'FieldValueInvalid',
        message: `Invalid value ${JSON.stringify(value)}: ${PATTERN_HELP[String(s.pattern)] ?? `must match the regular expression ${String(s.pattern)}`}`,
      };
    case ValueErrorType.StringMaxLength:
      return { reason: 'FieldValueTooLong', message: `must have at most ${String(s.maxLength)} characters` };
    case ValueErrorType.ArrayMaxItems:
      return { reason: 'FieldValueTooMany', message: `must have at most ${String(s.maxItems)} items` };
    case ValueErrorType.StringFormat:
      return { reason: 'FieldValueInvalid', message: `Invalid value ${JSON.stringify(value)}: must be an RFC 3339 date-time` };
    case ValueErrorType.Union: {
      const branches = (s.anyOf as Record<string, unknown>[] | undefined) ?? [];
      if (branches.length > 0 && branches.every((b) => 'const' in b)) {
        return {
          reason: 'FieldValueNotSupported',
          message: `Unsupported value ${JSON.stringify(value)}: supported values: ${branches.map((b) => JSON.stringify(b.const)).join(', ')}`,
        };
      }
      return { reason: 'FieldValueInvalid', message: `Invalid value ${JSON.stringify(value)}: ${fallback}` };
    }
    default:
      if (typeof s.type === 'string' && typeOf(value) !== s.type && !(s.type === 'integer' && typeof value === 'number')) {
        return { reason: 'FieldValueTypeInvalid', message: `Invalid value: must be of type ${String(s.type)}, not ${typeOf(value)}` };
      }
      return { reason: 'FieldValueInvalid', message: fallback.replace(/^Expected/, 'must be') };
  }
}

const typeOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'number' && Number.isInteger(v) ? 'integer' : typeof v);

/** Schema errors for `value`, at most one per field, capped at 50. */
export function schemaCauses(schema: TObject, value: unknown): Cause[] {
  const c = checker(schema);
  if (c.Check(value)) return [];
  const causes: Cause[] = [];
  const seen = new Set<string>();
  for (const e of c.Errors(value)) {
    const field = toField(e.path);
    if (seen.has(field)) continue;
    // A failed union reports its branches too; the union's own error is the useful one.
    if ([...seen].some((f) => field.startsWith(f + '.') || field.startsWith(f + '['))) continue;
    seen.add(field);
    const { reason, message } = describeError(e.type, e.schema, e.value, e.message);
    causes.push({ reason, message, field });
    if (causes.length >= 50) break;
  }
  return causes;
}

const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const SUBDOMAIN = new RegExp(DNS1123_SUBDOMAIN);
const MAX_ANNOTATIONS_BYTES = 256 * 1024;

function keyCauses(field: string, key: string): Cause[] {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  const causes: Cause[] = [];
  if (prefix !== undefined && (prefix.length > 253 || !SUBDOMAIN.test(prefix))) {
    causes.push({ reason: 'FieldValueInvalid', field, message: `Invalid value ${JSON.stringify(key)}: prefix part must be a DNS-1123 subdomain` });
  }
  if (name.length > 63 || !QUALIFIED_NAME.test(name)) {
    causes.push({
      reason: 'FieldValueInvalid',
      field,
      message: `Invalid value ${JSON.stringify(key)}: name part must be at most 63 characters of letters, digits, '-', '_' or '.', starting and ending with a letter or digit`,
    });
  }
  return causes;
}

/** Kubernetes' metadata rules that a JSON schema cannot say. */
export function metadataCauses(meta: ObjectMeta): Cause[] {
  const causes: Cause[] = [];
  for (const [k, v] of Object.entries(meta.labels ?? {})) {
    causes.push(...keyCauses(`metadata.labels`, k));
    if (v.length > 63 || !LABEL_VALUE.test(v)) {
      causes.push({
        reason: 'FieldValueInvalid',
        field: `metadata.labels`,
        message: `Invalid value ${JSON.stringify(v)} for label ${JSON.stringify(k)}: must be at most 63 characters of letters, digits, '-', '_' or '.', starting and ending with a letter or digit`,
      });
    }
  }
  let size = 0;
  for (const [k, v] of Object.entries(meta.annotations ?? {})) {
    causes.push(...keyCauses('metadata.annotations', k));
    size += k.length + v.length;
  }
  if (size > MAX_ANNOTATIONS_BYTES) {
    causes.push({ reason: 'FieldValueTooLong', field: 'metadata.annotations', message: `Too long: must have at most ${MAX_ANNOTATIONS_BYTES} bytes` });
  }
  return causes;
}
