/**
 * Seeded generators for the API fuzz test (test/fuzz.test.ts): requests built from valid
 * fixtures mutated structurally, from random JSON and from random bytes, aimed at every route.
 * Everything random comes from one Rng per case, derived from (seed, case index), so a seed
 * names the same cases run after run.
 */
import type { TObject } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { API_VERSION, RESOURCES } from '@haproxyhq/schemas';
import { agentStatus } from './agent-status.ts';
import { BASE, MINIMAL_CFG, configFixture, instanceFixture } from './fixtures.ts';

// ---------------------------------------------------------------------------------------------
// Randomness

/** sfc32: small, fast and good enough; seeded from two 32-bit words. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream = 0) {
    this.a = 0x9e3779b9;
    this.b = seed >>> 0;
    this.c = stream >>> 0;
    this.d = 1;
    for (let i = 0; i < 15; i++) this.next();
  }

  /** A float in [0, 1). */
  next(): number {
    this.a >>>= 0;
    this.b >>>= 0;
    this.c >>>= 0;
    this.d >>>= 0;
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** One of the values, chosen with the given weights. */
  weighted<T>(choices: readonly (readonly [number, T])[]): T {
    const total = choices.reduce((s, [w]) => s + w, 0);
    let x = this.next() * total;
    for (const [w, v] of choices) {
      if ((x -= w) < 0) return v;
    }
    return choices[choices.length - 1]![1];
  }

  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Strings and values

const ODD_CHARS = [
  '\u0000', '\u0001', '\u001f', '\u007f', '\n', '\r', '\t', ' ', '"', "'", '\\', '/', '%', '%00', '%2F', '%2e', '..', '../', '?', '#', '&', '=',
  ';', ',', '(', ')', '!', '*', '{{', '}}', '{{ name }}', '{{ values.x }}', 'é', 'ß', '中', 'ﬃ', '😀', '\u200b', '\u202e', '\ufeff', '\ud800',
  '\udc00', '\uffff', 'İ', 'K', '<script>', '${x}', '__proto__', 'constructor', 'prototype', 'NaN', 'null', 'true', '-1', '1e309',
];

const DNS_WORDS = ['edge', 'web', 'api', 'a', 'b', 'x1', 'lb', 'eu-west', 'prod', 'canary', 'z9', '0'];

/** A random string: mostly printable ASCII, with odd characters mixed in. */
export function junkString(rng: Rng, maxLen = 24): string {
  const len = rng.int(maxLen + 1);
  let s = '';
  while (s.length < len) {
    s += rng.chance(0.25) ? rng.pick(ODD_CHARS) : String.fromCharCode(0x20 + rng.int(0x5f));
  }
  return s;
}

/** A valid DNS-1123 subdomain. */
export function dnsName(rng: Rng): string {
  const parts = [rng.pick(DNS_WORDS)];
  if (rng.chance(0.5)) parts.push(String(rng.int(100)));
  if (rng.chance(0.1)) parts.push(rng.pick(DNS_WORDS));
  return parts.join(rng.chance(0.2) ? '.' : '-');
}

/** A name for a path or metadata.name: usually valid, sometimes anything but. */
export function objectName(rng: Rng, known: readonly string[]): string {
  return rng.weighted<() => string>([
    [5, () => (known.length ? rng.pick(known) : dnsName(rng))],
    [3, () => dnsName(rng)],
    [1, () => 'a'.repeat(rng.pick([63, 64, 253, 254, 1000]))],
    [1, () => rng.pick(['Edge_1', 'UPPER', '-a', 'a-', 'a..b', '.', '..', ' ', 'a b', 'ä', '😀', 'a\u0000b', '', 'a/b', 'edge-1/status', 'x'.repeat(2000)])],
    [1, () => junkString(rng, 40)],
  ])();
}

const NUMBERS = [0, -0, 1, -1, 2, 7, 63, 64, 253, 254, 256, 257, 1e3, 65535, 2 ** 31, 2 ** 31 - 1, -(2 ** 31), 2 ** 53, 2 ** 53 + 2, 1.5, -0.5, 1e-7, 1e21, 1e308, Number.MAX_SAFE_INTEGER];

/** A random JSON value, at most `depth` levels deep. Keys may be __proto__ and friends. */
export function randomJson(rng: Rng, depth = 4): unknown {
  const kind = depth <= 0 ? rng.int(4) : rng.int(6);
  switch (kind) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.chance(0.5) ? rng.pick(NUMBERS) : (rng.next() - 0.5) * 10 ** rng.int(12);
    case 3:
      return junkString(rng);
    case 4: {
      const n = rng.int(5);
      return Array.from({ length: n }, () => randomJson(rng, depth - 1));
    }
    default: {
      const out: Record<string, unknown> = {};
      const n = rng.int(5);
      for (let i = 0; i < n; i++) {
        const key = rng.chance(0.15) ? rng.pick(['__proto__', 'constructor', 'prototype', 'metadata', 'spec', 'status', 'kind']) : junkString(rng, 10);
        // defineProperty: a plain assignment to __proto__ would set the prototype, not a key.
        Object.defineProperty(out, key, { value: randomJson(rng, depth - 1), enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Valid objects of every resource

/** Every resource the generic routes serve, from the schemas: a resource added later is fuzzed too. */
export const PLURALS: readonly string[] = RESOURCES.map((d) => d.plural);
export type Plural = string;
export const KINDS: Record<Plural, string> = Object.fromEntries(RESOURCES.map((d) => [d.plural, d.kind]));
/** Cluster-wide resources live at BASE/PLURAL/NAME, without a namespace; their state key is "/NAME". */
export const NAMESPACED: Record<Plural, boolean> = Object.fromEntries(RESOURCES.map((d) => [d.plural, d.namespaced]));
const SCHEMAS: Record<Plural, TObject> = Object.fromEntries(RESOURCES.map((d) => [d.plural, d.schema]));

const TIME = '2026-11-01T12:00:00Z';

export function eventFixture(name: string) {
  return {
    apiVersion: API_VERSION,
    kind: 'Event',
    metadata: { name },
    involvedObject: { kind: 'HAProxyInstance', name: 'edge-1', namespace: 'default' },
    type: 'Normal',
    reason: 'ConfigApplied',
    message: 'applied web-1',
    count: 1,
    firstTimestamp: TIME,
    lastTimestamp: TIME,
    source: { component: 'hq-agent', host: 'host-1' },
  };
}

export function leaseFixture(name: string) {
  return {
    apiVersion: API_VERSION,
    kind: 'Lease',
    metadata: { name },
    spec: { holderIdentity: 'host-1', leaseDurationSeconds: 40, acquireTime: TIME, renewTime: TIME, leaseTransitions: 0 },
  };
}

/** A valid body for creating `plural` (ConfigRevisions: the shape the server records, which it refuses to create). */
export function validObject(rng: Rng, plural: Plural, name: string): Record<string, unknown> {
  switch (plural) {
    case 'haproxyinstances':
      return instanceFixture({
        metadata: { name, labels: { role: rng.pick(['edge', 'core']), env: rng.pick(['prod', 'dev']) } },
        spec: {
          ...(rng.chance(0.3) ? { configRevision: 'web-1' } : {}),
          ...(rng.chance(0.3) ? { values: { port: '8080', region: 'eu' } } : {}),
          ...(rng.chance(0.3) ? { servers: [{ backend: 'be', server: 's1', state: 'drain', weight: 10 }] } : {}),
        },
      });
    case 'haproxyconfigs':
      return configFixture({
        metadata: { name },
        spec: {
          ...(rng.chance(0.3) ? { template: true, config: MINIMAL_CFG.replace('maxconn 100', 'maxconn {{ values.maxconn | default "100" }}') } : {}),
          ...(rng.chance(0.3) ? { files: [{ path: 'maps/hosts.map', content: 'a.example be\n', kind: 'map' }] } : {}),
          ...(rng.chance(0.3) ? { strategy: { type: 'Rolling', canary: 1, maxUnavailable: '25%', healthDeadlineSeconds: 60 } } : {}),
        },
      });
    case 'configrevisions':
      return {
        apiVersion: API_VERSION,
        kind: 'ConfigRevision',
        metadata: { name },
        spec: { configName: 'web', revision: 1, contentHash: 'sha256:00', config: { config: MINIMAL_CFG } },
      };
    case 'events':
      return eventFixture(name);
    case 'leases':
      return leaseFixture(name);
    case 'roles':
    case 'clusterroles':
      return {
        apiVersion: API_VERSION,
        kind: KINDS[plural],
        metadata: { name },
        rules: [{ verbs: rng.chance(0.5) ? ['get', 'list', 'watch'] : ['*'], resources: [rng.pick(['haproxyinstances', 'haproxyinstances/status', '*', 'haproxyconfigs'])] }],
      };
    case 'rolebindings':
    case 'clusterrolebindings':
      return {
        apiVersion: API_VERSION,
        kind: KINDS[plural],
        metadata: { name },
        subjects: [{ kind: rng.pick(['User', 'Group']), name: rng.pick(['alice', 'ops', 'system:agents']) }],
        roleRef: { kind: plural === 'rolebindings' && rng.chance(0.5) ? 'Role' : 'ClusterRole', name: rng.pick(['viewer', 'editor', 'nope']) },
      };
    default: {
      // A resource this file does not know yet: the schema's own idea of a minimal object.
      const obj = Value.Create(SCHEMAS[plural]!) as Record<string, unknown>;
      return { ...obj, apiVersion: API_VERSION, kind: KINDS[plural], metadata: { name } };
    }
  }
}

/** A valid status for the /status subresource of `plural`, when it has one. */
export function validStatus(rng: Rng, plural: Plural): unknown {
  if (plural === 'haproxyinstances') return agentStatus({ at: Date.parse(TIME), backends: [['be', rng.int(10), rng.int(10)]], frontendRequestRates: [rng.int(100)] });
  return { observedGeneration: 1, latestRevision: 'web-1', instances: 2, updated: 1, ready: 1, failed: 0 };
}

// ---------------------------------------------------------------------------------------------
// Structural mutation of a JSON object

type Path = (string | number)[];

/** Every path into `value` (objects and arrays), the root included. */
function paths(value: unknown, prefix: Path = [], out: Path[] = []): Path[] {
  out.push(prefix);
  if (out.length > 400) return out;
  if (Array.isArray(value)) value.forEach((v, i) => paths(v, [...prefix, i], out));
  else if (typeof value === 'object' && value !== null) for (const k of Object.keys(value)) paths((value as Record<string, unknown>)[k], [...prefix, k], out);
  return out;
}

function getAt(root: unknown, path: Path): unknown {
  let cur = root;
  for (const p of path) cur = (cur as Record<string | number, unknown>)?.[p];
  return cur;
}

function setAt(root: Record<string, unknown>, path: Path, value: unknown): void {
  if (path.length === 0) return;
  const parent = getAt(root, path.slice(0, -1));
  if (typeof parent !== 'object' || parent === null) return;
  Object.defineProperty(parent, path[path.length - 1]!, { value, enumerable: true, writable: true, configurable: true });
}

function deleteAt(root: Record<string, unknown>, path: Path): void {
  if (path.length === 0) return;
  const parent = getAt(root, path.slice(0, -1));
  const key = path[path.length - 1]!;
  if (Array.isArray(parent) && typeof key === 'number') parent.splice(key, 1);
  else if (typeof parent === 'object' && parent !== null) delete (parent as Record<string, unknown>)[key];
}

/**
 * Raw JSON text spliced in where a value is `{ [RAW]: text }` (see serialize): lets a mutation
 * put NaN, 1e999, a depth of 100,000 or a duplicate key where JSON.stringify cannot.
 */
const RAW = '\u0001raw';
const raw = (text: string) => ({ [RAW]: text });

export function serialize(value: unknown): string {
  const parts: string[] = [];
  const text = JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.hasOwn(v, RAW)) {
      parts.push((v as Record<string, string>)[RAW]!);
      return `\u0002${parts.length - 1}\u0002`;
    }
    return v;
  });
  return text.replace(/"\\u0002(\d+)\\u0002"/g, (_m, i: string) => parts[Number(i)]!);
}

const NAN_LIKE = ['NaN', 'Infinity', '-Infinity', '1e999', '-1e999', '1e-999', '-0', '00', '01', '0x10', '.5', '5.', '+1', '1_000', 'undefined', '"NaN"', '"Infinity"', '""', '"1"', '"true"', '"null"'];

function nested(rng: Rng, depth: number): string {
  return rng.chance(0.5) ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
}

/** Sizes around the limits the server and schemas enforce (label 63, name 253, message 32 KiB, ...). */
const STRING_SIZES = [0, 1, 62, 63, 64, 252, 253, 254, 255, 256, 4096, 4097, 32768, 32769, 64 * 1024, 127 * 1024, 129 * 1024, 300 * 1024];
const ARRAY_SIZES = [0, 1, 31, 32, 33, 64, 65, 255, 256, 257, 1000, 10000, 10001];

export interface Limits {
  maxBodyBytes: number;
  maxObjectBytes: number;
}

/** One structural mutation of `obj` (in place); returns its label. */
export function mutateOnce(rng: Rng, obj: Record<string, unknown>, plural: Plural, limits: Limits): string {
  const all = paths(obj);
  const somePath = () => rng.pick(all);
  const objectPaths = () => all.filter((p) => {
    const v = getAt(obj, p);
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  });
  return rng.weighted<() => string>([
    [4, () => {
      const p = somePath();
      deleteAt(obj, p);
      return `drop ${p.join('.')}`;
    }],
    [4, () => {
      const p = somePath();
      const v = randomJson(rng, 2);
      setAt(obj, p, v);
      return `retype ${p.join('.')}`;
    }],
    [3, () => {
      const p = somePath();
      const v = getAt(obj, p);
      const to = typeof v === 'number' || typeof v === 'boolean' ? String(v) : typeof v === 'string' && v !== '' && !Number.isNaN(Number(v)) ? Number(v) : rng.pick(['1', 'true', 1, true]);
      setAt(obj, p, to);
      return `number/string swap ${p.join('.')}`;
    }],
    [3, () => {
      const p = somePath();
      const t = rng.pick(NAN_LIKE);
      setAt(obj, p, raw(t));
      return `NaN-like ${t} at ${p.join('.')}`;
    }],
    [2, () => {
      const p = somePath();
      const depth = rng.pick([8, 64, 101, 200, 1000, 5000, 30000]);
      setAt(obj, p, raw(nested(rng, depth)));
      return `nesting depth ${depth} at ${p.join('.')}`;
    }],
    [4, () => {
      const targets: Path[] = [['metadata', 'name'], ['metadata', 'generateName'], ['metadata', 'labels', 'role'], ['metadata', 'annotations', 'note'], ['spec', 'config'], ['spec', 'configRevision'], ['message'], ['reason'], ['spec', 'holderIdentity'], ['spec', 'values', 'k']];
      const p = rng.chance(0.7) ? rng.pick(targets) : somePath();
      const size = rng.pick(STRING_SIZES.filter((s) => s <= limits.maxBodyBytes * 1.3));
      const ch = rng.pick(['a', 'é', '😀', '-', '\u0000', 'x']);
      const s = ch.repeat(Math.max(0, Math.floor(size / ch.length)));
      ensureParents(obj, p);
      setAt(obj, p, s);
      return `string of ${s.length} ${JSON.stringify(ch)} at ${p.join('.')}`;
    }],
    [3, () => {
      const targets: [Path, () => unknown][] = [
        [['spec', 'servers'], () => ({ backend: 'be', server: `s${rng.int(1e6)}` })],
        [['spec', 'files'], () => ({ path: `f${rng.int(1e6)}`, content: 'x' })],
        [['status', 'conditions'], () => ({ type: `T${rng.int(1e6)}`, status: 'True' })],
        [['metadata', 'ownerReferences'], () => ({ apiVersion: 'v1', kind: 'X', name: 'x', uid: 'u' })],
        [['spec', 'instanceSelector', 'matchExpressions'], () => ({ key: 'role', operator: 'In', values: ['edge'] })],
        [['metadata', 'labels'], () => 'v'],
      ];
      const [p, item] = rng.pick(targets);
      const n = rng.pick(ARRAY_SIZES);
      ensureParents(obj, p);
      if (p[p.length - 1] === 'labels') {
        const labels: Record<string, string> = {};
        for (let i = 0; i < n; i++) labels[`k${i}`] = 'v';
        setAt(obj, p, labels);
      } else {
        const dup = rng.chance(0.3);
        const one = item();
        setAt(obj, p, Array.from({ length: n }, () => (dup ? one : item())));
      }
      return `${n} items at ${p.join('.')}`;
    }],
    [3, () => {
      const targets = objectPaths();
      const p = targets.length ? rng.pick(targets) : [];
      const key = rng.pick(['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', 'valueOf']);
      const value = rng.pick([{}, { polluted: true }, { prototype: { polluted: true } }, null, 'x', 1]);
      const parent = p.length ? (getAt(obj, p) as Record<string, unknown>) : obj;
      Object.defineProperty(parent, key, { value, enumerable: true, writable: true, configurable: true });
      return `key ${key} at ${p.join('.') || '(root)'}`;
    }],
    [3, () => {
      const which = rng.int(4);
      if (which === 0) obj.kind = rng.pick([...Object.values(KINDS), 'Pod', '', 'haproxyinstance', 'HAPROXYINSTANCE', 1, null, {}]);
      else if (which === 1) obj.apiVersion = rng.pick(['v1', 'haproxyhq.io/v1', 'haproxyhq.io/v2', 'haproxyhq.io', '', 'haproxyhq.io/v1alpha1 ', 2, null, []]);
      else if (which === 2) delete obj.kind;
      else delete obj.apiVersion;
      return `envelope kind=${JSON.stringify(obj.kind)} apiVersion=${JSON.stringify(obj.apiVersion)}`;
    }],
    [5, () => {
      const meta = (typeof obj.metadata === 'object' && obj.metadata !== null ? obj.metadata : (obj.metadata = {})) as Record<string, unknown>;
      const field = rng.pick(['namespace', 'name', 'generateName', 'resourceVersion', 'uid', 'generation', 'creationTimestamp', 'deletionTimestamp', 'labels', 'annotations', 'ownerReferences', 'finalizers', 'managedFields', 'selfLink']);
      const value = rng.weighted<() => unknown>([
        [3, () => junkString(rng)],
        [2, () => randomJson(rng, 2)],
        [1, () => rng.pick(['fuzz', 'default', 'other', '1', '0', '-1', '99999999999999999999', '2026-13-45T99:99:99Z', TIME, 'not-a-date'])],
        [1, () => rng.pick([1, -1, 0, 1.5, 2 ** 53, true])],
        [1, () => ({ [junkString(rng, 20)]: junkString(rng, 20), 'haproxyhq.io/x': 'y', 'a/b/c': 'd', '': 'e' })],
      ])();
      meta[field] = value;
      if (field === 'generateName' && rng.chance(0.5)) delete meta.name;
      return `metadata.${field}=${JSON.stringify(value)?.slice(0, 80)}`;
    }],
    [2, () => {
      const p = objectPaths();
      const at = p.length ? rng.pick(p) : [];
      const key = junkString(rng, 12);
      (at.length ? (getAt(obj, at) as Record<string, unknown>) : obj)[key] = randomJson(rng, 2);
      return `unknown field ${JSON.stringify(key)} at ${at.join('.') || '(root)'}`;
    }],
    [2, () => {
      if (plural === 'haproxyinstances' || plural === 'haproxyconfigs') {
        obj.status = rng.chance(0.5) ? validStatus(rng, plural) : randomJson(rng, 3);
        return 'status set';
      }
      obj.status = randomJson(rng, 2);
      return 'status on a resource without one';
    }],
    [2, () => {
      const spec = (typeof obj.spec === 'object' && obj.spec !== null ? obj.spec : (obj.spec = {})) as Record<string, unknown>;
      const choice = rng.int(5);
      if (choice === 0) spec.config = rng.pick(['{{ values.x }}', '{{ labels.role }}\n', '{{', '{{ nope }}', 'x {{ name | default "a\\nb" }}', '\u0000', '']);
      else if (choice === 1) spec.template = rng.pick([true, false, 'true', 1]);
      else if (choice === 2) spec.files = [{ path: rng.pick(['../etc/passwd', '/abs', 'a/../b', 'ok.map', '.hidden', 'a//b', '😀']), content: rng.pick(['{{ values.x }}', 'x', '\u0000']) }];
      else if (choice === 3) spec.strategy = { type: rng.pick(['Rolling', 'AllAtOnce', 'x']), maxUnavailable: rng.pick(['0%', '100%', '1000%', 0, 1, -1, '25']) };
      else spec.values = { [junkString(rng, 8)]: junkString(rng, 8) };
      return `spec mischief ${choice}`;
    }],
  ])();
}

function ensureParents(obj: Record<string, unknown>, path: Path): void {
  let cur: Record<string, unknown> = obj;
  for (const p of path.slice(0, -1)) {
    const next = cur[p];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) cur[p] = {};
    cur = cur[p] as Record<string, unknown>;
  }
}

// ---------------------------------------------------------------------------------------------
// Text and byte mutations of a serialized body

const INVALID_UTF8 = [[0xff], [0xfe], [0xc3], [0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0x80], [0xf4, 0x90, 0x80, 0x80]];

/** One byte-level mutation of a JSON text; returns the new body and its label. */
export function mutateText(rng: Rng, text: string): { body: Buffer; note: string } {
  const buf = Buffer.from(text, 'utf8');
  return rng.weighted<() => { body: Buffer; note: string }>([
    [3, () => {
      const at = rng.int(buf.length + 1);
      return { body: buf.subarray(0, at), note: `truncated at ${at}/${buf.length}` };
    }],
    [3, () => {
      // Inside a string is where a decoder is most likely to trip: right after a quote.
      const quotes: number[] = [];
      for (let i = buf.indexOf(0x22); i >= 0 && quotes.length < 1000; i = buf.indexOf(0x22, i + 1)) quotes.push(i + 1);
      const at = quotes.length && rng.chance(0.7) ? rng.pick(quotes) : rng.int(buf.length + 1);
      const bad = Buffer.from(rng.pick(INVALID_UTF8));
      return { body: Buffer.concat([buf.subarray(0, at), bad, buf.subarray(at)]), note: `invalid UTF-8 ${bad.toString('hex')} at ${at}` };
    }],
    [2, () => {
      // A duplicate key: `"k":` repeated right after the `{` or `,` that precedes it.
      const keys = [...text.matchAll(/([{,])"((?:[^"\\]|\\.)*)":/g)];
      if (keys.length === 0) return { body: buf, note: 'no key to duplicate' };
      const m = rng.pick(keys);
      const at = m.index + 1;
      const dup = `"${m[2]}":${serialize(randomJson(rng, 2))},`;
      return { body: Buffer.from(text.slice(0, at) + dup + text.slice(at)), note: `duplicate key "${m[2]}"` };
    }],
    [1, () => ({ body: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), buf]), note: 'UTF-8 BOM' })],
    [1, () => ({ body: Buffer.from(text + rng.pick(['x', '}', ']', ' {}', '\u0000', '\n{"a":1}', ',']), 'utf8'), note: 'trailing garbage' })],
    [1, () => ({ body: Buffer.from(rng.pick(['', ' ', '\n\t ', 'null', '[]', '""', '0', 'true', '{}', '[{}]', '{"":""}', '{"metadata":null}', '{"metadata":[]}', '{"metadata":"x"}']), 'utf8'), note: 'tiny body' })],
    [1, () => ({ body: Buffer.from(`/* c */ ${text} // c`), note: 'JSON with comments' })],
    [1, () => ({ body: Buffer.from(text, 'utf16le'), note: 'UTF-16LE' })],
    [1, () => ({ body: Buffer.from(text.replace(/"/g, "'")), note: 'single quotes' })],
    [1, () => {
      const at = rng.int(buf.length);
      const copy = Buffer.from(buf);
      copy[at] = rng.int(256);
      return { body: copy, note: `byte ${at} flipped` };
    }],
  ])();
}

// ---------------------------------------------------------------------------------------------
// Requests

export type CaseKind =
  | 'discovery'
  | 'list'
  | 'watch'
  | 'create'
  | 'get'
  | 'update'
  | 'update-status'
  | 'patch-merge'
  | 'patch-json'
  | 'patch-strategic'
  | 'patch-apply'
  | 'delete'
  | 'deletecollection'
  | 'rendered'
  | 'metrics'
  | 'console'
  | 'unknown-path'
  | 'random-bytes'
  | 'random-json'
  | 'users'
  | 'session'
  | 'tokens'
  | 'audit';

/** How a socket case breaks HTTP framing (only over a real socket; inject frames every body itself). */
export type Framing = 'ok' | 'content-length-short' | 'content-length-long' | 'content-length-junk' | 'two-content-lengths' | 'chunked' | 'bad-chunked' | 'chunked-and-length';

export interface FuzzCase {
  index: number;
  kind: CaseKind;
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** What was done to produce it, for the failure report. */
  notes: string[];
  /** The bearer token is the real one (otherwise the answer must be 401 wherever a token is needed). */
  authValid: boolean;
  framing: Framing;
  /** Extra raw header lines (socket only: may hold bytes no HTTP client would send). */
  rawHeaderLines?: string[];
  /** How the body was made from a valid one: valid, mutated or random. */
  bodyStyle?: string;
}

/** What the generator knows about the server's state, updated from responses. */
export interface FuzzState {
  namespaces: string[];
  /** Latest object seen per plural, by "namespace/name". */
  objects: Record<Plural, Map<string, Record<string, unknown>>>;
  /** Public ids of API and join tokens the fuzz made (never the test's own), and join-token secrets. */
  tokenIds: string[];
  joinTokens: { namespace: string; id: string; secret?: string }[];
  /** Users the fuzz made, with the password it gave them. */
  users: { name: string; password: string }[];
  /** continue tokens the server has handed out. */
  continues: string[];
  /** resourceVersions seen. */
  revisions: string[];
  limits: Limits;
  /** Paths the console serves. */
  consolePaths: string[];
}

export function newState(limits: Limits, consolePaths: string[]): FuzzState {
  return {
    namespaces: ['default', 'fuzz'],
    objects: Object.fromEntries(PLURALS.map((p) => [p, new Map()])),
    continues: [],
    revisions: [],
    tokenIds: [],
    joinTokens: [],
    users: [],
    limits,
    consolePaths,
  };
}

/** Record a 2xx response body: objects, lists, continue tokens. */
export function learn(state: FuzzState, method: string, url: string, status: number, body: unknown): void {
  if (status < 200 || status >= 300 || typeof body !== 'object' || body === null) return;
  const b = body as { kind?: string; metadata?: { name?: string; namespace?: string; resourceVersion?: string; continue?: string }; items?: unknown[] };
  if (b.metadata?.continue) remember(state.continues, b.metadata.continue);
  if (b.metadata?.resourceVersion) remember(state.revisions, b.metadata.resourceVersion);
  const plural = PLURALS.find((p) => KINDS[p] === b.kind);
  if (plural && b.metadata?.name && (b.metadata.namespace !== undefined || !NAMESPACED[plural])) {
    const key = `${b.metadata.namespace ?? ''}/${b.metadata.name}`;
    if (method === 'DELETE' && !url.includes('dryRun')) objectsOf(state, plural).delete(key);
    else objectsOf(state, plural).set(key, b as Record<string, unknown>);
  }
  if (Array.isArray(b.items)) for (const item of b.items.slice(0, 20)) learn(state, 'GET', url, status, item);
  // Tokens the fuzz made (only those: deleting the test's own token would end the run early).
  const t = body as { kind?: string; metadata?: { name?: string; namespace?: string }; token?: string };
  if (method === 'POST' && t.kind === 'APIToken' && t.metadata?.name) remember(state.tokenIds, t.metadata.name);
  if (method === 'POST' && t.kind === 'JoinToken' && t.metadata?.name && t.metadata.namespace) {
    state.joinTokens.push({ namespace: t.metadata.namespace, id: t.metadata.name, secret: t.token });
    if (state.joinTokens.length > 20) state.joinTokens.shift();
  }
}

/** The objects seen of one resource, by "namespace/name" ("/name" when cluster-wide). */
export function objectsOf(state: FuzzState, plural: Plural): Map<string, Record<string, unknown>> {
  let m = state.objects[plural];
  if (!m) state.objects[plural] = m = new Map();
  return m;
}

function remember(list: string[], v: string): void {
  list.push(v);
  if (list.length > 50) list.shift();
}

const GOOD_CONTENT_TYPES: Partial<Record<CaseKind, string>> = {
  create: 'application/json',
  update: 'application/json',
  'update-status': 'application/json',
  'patch-merge': 'application/merge-patch+json',
  'patch-json': 'application/json-patch+json',
  'patch-strategic': 'application/strategic-merge-patch+json',
  'patch-apply': 'application/apply-patch+yaml',
  delete: 'application/json',
};

const ODD_CONTENT_TYPES = [
  '', 'application/json; charset=utf-8', 'application/json; charset=latin1', 'APPLICATION/JSON', 'application/json;;;', 'application/jsonx', 'application/json, text/plain',
  'text/plain', 'text/json', 'application/yaml', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/apply-patch+yaml',
  'application/apply-patch+cbor', 'application/merge-patch+json', 'application/json-patch+json', 'application/strategic-merge-patch+json',
  'application/vnd.kubernetes.protobuf', '*/*', 'application/*', ';', 'application/json; boundary="', 'application/json\t', 'application/merge-patch+json; charset=utf-16',
];

const ACCEPTS = [
  'application/json', '*/*', 'application/json;as=Table;v=v1;g=meta.k8s.io', 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json',
  'application/json; as=Table', 'application/vnd.kubernetes.protobuf', 'application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io', 'text/html',
  'application/yaml', 'application/cbor', ';as=Table', 'as=Table', '', 'application/json;q=0', 'text/event-stream', '*/*;q=0.1, application/json;as=Table',
];

const LABEL_SELECTORS = [
  'role=edge', 'role==edge', 'role!=edge', 'role in (edge,core)', 'role notin (edge)', '!role', 'role', 'env=prod,role=edge', 'haproxyhq.io/config=web',
  'role in (edge', 'role in ()', '=', '==x', 'a=b=c', '!', ',', ',,', 'role in ((a))', 'role=Edge_1!', 'x/y/z=1', 'UPPER=1', `${'a'.repeat(70)}=b`, `a=${'b'.repeat(70)}`,
  'role in (edge,,core)', ' ', 'role=😀', 'a\u0000=b', 'role =edge', 'role= edge', '-a=b', 'a.=b', 'role gt 3', 'a in(b)', 'notin (x)',
];

const FIELD_SELECTORS = [
  'metadata.name=edge-1', 'metadata.name==edge-1', 'metadata.name!=edge-1', 'metadata.namespace=default', 'metadata.name=edge-1,metadata.namespace=fuzz',
  'involvedObject.name=edge-1', 'involvedObject.kind=HAProxyInstance', 'reason=ConfigApplied', 'type=Warning', 'spec.paused=true', 'status.phase=Running',
  'metadata.name', 'metadata.name in (a,b)', '=', 'metadata.name=', 'metadata.name=a=b', 'metadata.labels.role=edge', '', ',', 'metadata.name=😀',
  'metadata.name=a\u0000', `metadata.name=${'a'.repeat(300)}`, 'metadata.uid=x', 'involvedObject.namespace=default,reason=X',
];

/** Query parameters for `kind`, each added with some chance, sometimes twice (so Fastify hands an array). */
function randomQuery(rng: Rng, state: FuzzState, kind: CaseKind): [string, string][] {
  const q: [string, string][] = [];
  const add = (p: number, k: string, v: () => string) => {
    if (!rng.chance(p)) return;
    q.push([k, v()]);
    if (rng.chance(0.05)) q.push([k, v()]);
  };
  const num = () => rng.pick(['0', '1', '2', '5', '100', '10001', '-1', '1.5', '1e3', 'abc', '', ' 1', '0x10', '99999999999999999999999', '00', '+1', 'NaN']);
  const rv = () => rng.pick([...state.revisions.slice(-5), '0', '', '1', '-1', 'abc', '999999999', '99999999999999999999999999', '1.5', '0x1']);
  const token = () =>
    rng.weighted<() => string>([
      [3, () => (state.continues.length ? rng.pick(state.continues) : 'x')],
      [1, () => Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: rng.pick([1, 0, -1, 1.5, 1e20, '1', null]), start: rng.pick(['edge-1', '../x', '', '\u0000', 'a/b', '..']) })).toString('base64url')],
      [1, () => Buffer.from(serialize(randomJson(rng, 2))).toString('base64')],
      [1, () => junkString(rng, 30)],
    ])();
  if (kind === 'list' || kind === 'watch') {
    add(0.3, 'labelSelector', () => (rng.chance(0.85) ? rng.pick(LABEL_SELECTORS) : junkString(rng, 40)));
    add(0.25, 'fieldSelector', () => (rng.chance(0.85) ? rng.pick(FIELD_SELECTORS) : junkString(rng, 40)));
    add(0.3, 'resourceVersion', rv);
    add(0.1, 'resourceVersionMatch', () => rng.pick(['Exact', 'NotOlderThan', 'exact', '', 'x']));
    add(0.15, 'allowWatchBookmarks', () => rng.pick(['true', '1', 'false', 'yes', '']));
    add(0.1, 'sendInitialEvents', () => rng.pick(['true', 'false']));
    if (kind === 'list') {
      add(0.35, 'limit', num);
      add(0.25, 'continue', token);
      add(0.05, 'watch', () => rng.pick(['false', '0', 'no', '']));
    } else {
      q.push(['watch', rng.pick(['true', '1'])]);
      add(0.6, 'timeoutSeconds', () => rng.pick(['0', '1', '2', '-1', 'x', '1.5', '99999999999', '']));
    }
  }
  if (kind === 'create' || kind === 'update' || kind === 'update-status' || kind.startsWith('patch') || kind === 'delete') {
    add(0.15, 'dryRun', () => rng.pick(['All', 'all', '', 'None', 'All,All']));
    add(0.15, 'fieldValidation', () => rng.pick(['Strict', 'Warn', 'Ignore', 'strict', '', 'x']));
    add(0.05, 'fieldManager', () => junkString(rng, 20));
    add(0.05, 'force', () => rng.pick(['true', 'false']));
  }
  if (kind === 'delete') add(0.1, 'propagationPolicy', () => rng.pick(['Foreground', 'Background', 'Orphan', 'x']));
  if (kind === 'delete') add(0.1, 'gracePeriodSeconds', num);
  if (kind === 'rendered') add(0.5, 'revision', () => rng.pick(['web-1', 'tpl-1', 'web-2', '', 'nope', '../x', junkString(rng, 10)]));
  if (kind === 'metrics') add(0.6, 'sinceSeconds', num);
  add(0.05, 'pretty', () => rng.pick(['true', '1']));
  add(0.04, junkString(rng, 8), () => junkString(rng, 8));
  add(0.02, '__proto__', () => 'x');
  add(0.02, 'constructor', () => 'x');
  add(0.02, 'as', () => 'Table');
  return q;
}

function encodeQuery(rng: Rng, q: [string, string][]): string {
  if (q.length === 0) return '';
  const enc = (s: string) => (rng.chance(0.03) ? s.replace(/[ &#?%\u0000-\u001f\u007f-\uffff]/g, (c) => (c === ' ' ? '+' : pct(c).replace(/%/g, rng.pick(['%', '%25'])))) : pct(s));
  return '?' + q.map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&');
}

const plural = (rng: Rng): string =>
  rng.weighted<() => string>([
    [20, () => rng.pick(PLURALS)],
    [1, () => rng.pick(['HAProxyInstances', 'haproxyinstance', 'hpi', 'haproxyinstances.haproxyhq.io', 'pods', 'namespaces', '', '..', '%2e%2e', 'haproxyinstances%2Fstatus', 'status'])],
  ])();

const namespaceOf = (rng: Rng, state: FuzzState): string =>
  rng.weighted<() => string>([
    [12, () => rng.pick(state.namespaces)],
    [2, () => dnsName(rng).replace(/\./g, '-')],
    [1, () => rng.pick(['Bad_NS', 'a'.repeat(64), 'a.b', '-x', 'kube-system', '..', '%2e%2e', '😀', '%00', 'default%2Fhaproxyinstances', ' '])],
  ])();

/** Known names of `p` in `ns` (plus the seeds). */
function knownNames(state: FuzzState, p: string, ns: string): string[] {
  return [...objectsOf(state, p).keys()].filter((k) => k.startsWith(`${ns}/`)).map((k) => k.slice(ns.length + 1));
}

/** encodeURIComponent, except that a lone surrogate becomes the (invalid) UTF-8 bytes it would have. */
export function pct(s: string): string {
  return s
    .split(/([\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff])/)
    .map((part) => (/^[\ud800-\udfff]$/.test(part) ? [...Buffer.from([0xe0 | (part.charCodeAt(0) >> 12), 0x80 | ((part.charCodeAt(0) >> 6) & 63), 0x80 | (part.charCodeAt(0) & 63)])].map((b) => `%${b.toString(16).toUpperCase()}`).join('') : encodeURIComponent(part)))
    .join('');
}

/** An object the server has shown, with its resource and namespace. */
function existing(rng: Rng, state: FuzzState): { plural: Plural; ns: string; name: string } | undefined {
  const p = rng.pick(PLURALS);
  const keys = [...objectsOf(state, p).keys()];
  if (keys.length === 0) return undefined;
  const key = rng.pick(keys);
  const slash = key.indexOf('/');
  return { plural: p, ns: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** Encode a path segment, sometimes leaving characters raw, sometimes double-encoding. */
function segment(rng: Rng, s: string): string {
  return rng.weighted<() => string>([
    [10, () => pct(s)],
    [1, () => s.replace(/[\s#?%]/g, (c) => encodeURIComponent(c))],
    [1, () => pct(pct(s))],
  ])();
}

function unknownPath(rng: Rng): string {
  return rng.weighted<() => string>([
    [3, () => rng.pick([
      '/', '//', '/..', '/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/apis/..%2f..%2fetc/passwd', `${BASE}/namespaces/default/haproxyinstances/..%2F..%2Fx`,
      '/api/v1', '/api/v1/namespaces', '/apis/haproxyhq.io/v2', '/apis/apps/v1', `${BASE}/namespaces`, `${BASE}/namespaces/default`, `${BASE}/namespaces/default/`,
      `${BASE}//namespaces/default/haproxyinstances`, `${BASE}/namespaces//haproxyinstances`, `${BASE}/namespaces/default/haproxyinstances/edge-1/status/x`,
      `${BASE}/namespaces/default/haproxyinstances/edge-1/scale`, `${BASE}/namespaces/default/haproxyinstances/edge-1/`, `${BASE}/haproxyinstances/edge-1`,
      '/openapi/v3/apis/haproxyhq.io/v2', '/openapi/v2/x', '/version/', '/healthz/x', '/metrics', '/debug/pprof', '/%00', '/%', '/%ZZ', '/%E0%A4%A', '/%C0%AF',
      '/a%2Fb', '/😀', '/\u00e9', `/${'a'.repeat(5000)}`, `${BASE}/namespaces/default/haproxyinstances/${'a'.repeat(1100)}`, '/apis/%2e', '/apis;x=1',
      '/apis?', '/apis#frag', '/apis/haproxyhq.io/v1alpha1/namespaces/default/haproxyinstances/edge-1/rendered/x', '/.env', '/index.html/..', '/assets/../index.html',
      '/instances/../../etc/passwd', '/configs/%2e%2e/%2e%2e', '/assets/%2e%2e%2fpackage.json',
    ])],
    [2, () => '/' + Array.from({ length: 1 + rng.int(7) }, () => segment(rng, rng.chance(0.5) ? rng.pick(['apis', 'haproxyhq.io', 'v1alpha1', 'namespaces', 'default', 'haproxyinstances', 'status', '..', '.']) : junkString(rng, 12))).join('/')],
  ])();
}

function consolePath(rng: Rng, state: FuzzState): string {
  return rng.pick([...state.consolePaths, '/', '/signin', '/instances', '/instances/default/edge-1', '/configs/default/web/revisions', '/assets/nope.js', '/assets/', '/favicon.ico', '/configs/%2e%2e']);
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];

/** A body for a write to `p`: a valid object, a mutated one, random JSON or bytes. */
function writeBody(rng: Rng, state: FuzzState, p: Plural, ns: string, name: string, kind: CaseKind, notes: string[]): Buffer | undefined {
  const known = objectsOf(state, p).get(`${ns}/${name}`);
  let obj: Record<string, unknown>;
  if ((kind === 'update' || kind === 'update-status') && known && rng.chance(0.8)) {
    obj = structuredClone(known);
    notes.push('from the latest object seen');
    if (kind === 'update-status') obj.status = rng.chance(0.7) ? validStatus(rng, p) : randomJson(rng, 3);
    else if (rng.chance(0.5)) (obj.metadata as Record<string, unknown>).labels = { role: rng.pick(['edge', 'core']), n: String(rng.int(100)) };
    if (rng.chance(0.2) && obj.spec && typeof obj.spec === 'object') (obj.spec as Record<string, unknown>).paused = rng.chance(0.5);
  } else {
    obj = validObject(rng, p, name);
    notes.push('valid fixture');
  }
  const style = rng.weighted<string>([
    [5, 'valid'],
    [7, 'mutated'],
    [1, 'random-json'],
    [1, 'random-bytes'],
  ]);
  if (style === 'random-json') {
    notes.push('random JSON');
    return Buffer.from(serialize(randomJson(rng, 5)));
  }
  if (style === 'random-bytes') {
    notes.push('random bytes');
    return rng.bytes(rng.int(200));
  }
  if (style === 'mutated') {
    const n = rng.weighted([[6, 1], [3, 2], [1, 3]]);
    for (let i = 0; i < n; i++) notes.push(mutateOnce(rng, obj, p, state.limits));
  }
  const text = serialize(obj);
  if (style === 'mutated' && rng.chance(0.2)) {
    const m = mutateText(rng, text);
    notes.push(m.note);
    return m.body;
  }
  return Buffer.from(text);
}

function mergePatchBody(rng: Rng, state: FuzzState, p: Plural, ns: string, name: string, notes: string[]): Buffer {
  const patch = rng.weighted<() => unknown>([
    [4, () => ({ metadata: { labels: { role: rng.pick(['edge', 'core', null]), [junkString(rng, 6)]: rng.pick(['x', null, 1]) } } })],
    [4, () => ({ spec: { paused: rng.pick([true, false, null, 'true', 1]), configRevision: rng.pick(['web-1', null, '', 7]) } })],
    [3, () => ({ status: rng.chance(0.6) ? validStatus(rng, p) : randomJson(rng, 3) })],
    [2, () => ({ metadata: { resourceVersion: rng.pick([...state.revisions.slice(-3), '1', 'x', null, 5]) }, spec: { paused: true } })],
    [2, () => ({ metadata: { name: rng.pick([name, 'other', null, 1]), namespace: rng.pick([ns, 'other', null]), uid: rng.pick(['x', null]) } })],
    [2, () => ({ metadata: null })],
    [1, () => ({ kind: rng.pick(['Pod', null, 'Event']), apiVersion: rng.pick(['v1', null]) })],
    [3, () => {
      const o = validObject(rng, p, name);
      for (let i = 0; i < 1 + rng.int(3); i++) notes.push(mutateOnce(rng, o, p, state.limits));
      return o;
    }],
    [1, () => randomJson(rng, 4)],
    [1, () => rng.pick([null, [], 'x', 1, true, [{ op: 'add', path: '/x', value: 1 }]])],
  ])();
  const text = serialize(patch);
  if (rng.chance(0.1)) {
    const m = mutateText(rng, text);
    notes.push(m.note);
    return m.body;
  }
  return Buffer.from(text);
}

function jsonPatchBody(rng: Rng, state: FuzzState, p: Plural, ns: string, name: string, notes: string[]): Buffer {
  const known = objectsOf(state, p).get(`${ns}/${name}`) ?? validObject(rng, p, name);
  const realPaths = paths(known).map((pt) => '/' + pt.map((s) => String(s).replace(/~/g, '~0').replace(/\//g, '~1')).join('/'));
  const ptr = () =>
    rng.weighted<() => string>([
      [6, () => rng.pick(realPaths)],
      [2, () => rng.pick(['/spec/paused', '/metadata/labels/role', '/metadata/labels/new', '/spec/servers/-', '/spec/servers/0', '/status', '/status/conditions/-', '/metadata/resourceVersion', '/metadata/name', '/metadata/namespace', '/kind', '/apiVersion', '/metadata', '/spec', ''])],
      [1, () => rng.pick(['x', '/', '//', '/~', '/~2', '/a~1b', '/__proto__/polluted', '/constructor/prototype/x', '/spec/servers/99999999999999999999', '/spec/servers/-1', '/spec/servers/01', '/metadata/labels/__proto__', '/spec/servers/0/..'])],
      [1, () => '/' + junkString(rng, 10)],
    ])();
  const op = () => {
    const name = rng.weighted<string>([[5, 'add'], [3, 'replace'], [2, 'remove'], [1, 'move'], [1, 'copy'], [2, 'test'], [1, rng.pick(['ADD', 'merge', '', 'x', '_get'])]]);
    const o: Record<string, unknown> = { op: name, path: ptr() };
    if (rng.chance(0.85)) o.value = rng.weighted<() => unknown>([[3, () => randomJson(rng, 2)], [2, () => rng.pick(['edge', true, false, 1, null, 'web-1', {}, []])], [1, () => validStatus(rng, p)]])();
    if (name === 'move' || name === 'copy' || rng.chance(0.05)) o.from = ptr();
    if (rng.chance(0.1)) o.op = rng.pick([1, null, ['add']]);
    if (rng.chance(0.05)) delete o.path;
    return o;
  };
  const sane = () =>
    rng.pick([
      { op: 'replace', path: '/metadata/labels', value: { role: rng.pick(['edge', 'core']) } },
      { op: 'add', path: '/metadata/annotations', value: { note: junkString(rng, 10) } },
      { op: 'add', path: '/spec/paused', value: rng.chance(0.5) },
      { op: 'test', path: '/metadata/name', value: name },
      { op: 'add', path: '/status', value: validStatus(rng, p) },
      { op: 'remove', path: '/metadata/labels' },
      { op: 'copy', from: '/metadata/labels', path: '/metadata/annotations' },
      { op: 'move', from: '/metadata/labels', path: '/metadata/annotations' },
    ]);
  const ops = rng.weighted<() => unknown>([
    [3, () => Array.from({ length: 1 + rng.int(3) }, sane)],
    [12, () => Array.from({ length: 1 + rng.int(4) }, () => (rng.chance(0.3) ? sane() : op()))],
    [1, () => randomJson(rng, 3)],
  ])();
  if (rng.chance(0.1) && Array.isArray(ops)) {
    const depth = rng.pick([100, 2000, 50000]);
    ops.push({ op: 'add', path: '/spec/x', value: raw(nested(rng, depth)) });
    notes.push(`json-patch value nested ${depth} deep`);
  }
  const text = serialize(ops);
  notes.push(`json patch ${text.slice(0, 160)}`);
  if (rng.chance(0.1)) {
    const m = mutateText(rng, text);
    notes.push(m.note);
    return m.body;
  }
  return Buffer.from(text);
}

/** Random headers on top of the ones a case needs. */
function decorate(rng: Rng, c: FuzzCase, tokens: readonly string[], socket: boolean): void {
  // Authorization: mostly the admin's token, sometimes another user's (RBAC says 403 more often);
  // otherwise something that must get a 401.
  const token = tokens[0]!;
  const other = tokens[1] ?? token;
  const auth = rng.weighted<() => string | undefined>([
    [140, () => `Bearer ${token}`],
    [12, () => `Bearer ${other}`],
    [1, () => undefined],
    [1, () => 'Bearer'],
    [1, () => 'Bearer '],
    [1, () => `Bearer ${token}x`],
    [1, () => `Bearer ${token.slice(0, -1)}`],
    [1, () => `bearer ${token}`],
    [1, () => `Basic ${Buffer.from('admin:admin').toString('base64')}`],
    [1, () => `Bearer ${token} extra`],
    [1, () => `Bearer ${'x'.repeat(rng.pick([15, 16, 512, 513, 8000]))}`],
    [1, () => `Bearer hq_${junkString(rng, 40).replace(/[^\x21-\x7e]/g, 'x')}`],
    [1, () => `Token ${token}`],
  ])();
  if (auth === undefined) delete c.headers.authorization;
  else c.headers.authorization = auth;
  // `bearer` in lower case is accepted (the scheme is case-insensitive).
  c.authValid = auth !== undefined && tokens.some((t) => new RegExp(`^bearer ${t}$`, 'i').test(auth));
  if (auth === `Bearer ${other}` && other !== token) c.notes.push('the second user\'s token');
  if (auth !== undefined && !c.authValid) c.notes.push(`authorization ${JSON.stringify(auth.slice(0, 60))}`);

  if (c.body !== undefined || rng.chance(0.1)) {
    const good = GOOD_CONTENT_TYPES[c.kind] ?? 'application/json';
    const ct = rng.chance(0.85) ? good : rng.pick(ODD_CONTENT_TYPES);
    if (ct === '' && rng.chance(0.5)) delete c.headers['content-type'];
    else c.headers['content-type'] = ct;
    if (ct !== good) c.notes.push(`content-type ${JSON.stringify(ct)}`);
  }
  if (rng.chance(0.2)) {
    c.headers.accept = rng.pick(ACCEPTS);
    c.notes.push(`accept ${JSON.stringify(c.headers.accept)}`);
  }
  if (rng.chance(0.03)) {
    // Huge headers: over Node's 16 KiB limit they are refused before any route runs.
    const size = rng.pick(socket ? [4000, 15000, 17000, 70000] : [4000, 15000, 70000]);
    c.headers[rng.pick(['x-junk', 'accept', 'user-agent', 'cookie'])] = 'a'.repeat(size);
    c.notes.push(`a ${size}-byte header`);
  }
  if (rng.chance(0.03)) c.headers['accept-encoding'] = rng.pick(['gzip', 'br', 'identity;q=0', '*;q=0']);
  if (rng.chance(0.02)) c.headers['accept-version'] = 'x';
  if (rng.chance(0.02)) c.headers['x-http-method-override'] = 'DELETE';
  if (rng.chance(0.02)) c.headers['transfer-encoding'] = 'identity';
  if (socket && rng.chance(0.05)) {
    c.rawHeaderLines = [rng.pick([
      `X-Junk: ${junkString(rng, 30).replace(/[\r\n]/g, '')}`,
      'X-Nul: a\u0000b',
      'Content-Type: application/json',
      'Content-Type: text/plain',
      'Authorization: Bearer x',
      'Host: ',
      'Expect: 100-continue',
      ' leading-space: x',
      'No-Colon',
      'X-Bad\u0001Name: x',
      `X-Utf8: ${'é😀'}`,
    ])];
    c.notes.push(`raw header ${JSON.stringify(c.rawHeaderLines[0])}`);
  }
  if (socket && c.body !== undefined && rng.chance(0.2)) {
    c.framing = rng.pick(['content-length-short', 'content-length-long', 'content-length-junk', 'two-content-lengths', 'chunked', 'bad-chunked', 'chunked-and-length'] as const);
    c.notes.push(`framing ${c.framing}`);
  }
}

/** A body from a valid one: sent as is, mutated (structure, then maybe bytes), or replaced by random JSON. */
function bodyFrom(rng: Rng, valid: Record<string, unknown>, c: FuzzCase): Buffer {
  c.bodyStyle = undefined;
  const style = rng.weighted<string>([[4, 'valid'], [6, 'mutated'], [1, 'random']]);
  c.bodyStyle = style;
  if (style === 'random') {
    c.notes.push('random JSON');
    return Buffer.from(serialize(randomJson(rng, 4)));
  }
  if (style === 'mutated') {
    for (let i = rng.weighted([[6, 1], [3, 2]]); i > 0; i--) c.notes.push(mutateOnce(rng, valid, 'users', { maxBodyBytes: 64 * 1024, maxObjectBytes: 64 * 1024 }));
  }
  const text = serialize(valid);
  c.notes.push(`body ${text.slice(0, 160)}`);
  if (style === 'mutated' && rng.chance(0.2)) {
    const m = mutateText(rng, text);
    c.notes.push(m.note);
    return m.body;
  }
  return Buffer.from(text);
}

const userName = (rng: Rng, state: FuzzState) =>
  rng.weighted<() => string>([
    [3, () => (state.users.length ? rng.pick(state.users).name : 'alice')],
    [3, () => `${rng.pick(['alice', 'bob', 'ops', 'ci'])}${rng.int(1000)}`],
    [1, () => rng.pick(['admin', 'Alice', 'a b', 'a/b', '', '..', 'x'.repeat(300), 'system:admin', 'ä', 'a@b.c', '_x'])],
    [1, () => junkString(rng, 20)],
  ])();

/** Users: create (rarely with a password good enough to be hashed: scrypt is slow by design), list, get, delete, password. */
function usersCase(rng: Rng, state: FuzzState, c: FuzzCase): void {
  const users = `${BASE}/users`;
  const name = userName(rng, state);
  const password = rng.weighted<() => string>([[1, () => `pw-${rng.int(1e9)}-long-enough`], [2, () => rng.pick(['', 'short', 'x'.repeat(2000), name, '\u0000'.repeat(20)])], [1, () => junkString(rng, 30)]])();
  switch (rng.weighted<string>([[3, 'create'], [2, 'list'], [2, 'get'], [1, 'delete'], [2, 'password']])) {
    case 'create':
      c.method = 'POST';
      c.url = users;
      c.body = bodyFrom(rng, { name, password, groups: rng.pick([[], ['ops'], ['system:masters'], ['a'.repeat(300)]]) }, c);
      if (c.bodyStyle === 'valid' && !state.users.some((u) => u.name === name)) state.users.push({ name, password });
      break;
    case 'list':
      c.url = users + encodeQuery(rng, rng.chance(0.2) ? [['limit', '1']] : []);
      break;
    case 'get':
      c.url = `${users}/${segment(rng, name)}`;
      break;
    case 'delete':
      c.method = 'DELETE';
      c.url = `${users}/${segment(rng, name)}`;
      break;
    case 'password': {
      c.method = 'PUT';
      c.url = `${users}/${segment(rng, name)}/password`;
      const known = state.users.find((u) => u.name === name);
      c.body = bodyFrom(rng, { ...(rng.chance(0.5) ? { currentPassword: known?.password ?? password } : {}), newPassword: password }, c);
      break;
    }
  }
}

/** Console sign-in: /login (public), /logout, /session, with random bodies and cookies. */
function sessionCase(rng: Rng, state: FuzzState, c: FuzzCase): void {
  const which = rng.weighted<string>([[3, 'login'], [1, 'logout'], [2, 'session']]);
  c.url = `/${which}`;
  if (which === 'login') {
    c.method = 'POST';
    const known = state.users.length && rng.chance(0.3) ? rng.pick(state.users) : undefined;
    c.body = bodyFrom(rng, { username: known?.name ?? userName(rng, state), password: known?.password ?? junkString(rng, 20) }, c);
  } else if (which === 'logout') c.method = 'POST';
  if (rng.chance(0.5)) {
    c.headers.cookie = rng.pick([`__Host-hq-session=${junkString(rng, 40).replace(/[;\s\u0000-\u001f\u007f-\uffff]/g, 'x')}`, '__Host-hq-session=', 'a=b; __Host-hq-session=x; __Host-hq-session=y', `x=${'a'.repeat(5000)}`]);
    c.headers['x-hq-csrf'] = rng.pick(['', 'x', 'a'.repeat(100)]);
    c.headers['sec-fetch-site'] = rng.pick(['same-origin', 'cross-site', 'none']);
    c.notes.push('session cookie');
  }
}

/** API tokens, join tokens, enrollment and an instance's credentials. */
function tokensCase(rng: Rng, state: FuzzState, c: FuzzCase, ns: string): void {
  const hexId = () => (rng.chance(0.8) ? Array.from({ length: 12 }, () => '0123456789abcdef'[rng.int(16)]).join('') : junkString(rng, 14));
  const instance = () => rng.pick([...knownNames(state, 'haproxyinstances', ns), 'edge-1', 'new-edge', 'Bad_Name', '']);
  switch (rng.weighted<string>([[3, 'create'], [2, 'list'], [1, 'delete'], [2, 'join-create'], [1, 'join-list'], [1, 'join-delete'], [3, 'enroll'], [1, 'rotate'], [1, 'revoke']])) {
    case 'create':
      c.method = 'POST';
      c.url = `${BASE}/tokens`;
      c.body = bodyFrom(rng, { user: { name: userName(rng, state), groups: rng.pick([[], ['ops'], ['system:masters'], ['system:agents']]) }, description: junkString(rng, 20), ttlSeconds: rng.pick([60, 59, 3600, 0, -1, 1e12]) }, c);
      break;
    case 'list':
      c.url = `${BASE}/tokens`;
      break;
    case 'delete':
      c.method = 'DELETE';
      c.url = `${BASE}/tokens/${segment(rng, state.tokenIds.length && rng.chance(0.5) ? rng.pick(state.tokenIds) : hexId())}`;
      break;
    case 'join-create':
      c.method = 'POST';
      c.url = `${BASE}/namespaces/${segment(rng, ns)}/jointokens`;
      c.body = bodyFrom(rng, { ...(rng.chance(0.5) ? { instance: instance() } : {}), ttlSeconds: rng.pick([60, 3600, 0, 604800, 604801]), description: junkString(rng, 10) }, c);
      break;
    case 'join-list':
      c.url = `${BASE}/namespaces/${segment(rng, ns)}/jointokens`;
      break;
    case 'join-delete': {
      const j = state.joinTokens.length && rng.chance(0.5) ? rng.pick(state.joinTokens) : undefined;
      c.method = 'DELETE';
      c.url = `${BASE}/namespaces/${segment(rng, j?.namespace ?? ns)}/jointokens/${segment(rng, j?.id ?? hexId())}`;
      break;
    }
    case 'enroll': {
      const j = state.joinTokens.length && rng.chance(0.6) ? rng.pick(state.joinTokens) : undefined;
      c.method = 'POST';
      c.url = '/enroll';
      c.body = bodyFrom(rng, { token: j?.secret ?? `hqj_${junkString(rng, 30)}`, instance: instance() }, c);
      break;
    }
    case 'rotate':
    case 'revoke':
      c.method = rng.chance(0.5) ? 'POST' : 'DELETE';
      c.url = `${BASE}/namespaces/${segment(rng, ns)}/haproxyinstances/${segment(rng, instance())}/credentials`;
      break;
  }
}

function auditQuery(rng: Rng, state: FuzzState): [string, string][] {
  const q: [string, string][] = [];
  const add = (p: number, k: string, v: () => string) => rng.chance(p) && q.push([k, v()]);
  add(0.3, 'limit', () => rng.pick(['1', '10', '0', '-1', '5001', 'x', '99999999999999999999']));
  add(0.2, 'order', () => rng.pick(['asc', 'desc', 'x', '']));
  add(0.2, 'verb', () => rng.pick(['create', 'update', 'patch', 'delete', 'get', 'x', '']));
  add(0.2, 'sinceTime', () => rng.pick(['2026-01-01T00:00:00Z', '2026-13-01T00:00:00Z', 'yesterday', '', '0000-00-00T']));
  add(0.2, 'user', () => userName(rng, state));
  add(0.2, 'namespace', () => rng.pick(['default', 'fuzz', '', 'Bad_NS']));
  add(0.2, 'resource', () => rng.pick([...PLURALS, 'users', 'x']));
  add(0.1, 'name', () => junkString(rng, 10));
  add(0.2, 'continue', () => (state.continues.length && rng.chance(0.5) ? rng.pick(state.continues) : junkString(rng, 30)));
  add(0.05, 'watch', () => 'true');
  return q;
}

/** One request, from (seed, index) and what the server has shown so far; `tokens[0]` is the admin's. */
export function generateCase(seed: number, index: number, state: FuzzState, tokens: readonly string[], socket: boolean): FuzzCase {
  const rng = new Rng(seed, index + 1);
  const kind = rng.weighted<CaseKind>([
    [4, 'discovery'],
    [10, 'list'],
    [socket ? 6 : 0, 'watch'],
    [16, 'create'],
    [5, 'get'],
    [9, 'update'],
    [5, 'update-status'],
    [9, 'patch-merge'],
    [7, 'patch-json'],
    [2, 'patch-strategic'],
    [1, 'patch-apply'],
    [5, 'delete'],
    [1, 'deletecollection'],
    [3, 'rendered'],
    [2, 'metrics'],
    [3, 'console'],
    [7, 'unknown-path'],
    [1, 'random-bytes'],
    [2, 'random-json'],
    // Few: a good password costs a scrypt hash (about 100 ms of CPU, by design), and so does a sign-in.
    [1, 'users'],
    [0.5, 'session'],
    [3, 'tokens'],
    [2, 'audit'],
  ]);
  const c: FuzzCase = { index, kind, method: 'GET', url: '/', headers: {}, notes: [], authValid: true, framing: 'ok' };
  // Item verbs mostly aim at an object that exists, so they get past the lookup to the code behind it.
  const target = rng.chance(0.75) ? existing(rng, state) : undefined;
  const p = target?.plural ?? plural(rng);
  const pl = PLURALS.includes(p) ? p : 'haproxyinstances';
  const ns = target?.ns ?? (NAMESPACED[pl] === false ? '' : namespaceOf(rng, state));
  // Now and then the wrong scope: a namespace for a cluster-wide resource, or none for a namespaced one.
  const wrongScope = rng.chance(0.04);
  const namespacedPath = (NAMESPACED[pl] ?? true) !== wrongScope;
  const collection = namespacedPath ? `${BASE}/namespaces/${target ? ns || 'default' : segment(rng, ns || 'default')}/${p}` : `${BASE}/${p}`;
  if (wrongScope) c.notes.push('wrong scope');
  const nameFor = () => target?.name ?? objectName(rng, knownNames(state, p, ns));
  const itemUrl = (name: string, sub = '') => `${collection}/${segment(rng, name)}${sub}`;

  switch (kind) {
    case 'discovery':
      c.url = rng.pick(['/api', '/apis', '/apis/haproxyhq.io', BASE, '/openapi/v2', '/openapi/v3', `/openapi/v3/apis/haproxyhq.io/v1alpha1`, `/openapi/v3/apis/haproxyhq.io/v1alpha1?hash=x`, '/version', '/healthz', '/livez', '/readyz']);
      c.method = rng.pick(['GET', 'GET', 'GET', 'HEAD', 'POST', 'DELETE', 'OPTIONS']);
      break;
    case 'list':
    case 'watch':
      c.url = (rng.chance(0.25) ? `${BASE}/${p}` : collection) + encodeQuery(rng, randomQuery(rng, state, kind));
      break;
    case 'create': {
      c.method = 'POST';
      const name = rng.chance(0.8) ? `${dnsName(rng)}-${index}` : nameFor();
      c.url = collection + encodeQuery(rng, randomQuery(rng, state, kind));
      c.body = writeBody(rng, state, pl, ns, name, kind, c.notes);
      break;
    }
    case 'get':
      c.url = itemUrl(nameFor(), rng.chance(0.3) ? '/status' : '');
      break;
    case 'update':
    case 'update-status': {
      c.method = 'PUT';
      const name = nameFor();
      c.url = itemUrl(name, kind === 'update-status' ? '/status' : '') + encodeQuery(rng, randomQuery(rng, state, kind));
      c.body = writeBody(rng, state, pl, ns, name, kind, c.notes);
      break;
    }
    case 'patch-merge':
    case 'patch-strategic':
    case 'patch-json':
    case 'patch-apply': {
      c.method = 'PATCH';
      const name = nameFor();
      c.url = itemUrl(name, rng.chance(0.3) ? '/status' : '') + encodeQuery(rng, randomQuery(rng, state, kind));
      if (kind === 'patch-json') c.body = jsonPatchBody(rng, state, pl, ns, name, c.notes);
      else if (kind === 'patch-apply') c.body = Buffer.from(rng.pick(['metadata:\n  name: x\n', '{}', '\u00a1\u0000', 'a: [']));
      else c.body = mergePatchBody(rng, state, pl, ns, name, c.notes);
      break;
    }
    case 'delete': {
      c.method = 'DELETE';
      // Mostly objects created by the fuzz itself: the seeds are restored, but not too often.
      const known = knownNames(state, p, ns).filter((n) => /-\d+$/.test(n) && !/^edge-[12]$/.test(n));
      const name = known.length && rng.chance(0.7) ? rng.pick(known) : nameFor();
      c.url = itemUrl(name) + encodeQuery(rng, randomQuery(rng, state, kind));
      if (rng.chance(0.4)) {
        const o = objectsOf(state, pl).get(`${ns}/${name}`)?.metadata as { uid?: string; resourceVersion?: string } | undefined;
        const opts = rng.weighted<() => unknown>([
          [3, () => ({ kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid: rng.pick([o?.uid, 'x', 1, null]), resourceVersion: rng.pick([o?.resourceVersion, '1', 'x', 2, null]) } })],
          [2, () => ({ dryRun: rng.pick([['All'], 'All', [1], null]), propagationPolicy: 'Background', gracePeriodSeconds: rng.pick([0, -1, 'x']) })],
          [1, () => ({ preconditions: rng.pick(['x', 1, [], null]) })],
          [2, () => randomJson(rng, 3)],
        ])();
        const text = serialize(opts);
        c.body = rng.chance(0.1) ? mutateText(rng, text).body : Buffer.from(text);
        c.notes.push(`DeleteOptions ${text.slice(0, 120)}`);
      }
      break;
    }
    case 'deletecollection':
      c.method = 'DELETE';
      c.url = collection + encodeQuery(rng, randomQuery(rng, state, 'list'));
      break;
    case 'rendered':
      c.url = `${BASE}/namespaces/${segment(rng, ns)}/haproxyinstances/${segment(rng, objectName(rng, knownNames(state, 'haproxyinstances', ns)))}/rendered` + encodeQuery(rng, randomQuery(rng, state, kind));
      if (rng.chance(0.1)) c.method = rng.pick(['POST', 'PUT', 'DELETE']);
      break;
    case 'metrics':
      c.url = `${BASE}/namespaces/${segment(rng, ns)}/haproxyinstances/${segment(rng, objectName(rng, knownNames(state, 'haproxyinstances', ns)))}/metrics` + encodeQuery(rng, randomQuery(rng, state, kind));
      if (rng.chance(0.1)) c.method = rng.pick(['POST', 'PUT', 'DELETE']);
      break;
    case 'console':
      c.url = consolePath(rng, state);
      c.method = rng.pick(['GET', 'GET', 'GET', 'HEAD', 'POST', 'PUT']);
      if (rng.chance(0.2)) c.headers['if-none-match'] = rng.pick(['"x"', '*', '', 'W/"x"']);
      break;
    case 'unknown-path':
      c.url = unknownPath(rng);
      c.method = rng.pick(METHODS);
      if (c.method === 'POST' || c.method === 'PUT' || c.method === 'PATCH') c.body = Buffer.from(serialize(randomJson(rng, 3)));
      break;
    case 'random-bytes':
      c.method = rng.pick(['POST', 'PUT', 'PATCH', 'DELETE']);
      c.url = c.method === 'POST' ? collection : itemUrl(nameFor(), rng.chance(0.3) ? '/status' : '');
      c.body = rng.bytes(rng.pick([0, 1, 2, 16, 1000, 70000]));
      c.notes.push(`${c.body.length} random bytes`);
      break;
    case 'random-json':
      c.method = rng.pick(['POST', 'PUT', 'PATCH', 'DELETE']);
      c.url = c.method === 'POST' ? collection : itemUrl(nameFor(), rng.chance(0.3) ? '/status' : '');
      c.body = Buffer.from(serialize(randomJson(rng, 6)));
      c.notes.push('random JSON');
      break;
    case 'users':
      usersCase(rng, state, c);
      break;
    case 'session':
      sessionCase(rng, state, c);
      break;
    case 'tokens':
      tokensCase(rng, state, c, ns || 'default');
      break;
    case 'audit':
      c.url = `${BASE}/auditevents` + encodeQuery(rng, auditQuery(rng, state));
      if (rng.chance(0.1)) c.method = rng.pick(['POST', 'DELETE']);
      break;
  }
  if (rng.chance(0.03)) {
    c.method = rng.pick(METHODS);
    c.notes.push(`method changed to ${c.method}`);
  }
  decorate(rng, c, tokens, socket);
  return c;
}

/** The request as text for a failure report: method, URL, headers, and the body (escaped, shortened). */
export function describeCase(c: FuzzCase, repro: string): string {
  const body = c.body === undefined ? '(none)' : c.body.length > 600 ? `${JSON.stringify(c.body.subarray(0, 600).toString('latin1'))}... (${c.body.length} bytes)` : JSON.stringify(c.body.toString('latin1'));
  const headers = Object.entries(c.headers).map(([k, v]) => `${k}: ${v.length > 200 ? `${v.slice(0, 60)}... (${v.length} chars)` : v}`);
  return [
    `case ${c.index} (${c.kind}; ${repro}) ${c.method} ${c.url.length > 300 ? c.url.slice(0, 300) + '...' : c.url}`,
    ...headers.map((h) => `  ${h}`),
    ...(c.rawHeaderLines ?? []).map((h) => `  (raw) ${JSON.stringify(h)}`),
    ...(c.framing !== 'ok' ? [`  framing: ${c.framing}`] : []),
    `  body: ${body}`,
    `  made by: ${c.notes.join('; ')}`,
  ].join('\n');
}
