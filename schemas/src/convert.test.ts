import { describe, expect, it } from 'vitest';
import { buildCrds } from './crd.ts';
import { buildOpenApiV3 } from './openapi.ts';

/** Walk every schema node of a CRD or OpenAPI document. */
function walk(node: unknown, visit: (n: Record<string, unknown>, path: string) => void, path = ''): void {
  if (Array.isArray(node)) node.forEach((n, i) => walk(n, visit, `${path}[${i}]`));
  else if (typeof node === 'object' && node !== null) {
    visit(node as Record<string, unknown>, path);
    for (const [k, v] of Object.entries(node)) walk(v, visit, `${path}.${k}`);
  }
}

describe('CRD conversion', () => {
  it('emits structural schemas Kubernetes accepts: no const, patternProperties, additionalProperties:false or anyOf of literals', () => {
    for (const crd of buildCrds()) {
      walk(crd, (n, path) => {
        expect(n, path).not.toHaveProperty('const');
        expect(n, path).not.toHaveProperty('patternProperties');
        expect(n.additionalProperties, path).not.toBe(false);
        if (Array.isArray(n.anyOf)) expect(n['x-kubernetes-int-or-string'], path).toBe(true);
        // Kubernetes compiles patterns with Go's RE2: no lookaround or backreferences.
        if (typeof n.pattern === 'string') expect(n.pattern, path).not.toMatch(/\(\?[=!<]|\\[1-9]/);
      });
    }
  });

  it('turns unions of literals into enums and string maps into additionalProperties', () => {
    const crd = buildCrds().find((c) => (c.metadata as { name: string }).name === 'haproxyinstances.haproxyhq.io')!;
    const schema = (crd.spec as any).versions[0].schema.openAPIV3Schema;
    expect(schema.properties.spec.properties.servers.items.properties.state).toMatchObject({ type: 'string', enum: ['ready', 'drain', 'maint'] });
    expect(schema.properties.metadata).toEqual({ type: 'object' });
    const conditions = schema.properties.status.properties.conditions.items.properties;
    expect(conditions.status.enum).toEqual(['True', 'False', 'Unknown']);
    const config = buildCrds().find((c) => (c.metadata as { name: string }).name === 'haproxyconfigs.haproxyhq.io')!;
    const cfg = (config.spec as any).versions[0].schema.openAPIV3Schema.properties.spec.properties;
    expect(cfg.instanceSelector.properties.matchLabels.additionalProperties).toEqual({ type: 'string' });
    expect(cfg.strategy.properties.maxUnavailable['x-kubernetes-int-or-string']).toBe(true);
  });

  it('keeps a description on every resource field, so kubectl explain has something to say', () => {
    const doc = buildOpenApiV3() as any;
    const missing: string[] = [];
    for (const [name, schema] of Object.entries<any>(doc.components.schemas)) {
      if (!name.startsWith('io.haproxyhq')) continue;
      walk(schema.properties?.spec ?? {}, (n, path) => {
        const notAField = path.endsWith('.items') || path.endsWith('.properties') || /additionalProperties|anyOf\[/.test(path);
        if (n.type && !n.description && !notAField) missing.push(`${name}.spec${path}`);
      });
    }
    expect(missing).toEqual([]);
  });
});
