/**
 * Real Chromium for console tests: Debian's /usr/bin/chromium (installed with apt-get when
 * missing and allowed), driven by playwright-core. Never a downloaded browser. Flags keep it off
 * the network this machine does not have (background networking, component updates, sync).
 */
import { chromium, type Browser, type BrowserContext, type ConsoleMessage, type Page } from 'playwright-core';
import { ensureDebianBinary } from '../../scripts/lib/debian-package.ts';

export async function launchChromium(): Promise<Browser> {
  const executablePath = process.env.HQ_CHROMIUM ?? (await ensureDebianBinary({
    binary: 'chromium',
    pkg: 'chromium',
    howTo: 'The console tests need Debian\'s Chromium: apt-get install chromium (or set HQ_CHROMIUM to a Chromium binary).',
    timeoutMinutes: 20,
  }));
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-default-apps',
      '--disable-extensions',
    ],
  });
}

export interface WatchedPage {
  page: Page;
  context: BrowserContext;
  /** Console errors and uncaught exceptions the page produced. */
  errors: string[];
}

/** A fresh context (own storage) and page that records every console error and page error. */
export async function openPage(browser: Browser, opts: { width?: number; height?: number } = {}): Promise<WatchedPage> {
  const context = await browser.newContext({
    ignoreHTTPSErrors: true, // the server's own CA; the console is same-origin with the API
    viewport: { width: opts.width ?? 1280, height: opts.height ?? 900 },
  });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (m: ConsoleMessage) => {
    if (m.type() === 'error') errors.push(`console.error: ${m.text()} (${m.location().url}:${m.location().lineNumber})`);
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  return { page, context, errors };
}

/**
 * A page already signed in with a bearer token, kept where the sign-in page keeps it (this tab's
 * sessionStorage), then opened at `path`: for tests about a page, not about signing in.
 */
export async function openSignedIn(browser: Browser, serverUrl: string, token: string, path: string): Promise<WatchedPage> {
  const w = await openPage(browser);
  await w.page.goto(`${serverUrl}/signin?next=${encodeURIComponent(path)}`);
  await w.page.evaluate(`sessionStorage.setItem('haproxyhq.token', ${JSON.stringify(token)})`);
  await w.page.goto(`${serverUrl}${path}`);
  return w;
}
