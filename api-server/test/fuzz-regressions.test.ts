/**
 * The requests the API fuzz test (fuzz.test.ts) found answered with a 5xx, a body that was not a
 * Status, or a malformed value, each pinned down as a plain test of what the answer is now.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from './support/app.ts';
import { configFixture, instanceFixture, ns } from './support/fixtures.ts';

let t: TestApp;
let port: number;
let edge: { metadata: { resourceVersion: string } };

beforeAll(async () => {
  t = await buildTestApp();
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  port = (t.app.server.address() as { port: number }).port;
  edge = (await t.app.inject({ method: 'POST', url: ns('haproxyinstances'), headers: t.headers, payload: instanceFixture() })).json();
});
afterAll(async () => {
  await t.close();
});

const json = { 'content-type': 'application/json' };
const merge = { 'content-type': 'application/merge-patch+json' };
const jsonPatch = { 'content-type': 'application/json-patch+json' };

/** Expect a Status answer with this code and a message matching `message`. */
function expectStatus(res: { statusCode: number; json(): unknown }, code: number, message: RegExp) {
  expect(res.statusCode).toBe(code);
  expect(res.json()).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, message: expect.stringMatching(message) });
}

/** One raw HTTP/1.1 exchange: what the server wrote before it closed the connection. */
function raw(request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let out = '';
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => (out += d));
    sock.on('error', () => {});
    sock.on('close', () => resolve(out));
    sock.setTimeout(5000, () => reject(new Error(`no answer; got ${JSON.stringify(out)}`)));
    sock.write(request);
  });
}

describe('requests the fuzz test found mishandled', () => {
  it('a query parameter given twice counts once, by its first value (was a 500: selector.trim is not a function)', async () => {
    const res = await t.app.inject({
      method: 'GET',
      url: `${ns('haproxyinstances')}?labelSelector=role%3Dedge&labelSelector=role%3Dcore&fieldSelector=metadata.name%3Dedge-1&fieldSelector=metadata.name%3Dx`,
      headers: t.headers,
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().items.map((o: { metadata: { name: string } }) => o.metadata.name)).toEqual(['edge-1']);
  });

  it('a path that is not valid percent-encoding, or a segment over 1024 characters, is a 400 Status (was Fastify\'s own body)', async () => {
    expectStatus(await t.app.inject({ method: 'GET', url: '/%E0%A4%A', headers: t.headers }), 400, /not valid percent-encoded/);
    expectStatus(await t.app.inject({ method: 'GET', url: `${ns('haproxyinstances')}/${'a'.repeat(1100)}`, headers: t.headers }), 400, /longer than 1024/);
  });

  it('a body nested deeper than 100 levels is a 400, on every write (was a 500: Maximum call stack size exceeded)', async () => {
    const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
    const url = `${ns('haproxyinstances')}/edge-1`;
    const rv = edge.metadata.resourceVersion;
    const cases = [
      { method: 'PUT' as const, url, headers: json, payload: `{"metadata":{"name":"edge-1","resourceVersion":"${rv}"},"spec":{"x":${deep(30000)}}}` },
      { method: 'PATCH' as const, url, headers: merge, payload: `{"spec":{"x":${deep(30000)}}}` },
      { method: 'PATCH' as const, url, headers: jsonPatch, payload: `[{"op":"add","path":"/spec/x","value":${deep(30000)}}]` },
      { method: 'POST' as const, url: `${ns('haproxyinstances')}?fieldValidation=Ignore`, headers: json, payload: `{"metadata":{"name":"d"},"spec":{"x":${deep(30000)}}}` },
      { method: 'POST' as const, url: ns('haproxyinstances'), headers: json, payload: `{"metadata":{"name":"d"},"kind":${deep(5000)}}` },
    ];
    for (const c of cases) expectStatus(await t.app.inject({ ...c, headers: { ...t.headers, ...c.headers } }), 400, /nests deeper than 100 levels/);
    // Brackets inside strings are text, not nesting.
    const text = instanceFixture({ metadata: { name: 'brackets', annotations: { note: '[{'.repeat(500) + '\\"]' } } });
    expect((await t.app.inject({ method: 'POST', url: ns('haproxyinstances'), headers: t.headers, payload: text })).statusCode).toBe(201);
  });

  it('an object the schema refuses is a 422, even where the metadata rules or the strategy would trip on it (was a 500)', async () => {
    const bodies = [
      ['haproxyinstances', { ...instanceFixture({ metadata: { name: 'n1', labels: { role: null as unknown as string } } }) }, /metadata\.labels\.role/],
      ['haproxyinstances', instanceFixture({ metadata: { name: 'n2' }, spec: { servers: 'true' } }), /spec\.servers/],
      ['haproxyconfigs', configFixture({ metadata: { name: 'n3' }, spec: { files: { path: 'x' } } }), /spec\.files/],
    ] as const;
    for (const [plural, body, field] of bodies) {
      expectStatus(await t.app.inject({ method: 'POST', url: ns(plural), headers: t.headers, payload: body }), 422, field);
    }
  });

  it('fieldValidation=Warn with an unknown field named in any script warns in ASCII (was a 500: Invalid character in header content)', async () => {
    const body = { ...instanceFixture({ metadata: { name: 'warned' } }), spec: { paused: false, 中: 1 } };
    const res = await t.app.inject({ method: 'POST', url: `${ns('haproxyinstances')}?fieldValidation=Warn`, headers: t.headers, payload: body });
    expect(res.statusCode).toBe(201);
    expect(res.headers.warning).toBe('299 - "unknown field \\"spec.\\u4e2d\\""');
  });

  it('a resourceVersion beyond a safe integer is a 400, not a watch that bookmarks "1e+26"', async () => {
    const huge = '99999999999999999999999999';
    expectStatus(await t.app.inject({ method: 'GET', url: `${ns('haproxyinstances')}?watch=true&timeoutSeconds=1&resourceVersion=${huge}`, headers: t.headers }), 400, /invalid resourceVersion/);
    expectStatus(
      await t.app.inject({ method: 'GET', url: `${ns('haproxyinstances')}?resourceVersion=${huge}&resourceVersionMatch=Exact`, headers: t.headers }),
      400,
      /invalid resourceVersion/,
    );
  });

  it('RoleBindings as a Table list their subjects (was a 500: unsupported JSONPath ".subjects[*].name")', async () => {
    const binding = { apiVersion: 'haproxyhq.io/v1alpha1', kind: 'ClusterRoleBinding', metadata: { name: 'ops' }, subjects: [{ kind: 'User', name: 'alice' }, { kind: 'Group', name: 'ops' }], roleRef: { kind: 'ClusterRole', name: 'viewer' } };
    const url = '/apis/haproxyhq.io/v1alpha1/clusterrolebindings';
    expect((await t.app.inject({ method: 'POST', url, headers: t.headers, payload: binding })).statusCode).toBe(201);
    const res = await t.app.inject({ method: 'GET', url, headers: { ...t.headers, accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' } });
    expect(res.statusCode, res.body).toBe(200);
    const table = res.json();
    const subjects = table.columnDefinitions.findIndex((c: { name: string }) => c.name === 'Subjects');
    expect(table.rows[0].cells[subjects]).toBe('alice,ops');
  });

  it('a request Node\'s HTTP parser refuses gets a Status whose code is the HTTP status (was a body of Fastify\'s own)', async () => {
    const badChunk = await raw(`POST ${ns('haproxyinstances')} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n`);
    expect(badChunk).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(JSON.parse(badChunk.slice(badChunk.indexOf('\r\n\r\n') + 4))).toMatchObject({ kind: 'Status', code: 400, reason: 'BadRequest' });
    const bigHeader = await raw(`GET /apis HTTP/1.1\r\nHost: x\r\nX-Junk: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(bigHeader).toMatch(/^HTTP\/1\.1 431 /);
    expect(JSON.parse(bigHeader.slice(bigHeader.indexOf('\r\n\r\n') + 4))).toMatchObject({ kind: 'Status', code: 431 });
  });
});
