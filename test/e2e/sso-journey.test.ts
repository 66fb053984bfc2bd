import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { chromium, type Browser, type BrowserContext, type Page, type Response } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemo, type RunningDemo } from '../../demo/start-demo.js';
import { loadConfig } from '../../src/config/load.js';

/**
 * Single sign-on as a person uses it (SPEC §9, the demo of issue 13): real Chromium on the demo
 * website, served by Gatehouse as `npm start` runs it (demo/gatehouse.yaml on free ports and a
 * temporary data folder), the demo OpenID provider's own login page, and the demo upstream whose
 * GET /v1/me accepts only an access token the provider vouches for.
 */

const chromiumPath = '/usr/bin/chromium';
const chromiumArgs = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const demoConfig = fileURLToPath(new URL('../../demo/gatehouse.yaml', import.meta.url));
const siteDir = fileURLToPath(new URL('../../demo/site', import.meta.url));
const missingBrowser = `Chromium is missing at ${chromiumPath}. The browser tests need it: install it with "apt-get install -y chromium" (npm test does this when it can: scripts/test-programs.mjs).`;

let dir: string;
let demo: RunningDemo;
let browser: Browser | undefined;
let origin: string;
let issuer: string;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

/** demo/gatehouse.yaml itself, moved to free ports and a temporary folder. */
function demoConfigOn(ports: { gateway: number; upstream: number; provider: number }): string {
  const text = readFileSync(demoConfig, 'utf8')
    .replaceAll('port: 8080', `port: ${ports.gateway}`)
    .replaceAll('localhost:8080', `localhost:${ports.gateway}`)
    .replaceAll('127.0.0.1:9000', `127.0.0.1:${ports.upstream}`)
    .replaceAll('127.0.0.1:9001', `127.0.0.1:${ports.provider}`)
    .replaceAll('../data/', './')
    .replace(/^static: .*$/m, `static: ${JSON.stringify(siteDir)}`);
  const settings = text.split('\n').map((line) => line.replace(/(^|\s)#.*$/, '')).join('\n');
  for (const left of ['8080', '9000', '9001', '../data']) if (settings.includes(left)) throw new Error(`demo/gatehouse.yaml changed: ${left} is still in the test's copy`);
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, text);
  return file;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-sso-e2e-'));
  const ports = { gateway: await freePort(), upstream: await freePort(), provider: await freePort() };
  const { config } = loadConfig(demoConfigOn(ports));
  demo = await startDemo({ config, dataDir: join(dir, 'data') });
  origin = config.server.publicOrigin;
  issuer = demo.provider!.issuer;
  try {
    browser = await chromium.launch({ executablePath: chromiumPath, args: chromiumArgs });
  } catch {
    browser = undefined;
  }
});

afterAll(async () => {
  await browser?.close();
  await demo?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function newPage(): Promise<{ context: BrowserContext; page: Page; problems: string[]; responses: Promise<string>[] }> {
  if (!browser) throw new Error(missingBrowser);
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  // A CSP violation (an inline script or style, on the site or the provider's page) shows up
  // here; the browser's own lines for the expected 401 and 403 answers do not count.
  page.on('console', (message) => {
    if (message.type() === 'error' && !/status of (401|403)/.test(message.text())) problems.push(`console error: ${message.text()}`);
  });
  const responses: Promise<string>[] = [];
  page.on('response', (response: Response) => {
    responses.push((async () => `${response.url()}\n${JSON.stringify(await response.allHeaders())}\n${await response.body().then((b) => b.toString('latin1'), () => '')}`)());
  });
  return { context, page, problems, responses };
}

/** Where screenshots go: GATEHOUSE_E2E_SCREENSHOT_DIR to keep them, else the test's temp dir. */
function screenshotPath(name: string): string {
  return join(process.env.GATEHOUSE_E2E_SCREENSHOT_DIR ?? dir, name);
}

function until<T>(read: () => Promise<T> | T): ReturnType<typeof expect.poll<T>> {
  return expect.poll(read, { timeout: 15_000, interval: 100 });
}

/** The opaque access and refresh tokens the provider has issued (its store keys them by value). */
function issuedTokens(): string[] {
  const db = new Database(join(dir, 'data', 'demo-provider', 'store.db'), { readonly: true });
  try {
    return db.prepare<[], { id: string }>("SELECT id FROM entries WHERE model IN ('AccessToken', 'RefreshToken')").all().map((r) => r.id);
  } finally {
    db.close();
  }
}

async function startProviderLogin(page: Page): Promise<void> {
  await page.goto(`${origin}/`);
  await until(() => page.locator('#view-login').isVisible()).toBe(true);
  const button = page.locator('#sso-providers a', { hasText: 'Sign in with the demo provider' });
  await until(() => button.isVisible()).toBe(true);
  expect(await button.getAttribute('href')).toBe('/auth/oidc/login?provider=demo&returnTo=/');
  await page.screenshot({ path: screenshotPath('sso-login-view.png') });
  await button.click();
  // The provider's own login page, on the provider's origin.
  await page.waitForURL((url) => url.href.startsWith(`${issuer}/interaction/`));
  expect(await page.locator('h1').textContent()).toBe('Demo provider');
}

describe('signing in with the demo provider in Chromium', { timeout: 120_000 }, () => {
  it('clicks through the provider\'s login page, lands signed in, sees the upstream name the token\'s owner, and logs out', async () => {
    const { context, page, problems, responses } = await newPage();
    try {
      await startProviderLogin(page);
      const account = demo.providerAccount!;

      // A wrong password first: the provider's page says so and stays.
      await page.locator('input[name="username"]').fill(account.username);
      await page.locator('input[name="password"]').fill('not the password');
      await page.locator('button[value="login"]').click();
      await until(() => page.locator('.error').textContent()).toBe('Wrong user name or password.');

      await page.screenshot({ path: screenshotPath('sso-provider-login.png') });
      await page.locator('input[name="password"]').fill(account.password);
      await page.locator('button[value="login"]').click();

      // Back on the demo site, signed in as the user the provider's login created.
      await page.waitForURL(`${origin}/`);
      await until(() => page.locator('#view-dashboard').isVisible()).toBe(true);
      await until(() => page.locator('#account-name').textContent()).toBe('demo.river');
      await until(() => page.locator('#today-location').textContent()).toBe('Harbourtown');

      // The panel: the upstream got the user's OWN access token, and the provider said whose it is.
      await until(() => page.locator('#owner-sub').textContent()).toBe('river-0001');
      expect(await page.locator('#owner-name').textContent()).toBe('River Song');
      expect(await page.locator('#owner-email').textContent()).toBe('river@demo-provider.localhost');
      expect(await page.locator('#owner-user').textContent()).toBe('demo.river');
      await page.screenshot({ path: screenshotPath('sso-logged-in.png'), fullPage: true });

      const session = (await context.cookies(origin)).find((c) => c.name === 'gatehouse');
      expect(session?.httpOnly).toBe(true);
      const tokens = issuedTokens();
      expect(tokens.length).toBeGreaterThanOrEqual(2);

      await page.locator('#logout').click();
      await until(() => page.locator('#view-login').isVisible()).toBe(true);
      expect(await page.locator('#login-notice').textContent()).toBe('You are signed out.');
      expect((await context.cookies(origin)).find((c) => c.name === 'gatehouse')).toBeUndefined();
      const replay = await fetch(`${origin}/auth/session`, { headers: { cookie: `gatehouse=${session!.value}` } });
      expect(replay.status).toBe(401);

      // The user's tokens stayed on the server: not in any response, cookie or the page.
      const seen = [...(await Promise.all(responses)), JSON.stringify(await context.cookies()), await page.content()];
      for (const token of tokens) {
        for (const text of seen) expect(text.includes(token), 'a provider token reached the browser').toBe(false);
      }
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('a user who cancels at the provider comes back to a clean error page, not signed in, with a way back', async () => {
    const { context, page, problems } = await newPage();
    try {
      await startProviderLogin(page);
      await page.locator('button[value="cancel"]').click();

      await page.waitForURL((url) => url.href.startsWith(`${origin}/auth/oidc/callback/demo`));
      expect(await page.locator('h1').textContent()).toBe('Sign-in did not complete');
      expect(await page.locator('#error-message').textContent()).toBe('The sign-in was declined at the identity provider.');
      expect(await page.locator('#error-code').textContent()).toBe('oidc_access_denied');
      expect((await context.cookies(origin)).find((c) => c.name === 'gatehouse')).toBeUndefined();
      await page.screenshot({ path: screenshotPath('sso-cancelled.png') });

      await page.locator('#error-back').click();
      await until(() => page.locator('#view-login').isVisible()).toBe(true);
      expect(await page.locator('#sso-providers a').count()).toBe(1);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('a local account sees why the panel is empty: its session has no token of its own (403 idp_login_required)', async () => {
    const { context, page, problems } = await newPage();
    try {
      await page.goto(`${origin}/`);
      await until(() => page.locator('#view-login').isVisible()).toBe(true);
      await page.locator('#login-username').fill(demo.localUser.name);
      await page.locator('#login-password').fill(demo.localUser.password!);
      await page.locator('#login-submit').click();
      await until(() => page.locator('#view-dashboard').isVisible()).toBe(true);
      await until(() => page.locator('#owner-status').textContent()).toContain('You signed in with a local account');
      expect(await page.locator('#owner-facts').isVisible()).toBe(false);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
