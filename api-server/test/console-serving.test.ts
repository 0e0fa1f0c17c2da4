/**
 * The built console at /: files from memory with the right types and caching, client routes
 * answered with the app shell, security headers, and the API behind it still wanting a token.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConsole } from '../src/routes/console.ts';
import { buildTestApp, type TestApp } from './support/app.ts';

let t: TestApp;
let dir: string;
const INDEX = '<!doctype html><title>HAProxyHQ</title><script type="module" src="/assets/index-abc123.js"></script>';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hq-console-dist-'));
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'index.html'), INDEX);
  writeFileSync(join(dir, 'assets', 'index-abc123.js'), 'console.log(1)');
  writeFileSync(join(dir, 'assets', 'index-abc123.js.map'), '{}');
  writeFileSync(join(dir, 'favicon.svg'), '<svg/>');
  t = await buildTestApp({ consoleFiles: loadConsole(dir) });
});
afterAll(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

const get = (url: string, headers: Record<string, string> = {}) => t.app.inject({ method: 'GET', url, headers });

describe('console serving', () => {
  it('serves index.html at / without a token, with a strict CSP and no caching of the shell', async () => {
    const res = await get('/');
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe(INDEX);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['content-security-policy']).toMatch(/script-src 'self';/);
    expect(res.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['cache-control']).toBe('no-cache');
  });

  it('answers client routes with the app shell, so a reload there loads the app', async () => {
    for (const path of ['/configs', '/configs/default/web', '/instances/default/edge-1', '/signin']) {
      const res = await get(path);
      expect(res.statusCode, path).toBe(200);
      expect(res.body).toBe(INDEX);
    }
  });

  it('serves hashed assets as immutable, answers If-None-Match with 304, and never serves source maps', async () => {
    const res = await get('/assets/index-abc123.js');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    const again = await get('/assets/index-abc123.js', { 'if-none-match': String(res.headers.etag) });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    expect((await get('/assets/index-abc123.js.map')).statusCode).toBe(404);
    expect((await get('/favicon.svg')).headers['content-type']).toBe('image/svg+xml');
  });

  it('answers a missing asset or a path outside the console with a 404 Status, never a file from disk', async () => {
    const missing = await get('/assets/nope.js');
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ kind: 'Status', code: 404 });
    expect((await get('/assets/../../etc/passwd')).statusCode).not.toBe(200);
  });

  it('leaves the API behind its bearer token', async () => {
    expect((await get('/apis/haproxyhq.io/v1alpha1/haproxyinstances')).statusCode).toBe(401);
    expect((await get('/apis/haproxyhq.io/v1alpha1/haproxyinstances', t.headers)).statusCode).toBe(200);
  });

  it('refuses to start on a directory that is not a built console, saying how to build it', () => {
    const empty = mkdtempSync(join(tmpdir(), 'hq-console-empty-'));
    try {
      expect(() => loadConsole(empty)).toThrow(/index\.html does not exist: build the console first \(npm run build:console\)/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
