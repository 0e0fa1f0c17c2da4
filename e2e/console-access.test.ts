/**
 * Managing access from the console, in Debian's Chromium against a real server: the built-in
 * roles are listed, a role is given to a user everywhere and taken back after a confirmation,
 * and the server's bindings follow (the API sees what the page did).
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, startServer, type ServerProcess } from '../api-server/test/support/server.ts';
import { until } from '../api-server/test/support/until.ts';
import { launchChromium, openSignedIn, type WatchedPage } from './support/browser.ts';
import { buildConsole } from './support/console-build.ts';

const B = '/apis/haproxyhq.io/v1alpha1';
let server: ServerProcess;
let consoleBuild: { dir: string; cleanup(): void };
let browser: Browser;
let w: WatchedPage;
const T = { timeout: 30_000 };

beforeAll(async () => {
  consoleBuild = await buildConsole();
  server = await startServer({ args: ['--console-dir', consoleBuild.dir] });
  browser = await launchChromium();
  w = await openSignedIn(browser, server.url, server.token, '/access');
}, 300_000);
afterAll(async () => {
  await browser?.close();
  await server?.stop();
  server?.cleanup();
  consoleBuild?.cleanup();
});

describe('the Access page', () => {
  it('lists the built-in roles', async () => {
    const roles = w.page.getByTestId('roles');
    for (const name of ['admin', 'editor', 'viewer']) await roles.getByRole('rowheader', { name: new RegExp(`^${name}`) }).waitFor(T);
  });

  it('gives a user a role in every namespace, then takes it back after a confirmation', async () => {
    const page = w.page;
    await page.getByLabel('Named', { exact: true }).fill('carol');
    await page.getByRole('combobox', { name: /^Role/ }).selectOption('viewer');
    await page.getByRole('button', { name: 'Give role' }).click();
    await page.getByRole('status').filter({ hasText: 'User carol is viewer in every namespace.' }).waitFor(T);
    const row = page.getByTestId('bindings').locator('tr[data-binding="viewer-carol"]');
    await row.waitFor(T);
    const binding = (await request(server, 'GET', `${B}/clusterrolebindings/viewer-carol`)).body;
    expect(binding).toMatchObject({ roleRef: { kind: 'ClusterRole', name: 'viewer' }, subjects: [{ kind: 'User', name: 'carol' }] });

    await row.getByRole('button', { name: 'Remove binding viewer-carol' }).click();
    const dialog = page.getByRole('dialog', { name: 'Remove a binding' });
    await expect.poll(() => dialog.innerText()).toMatch(/User carol loses the role viewer/);
    await dialog.getByRole('button', { name: 'Remove' }).click();
    await until('binding gone', async () => (await request(server, 'GET', `${B}/clusterrolebindings/viewer-carol`)).status === 404 || undefined);
    await expect.poll(() => row.count(), T).toBe(0);
    expect(w.errors).toEqual([]);
  });
});
