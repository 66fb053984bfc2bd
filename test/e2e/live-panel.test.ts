import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startDemo, type RunningDemo } from '../../demo/start-demo.js';
import { loadConfig } from '../../src/config/load.js';
import { chromiumArgs, chromiumPath, missingBrowser, screenshotPath, until } from '../helpers/browser.js';
import { writeDemoConfig } from '../helpers/demo-config.js';
import { freePort } from '../helpers/processes.js';

/**
 * The demo website's live panel (SPEC §10, issue 14): Chromium's own WebSocket, opened by the
 * demo page after login, through Gatehouse as `npm start` runs it (demo/gatehouse.yaml on free
 * ports) to the demo upstream's GET /v1/live. Logging out closes it with 4401 within 1 s; a page
 * of another origin cannot open it, so the upstream never sees its handshake.
 */

let dir: string;
let demo: RunningDemo;
let browser: Browser | undefined;
let origin: string;
/** Serves a blank page on its own port: the "other origin" that tries the gateway's socket. */
let otherSite: Server;
let otherPort: number;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-live-e2e-'));
  const ports = { gateway: await freePort(), upstream: await freePort(), provider: await freePort() };
  const { config } = loadConfig(writeDemoConfig(dir, ports));
  demo = await startDemo({ config, dataDir: join(dir, 'data') });
  origin = config.server.publicOrigin;
  otherPort = await freePort();
  otherSite = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>elsewhere</title>'));
  await new Promise<void>((resolve) => otherSite.listen(otherPort, '127.0.0.1', resolve));
  try {
    browser = await chromium.launch({ executablePath: chromiumPath, args: chromiumArgs });
  } catch {
    browser = undefined;
  }
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => (otherSite ? otherSite.close(() => resolve()) : resolve()));
  await demo?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

let context: BrowserContext | undefined;
afterEach(async () => {
  await context?.close();
  context = undefined;
});

async function newPage(): Promise<{ page: Page; problems: string[] }> {
  if (!browser) throw new Error(missingBrowser);
  context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  // A CSP violation (connect-src refusing the ws: URL) shows up here; the browser's own lines for
  // the expected 401 (no session yet) and 403 (a local user on the user-token route) do not count.
  page.on('console', (message) => {
    if (message.type() === 'error' && !/status of (401|403)/.test(message.text())) problems.push(`console error: ${message.text()}`);
  });
  return { page, problems };
}

async function signIn(page: Page): Promise<void> {
  await page.goto(`${origin}/`);
  await until(() => page.locator('#view-login').isVisible()).toBe(true);
  await page.locator('#login-username').fill(demo.localUser.name);
  await page.locator('#login-password').fill(demo.localUser.password!);
  await page.locator('#login-submit').click();
  await until(() => page.locator('#view-dashboard').isVisible()).toBe(true);
}

/** What a socket the page opened itself saw: messages, and the close code and when it came. */
interface Watched { messages: number; code: number | null; closedAt: number | null }

/** Opens `url` with the page's own WebSocket, remembered on window so `watched` can read it. */
function openWatched(page: Page, url: string): Promise<void> {
  return page.evaluate((target) => {
    const w = window as unknown as { watched: { messages: number; code: number | null; closedAt: number | null } };
    w.watched = { messages: 0, code: null, closedAt: null };
    const socket = new WebSocket(target);
    socket.onmessage = () => {
      w.watched.messages++;
    };
    socket.onclose = (event) => {
      w.watched.code = event.code;
      w.watched.closedAt = performance.now();
    };
  }, url);
}

function watched(page: Page): Promise<Watched> {
  return page.evaluate(() => (window as unknown as { watched: Watched }).watched);
}

describe('the demo site\'s live panel in Chromium', { timeout: 120_000 }, () => {
  it('shows readings as they arrive, and once logged out says the session ended: the socket closed with 4401 within 1 s', async () => {
    const { page, problems } = await newPage();
    const before = demo.upstream.liveHandshakes();
    await signIn(page);

    // The panel's socket: readings keep coming, one a second.
    await until(() => page.locator('#live-status').textContent()).toBe('live');
    await until(async () => Number(await page.locator('#live-count').textContent())).toBeGreaterThanOrEqual(2);
    expect(await page.locator('#live-temp').textContent()).toMatch(/^-?\d+(\.\d)? °C$/);
    expect(await page.locator('#live-readings li').count()).toBeGreaterThanOrEqual(2);
    await page.screenshot({ path: screenshotPath(dir, 'live-panel.png'), fullPage: true });

    // A second socket of the page's own, to read the close code and its time exactly.
    await openWatched(page, `${origin.replace(/^http/, 'ws')}/api/weather/v1/live`);
    await until(async () => (await watched(page)).messages).toBeGreaterThanOrEqual(1);
    expect(demo.upstream.liveHandshakes()).toBe(before + 2);

    // Logging out from the page itself, the dashboard left on screen: the gateway ends both sockets.
    const loggedOutAt = await page.evaluate(async () => {
      const response = await fetch('/auth/logout', { method: 'POST', headers: { 'X-CSRF': '1', 'Content-Type': 'application/json' }, body: '{}' });
      if (!response.ok) throw new Error(`logout answered ${response.status}`);
      return performance.now();
    });
    await until(async () => (await watched(page)).code).toBe(4401);
    const closed = await watched(page);
    expect(closed.closedAt! - loggedOutAt).toBeLessThan(1_000);
    await until(() => page.locator('#live-status').textContent()).toBe('disconnected (session ended)');
    await page.screenshot({ path: screenshotPath(dir, 'live-panel-ended.png'), fullPage: true });
    expect(problems).toEqual([]);
  });

  it('refuses a socket from a cross-site page, and from a same-site page of another origin that carries the cookie: the upstream sees neither', async () => {
    const { page } = await newPage();
    await signIn(page);
    await until(() => page.locator('#live-status').textContent()).toBe('live');
    const before = demo.upstream.liveHandshakes();
    const socketUrl = `${origin.replace(/^http/, 'ws')}/api/weather/v1/live`;

    // http://127.0.0.1:PORT is another site: the SameSite=Strict cookie stays home, and its
    // Origin is not publicOrigin either.
    const elsewhere = await context!.newPage();
    await elsewhere.goto(`http://127.0.0.1:${otherPort}/`);
    await openWatched(elsewhere, socketUrl);
    await until(async () => (await watched(elsewhere)).code).toBe(1006);
    expect((await watched(elsewhere)).messages).toBe(0);

    // http://localhost:PORT is the same site on another port: the browser DOES send the session
    // cookie, so only the Origin check (SPEC §10: it must equal publicOrigin) stands in the way.
    const sameSite = await context!.newPage();
    await sameSite.goto(`http://localhost:${otherPort}/`);
    await openWatched(sameSite, socketUrl);
    await until(async () => (await watched(sameSite)).code).toBe(1006);
    expect((await watched(sameSite)).messages).toBe(0);

    expect(demo.upstream.liveHandshakes()).toBe(before);
    // The signed-in page's own socket still runs: the refusals ended nothing.
    expect(await page.locator('#live-status').textContent()).toBe('live');
  });
});
