/**
 * The Audit page, in Debian's Chromium against a real server (controllers off, so the log holds
 * what the test wrote): newest first with versions and outcomes, a refused request in words,
 * server-side filters, and older records a page at a time.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, startServer, type ServerProcess } from '../api-server/test/support/server.ts';
import { launchChromium, openSignedIn, type WatchedPage } from './support/browser.ts';
import { buildConsole } from './support/console-build.ts';

const NS = '/apis/haproxyhq.io/v1alpha1/namespaces/default';
let server: ServerProcess;
let consoleBuild: { dir: string; cleanup(): void };
let browser: Browser;
let w: WatchedPage;
const T = { timeout: 30_000 };

beforeAll(async () => {
  consoleBuild = await buildConsole();
  server = await startServer({ args: ['--console-dir', consoleBuild.dir, '--controllers', 'false'] });
  for (let i = 0; i < 55; i++) {
    const r = await request(server, 'POST', `${NS}/haproxyinstances`, { metadata: { name: `edge-${i}` }, spec: {} });
    expect(r.status).toBe(201);
  }
  expect((await request(server, 'POST', `${NS}/haproxyconfigs`, { metadata: { name: 'web' }, spec: { config: 'global\n' } })).status).toBe(201);
  expect((await request(server, 'DELETE', `${NS}/haproxyinstances/edge-0`, undefined, { authorization: 'Bearer hq_no-such-token-here' })).status).toBe(401);
  browser = await launchChromium();
  w = await openSignedIn(browser, server.url, server.token, '/audit');
}, 300_000);
afterAll(async () => {
  await browser?.close();
  await server?.stop();
  server?.cleanup();
  consoleBuild?.cleanup();
});

const rows = () => w.page.getByTestId('audit').locator('tbody tr');
const cells = async (i: number) => (await rows().nth(i).locator('td').allInnerTexts()).map((t) => t.trim());

describe('the Audit page', () => {
  it('is in the navigation, and lists the newest records first, a refusal in words', async () => {
    await w.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit' }).waitFor(T);
    await expect.poll(() => rows().count(), T).toBe(50);
    const [, user, verb, resource, namespace, name, version, result, source] = await cells(0);
    expect([user, verb, resource, namespace, name, version, result, source]).toEqual(['system:unauthenticated', 'delete', 'haproxyinstances', 'default', 'edge-0', '—', 'Refused: 401 Unauthorized', '127.0.0.1']);
    const config = await cells(1);
    expect(config.slice(1, 6)).toEqual(['admin', 'create', 'configrevisions', 'default', 'web-1']);
    expect(config[6]).toMatch(/^→\d+$/);
    expect(config[7]).toBe('201 OK');
  });

  it('filters on the server, and pages to older records', async () => {
    const page = w.page;
    await page.getByRole('combobox', { name: 'Resource' }).selectOption('haproxyconfigs');
    await page.getByRole('button', { name: 'Show' }).click();
    await expect.poll(() => rows().count(), T).toBe(1);
    expect((await cells(0)).slice(3, 6)).toEqual(['haproxyconfigs', 'default', 'web']);

    await page.getByRole('combobox', { name: 'Resource' }).selectOption('');
    await page.getByLabel('User').fill('admin');
    await page.getByRole('button', { name: 'Show' }).click();
    await expect.poll(() => rows().count(), T).toBe(50);
    await page.getByRole('button', { name: 'Older records' }).click();
    // 55 instances and a config with its revision: 57 entries by admin (and the built-in roles by the server).
    await expect.poll(() => rows().count(), T).toBe(57);
    expect((await cells(56)).slice(1, 6)).toEqual(['admin', 'create', 'haproxyinstances', 'default', 'edge-0']);
    await expect.poll(() => page.getByRole('button', { name: 'Older records' }).count(), T).toBe(0);
    expect(w.errors).toEqual([]);
  });
});
