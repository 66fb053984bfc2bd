import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { chromium, type Browser, type BrowserContext, type Page, type Request, type Response } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemo, type RunningDemo } from '../../demo/start-demo.js';
import { loadConfig } from '../../src/config/load.js';
import { chromiumArgs, chromiumPath, missingBrowser, screenshotPath, until } from '../helpers/browser.js';
import { writeDemoConfig } from '../helpers/demo-config.js';
import { freePort } from '../helpers/processes.js';

/**
 * Single sign-on as a person uses it (SPEC §9, the demo of issue 13): real Chromium on the demo
 * website, served by Gatehouse as `npm start` runs it (demo/gatehouse.yaml on free ports and a
 * temporary data folder), the demo OpenID provider's own login page, and the demo upstream whose
 * GET /v1/me accepts only an access token the provider vouches for.
 */

let dir: string;
let demo: RunningDemo;
let browser: Browser | undefined;
let origin: string;
let issuer: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-sso-e2e-'));
  const ports = { gateway: await freePort(), upstream: await freePort(), provider: await freePort() };
  const { config } = loadConfig(writeDemoConfig(dir, ports));
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

interface Seen { url: string; headers: string; body: string }

async function newPage(): Promise<{ context: BrowserContext; page: Page; problems: string[]; responses: Promise<Seen>[]; requests: Promise<Seen>[] }> {
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
  const responses: Promise<Seen>[] = [];
  page.on('response', (response: Response) => {
    responses.push((async () => ({ url: response.url(), headers: await response.allHeaders().then((h) => JSON.stringify(h), () => ''), body: await response.body().then((b) => b.toString('latin1'), () => '') }))());
  });
  // What the browser sent: a URL or a Referer header is where a token in a page's address leaks.
  const requests: Promise<Seen>[] = [];
  page.on('request', (request: Request) => {
    requests.push((async () => ({ url: request.url(), headers: await request.allHeaders().then((h) => JSON.stringify(h), () => ''), body: request.postData() ?? '' }))());
  });
  return { context, page, problems, responses, requests };
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

/** The provider's record of the interaction a /interaction/UID page belongs to. */
function interactionAt(pageUrl: string): { prompt: { name: string }; session?: { accountId?: string } } {
  const uid = new URL(pageUrl).pathname.split('/').pop()!;
  const db = new Database(join(dir, 'data', 'demo-provider', 'store.db'), { readonly: true });
  try {
    const row = db.prepare<[string], { payload: string }>("SELECT payload FROM entries WHERE model = 'Interaction' AND id = ?").get(uid);
    if (!row) throw new Error('the provider has no such interaction');
    return JSON.parse(row.payload) as { prompt: { name: string }; session?: { accountId?: string } };
  } finally {
    db.close();
  }
}

async function signInAtProvider(page: Page, password: string): Promise<void> {
  await page.locator('input[name="username"]').fill(demo.providerAccount!.username);
  await page.locator('input[name="password"]').fill(password);
  await page.locator('button[value="login"]').click();
}

async function startProviderLogin(page: Page): Promise<void> {
  await page.goto(`${origin}/`);
  await until(() => page.locator('#view-login').isVisible()).toBe(true);
  const button = page.locator('#sso-providers a', { hasText: 'Sign in with the demo provider' });
  await until(() => button.isVisible()).toBe(true);
  expect(await button.getAttribute('href')).toBe('/auth/oidc/login?provider=demo&returnTo=/');
  await page.screenshot({ path: screenshotPath(dir, 'sso-login-view.png') });
  await button.click();
  // The provider's own login page, on the provider's origin.
  await page.waitForURL((url) => url.href.startsWith(`${issuer}/interaction/`));
  expect(await page.locator('h1').textContent()).toBe('Demo provider');
}

describe('signing in with the demo provider in Chromium', { timeout: 120_000 }, () => {
  it('clicks through the provider\'s login page, lands signed in, sees the upstream name the token\'s owner, and logs out at Gatehouse and the provider', async () => {
    const { context, page, problems, responses, requests } = await newPage();
    try {
      await startProviderLogin(page);
      const account = demo.providerAccount!;

      // A wrong password first: the provider's page says so and stays.
      await signInAtProvider(page, 'not the password');
      await until(() => page.locator('.error').textContent()).toBe('Wrong user name or password.');

      await page.screenshot({ path: screenshotPath(dir, 'sso-provider-login.png') });
      await signInAtProvider(page, account.password);

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
      await page.screenshot({ path: screenshotPath(dir, 'sso-logged-in.png'), fullPage: true });

      const session = (await context.cookies(origin)).find((c) => c.name === 'gatehouse');
      expect(session?.httpOnly).toBe(true);
      const tokens = issuedTokens();
      expect(tokens.length).toBeGreaterThanOrEqual(2);
      expect((await context.cookies(issuer)).some((c) => c.name === '_session')).toBe(true);

      // Logout: Gatehouse answers the provider's end-session URL and the site goes there.
      const logoutAnswer = page.waitForResponse((r) => r.url() === `${origin}/auth/logout`);
      await page.locator('#logout').click();
      expect((await logoutAnswer).status()).toBe(200);
      // The answer's body is gone once the page navigates: the URL it named is where the page went.
      await page.waitForURL((url) => url.href.startsWith(`${issuer}/session/end?`));
      const logoutUrl = new URL(page.url());
      const idToken = logoutUrl.searchParams.get('id_token_hint') ?? '';
      expect(idToken.split('.')).toHaveLength(3);
      expect([...logoutUrl.searchParams.keys()].sort()).toEqual(['client_id', 'id_token_hint']);

      // Gatehouse's session is over before the provider asks anything.
      expect((await context.cookies(origin)).find((c) => c.name === 'gatehouse')).toBeUndefined();
      const replay = await fetch(`${origin}/auth/session`, { headers: { cookie: `gatehouse=${session!.value}` } });
      expect(replay.status).toBe(401);

      // The provider's confirmation, then its signed-out page with a way back to the site.
      await until(() => page.locator('h1').textContent()).toBe('Sign out of the demo provider?');
      const confirmation = await page.content();
      await page.screenshot({ path: screenshotPath(dir, 'sso-provider-logout.png') });
      await page.locator('button[name="logout"][value="yes"]').click();
      await page.waitForURL(`${issuer}/session/end/success`);
      expect(await page.locator('h1').textContent()).toBe('Signed out');
      expect(await page.locator('#back').getAttribute('href')).toBe(`${origin}/`);
      expect((await context.cookies(issuer)).some((c) => c.name === '_session')).toBe(false);
      const signedOut = await page.content();
      await page.screenshot({ path: screenshotPath(dir, 'sso-provider-signed-out.png') });
      await page.locator('#back').click();
      await page.waitForURL(`${origin}/`);
      await until(() => page.locator('#view-login').isVisible()).toBe(true);

      // The provider's session really ended: signing in again asks who you are (a login prompt,
      // no account in the provider's session), not only for a consent the revoked grant left.
      await startProviderLogin(page);
      expect(await page.locator('input[name="password"]').isVisible()).toBe(true);
      const again = interactionAt(page.url());
      expect(again.prompt.name).toBe('login');
      expect(again.session?.accountId).toBeUndefined();
      await signInAtProvider(page, account.password);
      await page.waitForURL(`${origin}/`);
      await until(() => page.locator('#account-name').textContent()).toBe('demo.river');

      // The user's tokens stayed on the server: none in any response, request, cookie or page,
      // except the ID token as id_token_hint in the end-session URL (SPEC §9): in Gatehouse's
      // logout answer and the one request for that URL, never in a Referer or a page.
      const answered = await Promise.all(responses);
      const sent = await Promise.all(requests);
      const pages = [confirmation, signedOut, await page.content(), JSON.stringify(await context.cookies())];
      const everything = [...answered, ...sent].flatMap((seen) => [seen.url, seen.headers, seen.body]);
      for (const token of tokens) {
        for (const text of [...everything, ...pages]) expect(text.includes(token), 'a provider token reached the browser').toBe(false);
      }
      const withIdToken = [
        ...answered.flatMap((seen) => [['response url', seen.url], ['response headers', seen.headers], ['response body', seen.body]].map(([where, text]) => ({ where: `${where} of ${seen.url.split('?')[0]}`, text: text! }))),
        ...sent.flatMap((seen) => [['request url', seen.url], ['request headers', seen.headers], ['request body', seen.body]].map(([where, text]) => ({ where: `${where} of ${seen.url.split('?')[0]}`, text: text! }))),
        ...pages.map((text) => ({ where: 'a page or cookie', text })),
      ].filter((seen) => seen.text.includes(idToken)).map((seen) => seen.where);
      const allowed = [`response body of ${origin}/auth/logout`, `request url of ${issuer}/session/end`, `response url of ${issuer}/session/end`];
      expect(withIdToken).toContain(`request url of ${issuer}/session/end`);
      expect(withIdToken.filter((where) => !allowed.includes(where))).toEqual([]);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('a user who stays signed in at the provider sees the website signed out and keeps the provider\'s session', async () => {
    const { context, page, problems } = await newPage();
    try {
      await startProviderLogin(page);
      await signInAtProvider(page, demo.providerAccount!.password);
      await page.waitForURL(`${origin}/`);
      await until(() => page.locator('#view-dashboard').isVisible()).toBe(true);

      await page.locator('#logout').click();
      await page.waitForURL((url) => url.href.startsWith(`${issuer}/session/end?`));
      await until(() => page.locator('h1').textContent()).toBe('Sign out of the demo provider?');
      await page.locator('button[form="op.logoutForm"]:not([name])').click();
      await page.waitForURL((url) => url.href.startsWith(`${issuer}/session/end/success`));
      expect(await page.locator('main p').first().textContent()).toBe('The website is signed out. You are still signed in at the demo provider.');
      expect((await context.cookies(issuer)).some((c) => c.name === '_session')).toBe(true);
      await page.locator('#back').click();
      await until(() => page.locator('#view-login').isVisible()).toBe(true);

      // The provider still knows the user: only Gatehouse's grant ended, so it asks for consent.
      await startProviderLogin(page);
      const again = interactionAt(page.url());
      expect(again.prompt.name).toBe('consent');
      expect(again.session?.accountId).toBe('river-0001');
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
      await page.screenshot({ path: screenshotPath(dir, 'sso-cancelled.png') });

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
