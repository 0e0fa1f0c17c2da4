/**
 * Bad input gets the right status code and a message naming the field or cause; never a 500,
 * never a half-written object (the store's revision does not move).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, objectsState, type TestApp } from './support/app.ts';
import { configFixture, instanceFixture, ns } from './support/fixtures.ts';

let t: TestApp;
let existing: any;
beforeAll(async () => {
  t = await buildTestApp({ maxBodyBytes: 256 * 1024, maxObjectBytes: 128 * 1024 });
  const res = await t.app.inject({ method: 'POST', url: ns('haproxyinstances'), headers: t.headers, payload: instanceFixture({ metadata: { name: 'keep' } }) });
  existing = res.json();
});
afterAll(async () => {
  await t.close();
});

interface Case {
  name: string;
  method?: 'POST' | 'PUT' | 'PATCH' | 'GET' | 'DELETE';
  url?: string;
  payload?: string;
  headers?: Record<string, string>;
  status: number;
  reason: string;
  message: RegExp;
  field?: string;
}

const cases = (): Case[] => [
  { name: 'malformed JSON', payload: '{"metadata": {"name": "x"', status: 400, reason: 'BadRequest', message: /not valid JSON/ },
  { name: 'an empty body', payload: '', status: 400, reason: 'BadRequest', message: /empty/ },
  { name: 'a JSON array instead of an object', payload: '[]', status: 400, reason: 'BadRequest', message: /must be a JSON object/ },
  { name: 'a __proto__ key', payload: '{"metadata":{"name":"p"},"__proto__":{"x":1}}', status: 400, reason: 'BadRequest', message: /not valid JSON: .*prototype/ },
  {
    name: 'an unknown field in spec',
    payload: JSON.stringify(instanceFixture({ metadata: { name: 'u' }, spec: { pasued: true } })),
    status: 422, reason: 'Invalid', message: /spec\.pasued: unknown field/, field: 'spec.pasued',
  },
  {
    name: 'an unknown top-level field',
    payload: JSON.stringify({ ...instanceFixture({ metadata: { name: 'u2' } }), extra: 1 }),
    status: 422, reason: 'Invalid', message: /extra: unknown field/, field: 'extra',
  },
  {
    name: 'a wrong type',
    payload: JSON.stringify(instanceFixture({ metadata: { name: 'w' }, spec: { paused: 'yes' } })),
    status: 422, reason: 'Invalid', message: /spec\.paused: Invalid value: must be of type boolean, not string/, field: 'spec.paused',
  },
  {
    name: 'a value outside an enum',
    payload: JSON.stringify(instanceFixture({ metadata: { name: 'e' }, spec: { servers: [{ backend: 'b', server: 's', state: 'up' }] } })),
    status: 422, reason: 'Invalid', message: /supported values: "ready", "drain", "maint"/, field: 'spec.servers[0].state',
  },
  {
    name: 'a name that is not DNS-1123',
    payload: JSON.stringify(instanceFixture({ metadata: { name: 'Edge_1' } })),
    status: 422, reason: 'Invalid', message: /metadata\.name: Invalid value "Edge_1": must be a DNS-1123 subdomain/, field: 'metadata.name',
  },
  {
    name: 'a name that is too long',
    payload: JSON.stringify(instanceFixture({ metadata: { name: 'a'.repeat(254) } })),
    status: 422, reason: 'Invalid', message: /at most 253/, field: 'metadata.name',
  },
  {
    name: 'a missing name',
    payload: JSON.stringify(instanceFixture({ metadata: { name: undefined } })),
    status: 422, reason: 'Invalid', message: /name or generateName is required/, field: 'metadata.name',
  },
  {
    name: 'a bad label value',
    payload: JSON.stringify(instanceFixture({ metadata: { name: 'l', labels: { role: 'not ok!' } } })),
    status: 422, reason: 'Invalid', message: /"not ok!" for label "role"/, field: 'metadata.labels',
  },
  {
    name: 'a namespace in the body that differs from the URL',
    payload: JSON.stringify(instanceFixture({ metadata: { name: 'n', namespace: 'prod' } })),
    status: 400, reason: 'BadRequest', message: /namespace of the provided object \(prod\) does not match/,
  },
  {
    name: 'a wrong kind',
    payload: JSON.stringify({ ...instanceFixture({ metadata: { name: 'k' } }), kind: 'Pod' }),
    status: 400, reason: 'BadRequest', message: /kind in the data \(Pod\)/,
  },
  {
    name: 'a wrong apiVersion',
    payload: JSON.stringify({ ...instanceFixture({ metadata: { name: 'k' } }), apiVersion: 'v1' }),
    status: 400, reason: 'BadRequest', message: /API version in the data \(v1\)/,
  },
  {
    name: 'a resourceVersion on create',
    payload: JSON.stringify(instanceFixture({ metadata: { name: 'r', resourceVersion: '5' } })),
    status: 422, reason: 'Invalid', message: /must not be set on create/, field: 'metadata.resourceVersion',
  },
  {
    name: 'a body over the size cap',
    payload: JSON.stringify(instanceFixture({ metadata: { name: 'big', annotations: { a: 'x'.repeat(300 * 1024) } } })),
    status: 413, reason: 'RequestEntityTooLarge', message: /larger than the limit of 262144 bytes/,
  },
  {
    name: 'an object over the per-object cap',
    url: ns('haproxyconfigs'),
    payload: JSON.stringify(configFixture({ metadata: { name: 'big' }, spec: { config: 'x'.repeat(200 * 1024) } })),
    status: 413, reason: 'RequestEntityTooLarge', message: /over the limit of 131072 bytes per object/,
  },
  {
    name: 'an unsupported content type',
    payload: 'metadata: {}',
    headers: { 'content-type': 'application/yaml' },
    status: 415, reason: 'UnsupportedMediaType', message: /application\/yaml/,
  },
  {
    name: 'an invalid namespace in the URL',
    url: ns('haproxyinstances', 'Bad_NS'),
    payload: JSON.stringify(instanceFixture({ metadata: { name: 'x' } })),
    status: 400, reason: 'BadRequest', message: /invalid namespace "Bad_NS"/,
  },
  {
    name: 'a stale resourceVersion on update',
    method: 'PUT',
    url: `${ns('haproxyinstances')}/keep`,
    payload: 'STALE',
    status: 409, reason: 'Conflict', message: /the object has been modified/,
  },
  {
    name: 'an update whose name differs from the URL',
    method: 'PUT',
    url: `${ns('haproxyinstances')}/keep`,
    payload: JSON.stringify(instanceFixture({ metadata: { name: 'other', resourceVersion: '1' } })),
    status: 400, reason: 'BadRequest', message: /name of the object \(other\) does not match the name on the URL \(keep\)/,
  },
  {
    name: 'a merge patch that is not an object',
    method: 'PATCH',
    url: `${ns('haproxyinstances')}/keep`,
    payload: '"x"',
    headers: { 'content-type': 'application/merge-patch+json' },
    status: 400, reason: 'BadRequest', message: /merge patch must be a JSON object/,
  },
  {
    name: 'a patch that makes the object invalid',
    method: 'PATCH',
    url: `${ns('haproxyinstances')}/keep`,
    payload: JSON.stringify({ spec: { paused: 3 } }),
    headers: { 'content-type': 'application/merge-patch+json' },
    status: 422, reason: 'Invalid', message: /spec\.paused/, field: 'spec.paused',
  },
  {
    name: 'a config whose runtime API would listen on TCP',
    url: ns('haproxyconfigs'),
    payload: JSON.stringify(configFixture({ spec: { config: 'global\n    stats socket ipv4@0.0.0.0:9999 level admin\n' } })),
    status: 422, reason: 'Invalid', field: 'spec.config', message: /line 2: "stats socket ipv4@0\.0\.0\.0:9999" would expose HAProxy's runtime API on the network/,
  },
  {
    name: 'a non-numeric limit',
    method: 'GET',
    url: `${ns('haproxyinstances')}?limit=ten`,
    status: 400, reason: 'BadRequest', message: /invalid limit "ten"/,
  },
  {
    name: 'a non-numeric watch resourceVersion',
    method: 'GET',
    url: `${ns('haproxyinstances')}?watch=true&resourceVersion=abc`,
    status: 400, reason: 'BadRequest', message: /invalid resourceVersion "abc"/,
  },
];

describe('bad input', () => {
  for (const c of cases()) {
    it(`answers ${c.name} with ${c.status} ${c.reason} and writes nothing`, async () => {
      const before = await objectsState(t.storage);
      let payload = c.payload;
      if (payload === 'STALE') {
        payload = JSON.stringify({ ...existing, metadata: { ...existing.metadata, resourceVersion: String(Number(existing.metadata.resourceVersion) - 1) }, spec: { paused: true } });
      }
      const res = await t.app.inject({
        method: c.method ?? 'POST',
        url: c.url ?? ns('haproxyinstances'),
        headers: { ...t.headers, 'content-type': 'application/json', ...c.headers },
        payload,
      });
      expect(res.statusCode).toBe(c.status);
      const body = res.json();
      expect(body).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: c.status, reason: c.reason });
      expect(body.message).toMatch(c.message);
      if (c.field) expect(body.details.causes.map((x: any) => x.field)).toContain(c.field);
      expect(await objectsState(t.storage)).toBe(before);
    });
  }

  it('answers a missing token and a wrong token with 401, and a forged one the same way', async () => {
    for (const headers of [{}, { authorization: 'Bearer hq_wrongwrongwrongwrongwrong' }, { authorization: 'Basic YWRtaW46YWRtaW4=' }]) {
      const res = await t.app.inject({ method: 'GET', url: ns('haproxyinstances'), headers });
      expect(res.statusCode).toBe(401);
      expect(res.json()).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401 });
    }
    const write = await t.app.inject({ method: 'POST', url: ns('haproxyinstances'), payload: instanceFixture({ metadata: { name: 'anon' } }) });
    expect(write.statusCode).toBe(401);
    expect((await t.app.inject({ method: 'GET', url: `${ns('haproxyinstances')}/anon`, headers: t.headers })).statusCode).toBe(404);
  });

  it('answers health and version without credentials, and nothing else', async () => {
    for (const url of ['/healthz', '/livez', '/readyz', '/version']) {
      expect((await t.app.inject({ method: 'GET', url })).statusCode).toBe(200);
    }
    for (const url of ['/api', '/apis', '/openapi/v2', '/openapi/v3', ns('haproxyinstances')]) {
      expect((await t.app.inject({ method: 'GET', url })).statusCode).toBe(401);
    }
  });

  it('never answers 5xx to mutated bodies, and stores only valid objects', async () => {
    const seed = JSON.stringify(configFixture({ metadata: { name: 'fz', labels: { a: 'b' } }, spec: { files: [{ path: 'm.map', content: 'a b' }] } }));
    let rng = 42;
    const rand = (n: number) => {
      rng = (rng * 1103515245 + 12345) & 0x7fffffff;
      return rng % n;
    };
    const junk = ['{', '}', '[', ']', '"', ':', ',', 'null', '1e999', '-', '\\u0000', 'true', '"__proto__"', '{"$ref":1}', '\u00ff'];
    const statuses = new Map<number, number>();
    for (let i = 0; i < 400; i++) {
      const chars = [...seed];
      for (let k = 0; k <= rand(4); k++) {
        const at = rand(chars.length);
        if (rand(2)) chars.splice(at, 1 + rand(3));
        else chars.splice(at, 0, junk[rand(junk.length)]!);
      }
      const method = (['POST', 'PUT', 'PATCH'] as const)[rand(3)];
      const url = method === 'POST' ? ns('haproxyconfigs') : `${ns('haproxyconfigs')}/fz`;
      const ct = method === 'PATCH' ? ['application/merge-patch+json', 'application/json-patch+json'][rand(2)]! : 'application/json';
      const res = await t.app.inject({ method, url, headers: { ...t.headers, 'content-type': ct }, payload: chars.join('') });
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      expect(res.statusCode, `body: ${chars.join('')}`).toBeLessThan(500);
      expect(res.json().kind ?? 'x').not.toBe(undefined);
    }
    // Whatever was stored is valid: it reads back, and a no-op PUT of it is accepted.
    const list = await t.app.inject({ method: 'GET', url: ns('haproxyconfigs'), headers: t.headers });
    for (const item of list.json().items) {
      const put = await t.app.inject({ method: 'PUT', url: `${ns('haproxyconfigs')}/${item.metadata.name}`, headers: t.headers, payload: item });
      expect(put.statusCode).toBe(200);
    }
  });
});
