import { describe, expect, it } from 'vitest';
import { CliError } from './errors.ts';
import { renderJsonPathTemplate } from './jsonpath.ts';

const edge = (name: string, ready: string, labels: Record<string, string> = {}) => ({
  apiVersion: 'haproxyhq.io/v1alpha1',
  kind: 'HAProxyInstance',
  metadata: { name, labels },
  spec: { servers: [{ backend: 'web', server: 's1', weight: 10 }], paused: false },
  status: {
    appliedRevision: 'web-3',
    conditions: [
      { type: 'ConfigApplied', status: 'True' },
      { type: 'Ready', status: ready },
    ],
  },
});
const list = { apiVersion: 'v1', kind: 'List', items: [edge('edge-1', 'True', { 'app.kubernetes.io/name': 'lb' }), edge('edge-2', 'False')] };

describe('-o jsonpath=TEMPLATE', () => {
  it('fills in paths and literals, with text as it is and no newline added', () => {
    expect(renderJsonPathTemplate('{.metadata.name}', edge('edge-1', 'True'))).toBe('edge-1');
    expect(renderJsonPathTemplate('name={$.metadata.name} rev={.status.appliedRevision}{"\\n"}', edge('edge-1', 'True'))).toBe('name=edge-1 rev=web-3\n');
    expect(renderJsonPathTemplate('{.status.conditions[?(@.type=="Ready")].status}', edge('edge-1', 'False'))).toBe('False');
    expect(renderJsonPathTemplate("{.metadata.labels['app.kubernetes.io/name']}", list.items[0])).toBe('lb');
  });

  it('prints several results separated by spaces; objects, numbers and booleans as JSON', () => {
    expect(renderJsonPathTemplate('{.items[*].metadata.name}', list)).toBe('edge-1 edge-2');
    expect(renderJsonPathTemplate('{.spec.servers[0]}', edge('e', 'True'))).toBe('{"backend":"web","server":"s1","weight":10}');
    expect(renderJsonPathTemplate('{.spec.servers[0].weight} {.spec.paused}', edge('e', 'True'))).toBe('10 false');
  });

  it('ranges over results, paths inside relative to each, @ the current one', () => {
    const t = '{range .items[*]}{.metadata.name}{"\\t"}{.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}';
    expect(renderJsonPathTemplate(t, list)).toBe('edge-1\tTrue\nedge-2\tFalse\n');
    expect(renderJsonPathTemplate('{range .items[*].metadata.name}[{@}]{end}', list)).toBe('[edge-1][edge-2]');
    expect(renderJsonPathTemplate('{range .items[*]}{range .status.conditions[*]}{.type},{end};{end}', list)).toBe('ConfigApplied,Ready,;ConfigApplied,Ready,;');
  });

  it('prints nothing for a missing key, as kubectl does by default', () => {
    expect(renderJsonPathTemplate('[{.status.lastApplyError.message}]', edge('e', 'True'))).toBe('[]');
    expect(renderJsonPathTemplate('{.items[5].metadata.name}', list)).toBe('');
  });

  it('refuses a bad template with what is wrong', () => {
    const bad = (t: string) => {
      try {
        renderJsonPathTemplate(t, list);
      } catch (err) {
        expect(err).toBeInstanceOf(CliError);
        return (err as Error).message;
      }
      throw new Error(`accepted ${t}`);
    };
    expect(bad('{.metadata.name')).toBe('error parsing jsonpath {.metadata.name: unclosed action at offset 0');
    expect(bad('{range .items[*]}{.metadata.name}')).toMatch(/a \{range\} without an \{end\}/);
    expect(bad('{.metadata.name}{end}')).toMatch(/an \{end\} without a \{range\}/);
    expect(bad('{..name}')).toMatch(/recursive descent \(\.\.\) is not supported: \.\.name/);
    expect(bad('{.items[-1]}')).toMatch(/unsupported JSONPath \.items\[-1\]/);
    expect(bad('{}')).toMatch(/an empty action/);
    expect(bad('{"\\q"}')).toMatch(/bad string literal/);
  });
});
