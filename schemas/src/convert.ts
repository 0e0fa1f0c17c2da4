/**
 * TypeBox emits JSON Schema forms that OpenAPI and CRD structural schemas reject
 * (`const`, unions of literals, `patternProperties`, and for CRDs `additionalProperties: false`).
 * This is the one conversion step between them.
 */
type Json = Record<string, unknown>;

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export type SchemaTarget = 'openapi' | 'crd';

/** Convert a TypeBox schema into an OpenAPI v3 schema, or a CRD structural schema. */
export function convertSchema(schema: unknown, target: SchemaTarget, path: string[] = []): Json {
  if (!isObj(schema)) throw new Error(`schema at ${path.join('.') || '<root>'} is not an object`);
  // JSON round trip drops TypeBox's symbol keys.
  const s: Json = JSON.parse(JSON.stringify(schema));
  const out: Json = {};
  if (typeof s.description === 'string') out.description = s.description;

  if (Array.isArray(s.anyOf)) {
    const branches = s.anyOf as Json[];
    if (branches.every((b) => 'const' in b)) {
      const values = branches.map((b) => b.const);
      out.type = typeof values[0] === 'number' ? 'number' : typeof values[0];
      out.enum = values;
      return out;
    }
    const types = branches.map((b) => b.type).sort();
    if (types.length === 2 && types[0] === 'integer' && types[1] === 'string') {
      out['x-kubernetes-int-or-string'] = true;
      out.anyOf = [{ type: 'integer' }, { type: 'string' }];
      return out;
    }
    if (target === 'crd') throw new Error(`CRD schemas cannot express the union at ${path.join('.')}`);
    out.anyOf = branches.map((b, i) => convertSchema(b, target, [...path, `anyOf[${i}]`]));
    return out;
  }
  if ('const' in s) {
    out.type = typeof s.const;
    out.enum = [s.const];
    return out;
  }
  for (const k of ['type', 'format', 'pattern', 'minLength', 'maxLength', 'minimum', 'maximum', 'maxItems', 'minItems', 'default', 'enum']) {
    if (k in s) out[k] = s[k];
  }
  if (s.type === 'object') {
    if (target === 'crd' && path.length === 1 && path[0] === 'metadata') {
      // The API server owns ObjectMeta's schema; CRDs may only say it is an object.
      return { type: 'object' };
    }
    if (isObj(s.properties)) {
      const props: Json = {};
      for (const [k, v] of Object.entries(s.properties)) props[k] = convertSchema(v, target, [...path, k]);
      out.properties = props;
    }
    if (Array.isArray(s.required) && s.required.length > 0) out.required = s.required;
    if (isObj(s.patternProperties)) {
      const values = Object.values(s.patternProperties);
      if (values.length !== 1) throw new Error(`several patternProperties at ${path.join('.')}`);
      out.additionalProperties = convertSchema(values[0], target, [...path, '*']);
    } else if (isObj(s.additionalProperties)) {
      out.additionalProperties = convertSchema(s.additionalProperties, target, [...path, '*']);
    } else if (s.additionalProperties === false && target === 'openapi') {
      out.additionalProperties = false;
    } else if (s.additionalProperties === true || (!s.properties && !s.patternProperties)) {
      if (target === 'crd') out['x-kubernetes-preserve-unknown-fields'] = true;
    }
  }
  if (s.type === 'array' && s.items !== undefined) out.items = convertSchema(s.items, target, [...path, '[]']);
  return out;
}
