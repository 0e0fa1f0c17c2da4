import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MultiError } from './errors.ts';
import { parseManifests, readManifests } from './manifests.ts';
import { APPLICABLE_KINDS } from './resources.ts';

const opts = { verb: 'apply', kinds: APPLICABLE_KINDS, stdin: () => '' };
const doc = (kind: string, name: string, extra = '') => `apiVersion: haproxyhq.io/v1alpha1\nkind: ${kind}\nmetadata:\n  name: ${name}\n${extra}`;
const dir = mkdtempSync(join(tmpdir(), 'hqctl-manifests-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function parse(text: string) {
  const errors: Error[] = [];
  const manifests = parseManifests(text, 'x.yaml', opts, errors);
  return { manifests, errors: errors.map((e) => e.message) };
}

describe('parseManifests', () => {
  it('reads every document, skipping empty ones, and numbers them as written', () => {
    const { manifests, errors } = parse(`# comment\n---\n${doc('HAProxyConfig', 'web')}---\n---\n${doc('HAProxyInstance', 'edge-1')}---\n`);
    expect(errors).toEqual([]);
    expect(manifests.map((m) => [m.resource.kind, m.name, m.source])).toEqual([
      ['HAProxyConfig', 'web', 'x.yaml (document 1)'],
      ['HAProxyInstance', 'edge-1', 'x.yaml (document 3)'],
    ]);
  });

  it('reports a YAML syntax error with file:line:column', () => {
    expect(parse('a: 1\nb: 2\n  c: 3\n').errors).toEqual(['x.yaml:3:4: bad indentation of a mapping entry']);
  });

  it('reports unknown kinds, other apiVersions, missing names and non-mappings per document', () => {
    const text = [doc('Foo', 'f'), 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n', doc('HAProxyConfig', '').replace('name: ', 'labels: {}'), '- 1\n', doc('ConfigRevision', 'web-1')].join('---\n');
    expect(parse(text).errors).toEqual([
      'x.yaml (document 1): unknown kind "Foo" for haproxyhq.io/v1alpha1; known: HAProxyInstance, HAProxyConfig, Role, ClusterRole, RoleBinding, ClusterRoleBinding',
      'x.yaml (document 2): unknown apiVersion "apps/v1" for kind "Deployment"; hqctl manages haproxyhq.io/v1alpha1: HAProxyInstance, HAProxyConfig, Role, ClusterRole, RoleBinding, ClusterRoleBinding',
      'x.yaml (document 3): metadata.name is required',
      'x.yaml (document 4): expected a mapping with apiVersion, kind and metadata, got a list',
      'x.yaml (document 5): unknown kind "ConfigRevision" for haproxyhq.io/v1alpha1 (the server records ConfigRevisions itself); known: HAProxyInstance, HAProxyConfig, Role, ClusterRole, RoleBinding, ClusterRoleBinding',
    ]);
  });

  it('expands a v1 List, naming a bad item', () => {
    const text = `apiVersion: v1\nkind: List\nitems:\n- {apiVersion: haproxyhq.io/v1alpha1, kind: HAProxyInstance, metadata: {name: a}}\n- {apiVersion: haproxyhq.io/v1alpha1, kind: Nope, metadata: {name: b}}\n`;
    const { manifests, errors } = parse(text);
    expect(manifests).toEqual([]);
    expect(errors).toEqual(['x.yaml (document 1, item 2): unknown kind "Nope" for haproxyhq.io/v1alpha1; known: HAProxyInstance, HAProxyConfig, Role, ClusterRole, RoleBinding, ClusterRoleBinding']);
  });
});

describe('readManifests', () => {
  it('reads a directory’s manifests in name order, and collects every error before failing', () => {
    const d = join(dir, 'many');
    mkdirSync(d);
    writeFileSync(join(d, 'b.yaml'), doc('HAProxyInstance', 'b'));
    writeFileSync(join(d, 'a.json'), JSON.stringify({ apiVersion: 'haproxyhq.io/v1alpha1', kind: 'HAProxyConfig', metadata: { name: 'a' }, spec: { config: 'x' } }));
    writeFileSync(join(d, 'notes.txt'), 'not a manifest');
    const read = readManifests([d], { ...opts, namespace: 'default', explicitNamespace: false });
    expect(read.map((m) => m.name)).toEqual(['a', 'b']);

    writeFileSync(join(dir, 'bad.yaml'), 'x: [\n');
    let err: unknown;
    try {
      readManifests([d, join(dir, 'bad.yaml'), join(dir, 'missing.yaml')], { ...opts, namespace: 'default', explicitNamespace: false });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MultiError);
    expect(err instanceof MultiError && err.errors.map((e) => e.message)).toEqual([
      `${join(dir, 'bad.yaml')}:2:1: deficient indentation`,
      `the path "${join(dir, 'missing.yaml')}" does not exist`,
    ]);
  });

  it('refuses a namespace that contradicts -n, and the same object twice', () => {
    const f = join(dir, 'ns.yaml');
    writeFileSync(f, doc('HAProxyInstance', 'a', 'spec: {}\n').replace('name: a', 'name: a\n  namespace: prod') + '---\n' + doc('HAProxyInstance', 'a').replace('name: a', 'name: a\n  namespace: prod'));
    expect(() => readManifests([f], { ...opts, namespace: 'staging', explicitNamespace: true })).toThrow(
      `${f} (document 1): the namespace from the provided object "prod" does not match the namespace "staging". You must pass '--namespace=prod' to perform this operation.`,
    );
    expect(() => readManifests([f], { ...opts, namespace: 'default', explicitNamespace: false })).toThrow(
      `${f} (document 2): haproxyinstance "a" is also defined in ${f} (document 1)`,
    );
  });
});

