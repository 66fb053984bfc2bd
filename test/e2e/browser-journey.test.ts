import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page, type Response } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoUpstream, type DemoUpstream } from '../../demo/upstream/server.js';
import { createGateway, type Gateway } from '../../src/app/create-gateway.js';
import { openServices } from '../../src/app/open-services.js';
import { loadConfig } from '../../src/config/load.js';

/**
 * The whole product, as a person uses it: real Chromium, the demo website served by a real
 * gateway, the demo upstream API behind it. The one promise checked everywhere the browser can
 * look: no byte of the upstream's secret token ever reaches it.
 */

const chromiumPath = '/usr/bin/chromium';
const chromiumArgs = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const siteDir = fileURLToPath(new URL('../../demo/site', import.meta.url));
const actor = { user: 'e2e-setup' };

const token = randomBytes(32).toString('base64url');
const alice = { name: 'alice', password: 'correct horse battery staple' };
const bob = { name: 'bob', password: 'temporary password 1', newPassword: 'a brand new passphrase' };

let dir: string;
let upstream: DemoUpstream;
let gateway: Gateway;
let browser: Browser | undefined;
let origin: string;

/** A port free right now: the config needs it up front because publicOrigin must name it. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

/** Without the browser every test FAILS with this message; none is skipped. */
const missingBrowser = `Chromium is missing at ${chromiumPath}. The browser tests need it: install it with "apt-get install -y chromium" (.ci/run does this).`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-e2e-'));
  upstream = await startDemoUpstream({ host: '127.0.0.1', port: 0, token });
  const port = await freePort();
  origin = `http://127.0.0.1:${port}`;
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, [
    'server:',
    '  host: 127.0.0.1',
    `  port: ${port}`,
    `  publicOrigin: ${origin}`,
    'store:',
    '  sqlite: ./gatehouse.db',
    'masterKey: file:./master.key',
    'upstreams:',
    '  - name: weather',
    `    url: ${upstream.url}`,
    '    credential: { type: bearer, secret: weather-token }',
    'routes:',
    // First path match decides, so the specific POST route comes before the catch-all.
    '  - { path: /api/weather/v1/notes, methods: [POST], upstream: weather, stripPrefix: /api/weather, roles: [user] }',
    '  - { path: /api/weather/**, methods: [GET], upstream: weather, stripPrefix: /api/weather, roles: [user] }',
    `static: ${JSON.stringify(siteDir)}`,
    '',
  ].join('\n'));
  const { config } = loadConfig(file);

  // The gateway refuses to start while a secret its configuration names is missing: set up first.
  const setup = await openServices(config, { createMasterKey: true });
  try {
    await setup.secrets.set('weather-token', token, actor);
    expect(await setup.accounts.add({ name: alice.name, roles: ['user'], password: alice.password, requireReset: false }, actor)).toBe('created');
    expect(await setup.accounts.add({ name: bob.name, roles: ['user'], password: bob.password, requireReset: true }, actor)).toBe('created');
  } finally {
    await setup.close();
  }

  gateway = await createGateway({ config });
  await gateway.start();
  if (existsSync(chromiumPath)) browser = await chromium.launch({ executablePath: chromiumPath, args: chromiumArgs });
});

afterAll(async () => {
  await browser?.close();
  await gateway?.stop();
  await upstream?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Recorded {
  url: string;
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Everything the browser received, headers and bodies, for the leak checks. */
function recordResponses(page: Page): { all(): Promise<Recorded[]> } {
  const pending: Promise<Recorded>[] = [];
  page.on('response', (response: Response) => {
    pending.push((async () => ({
      url: response.url(),
      status: response.status(),
      headers: await response.allHeaders(),
      // Redirects and 204s have no body to read.
      body: await response.body().then((b) => b.toString('latin1'), () => ''),
    }))());
  });
  return { all: () => Promise.all(pending) };
}

async function browserState(page: Page): Promise<{ cookie: string; local: string; session: string; localLength: number; sessionLength: number }> {
  return page.evaluate(() => ({
    cookie: document.cookie,
    local: JSON.stringify({ ...localStorage }),
    session: JSON.stringify({ ...sessionStorage }),
    localLength: localStorage.length,
    sessionLength: sessionStorage.length,
  }));
}

/**
 * A fresh browser context (its own cookie jar and storage). `problems` collects script errors and
 * console errors, which is where a CSP violation (an inline script or style) shows up. The
 * browser's own "Failed to load resource" lines for expected 401/403/429 answers are not problems.
 */
async function newPage(): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
  if (!browser) throw new Error(missingBrowser);
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && !/status of (401|403|429)/.test(message.text())) problems.push(`console error: ${message.text()}`);
  });
  return { context, page, problems };
}

/**
 * Waits for what the page shows. Generous, because CI runs this beside the whole suite on two
 * cores; a passing check returns as soon as it passes.
 */
function until<T>(read: () => Promise<T> | T): ReturnType<typeof expect.poll<T>> {
  return expect.poll(read, { timeout: 15_000, interval: 100 });
}

async function logIn(page: Page, name: string, password: string): Promise<void> {
  await page.locator('#login-username').fill(name);
  await page.locator('#login-password').fill(password);
  await page.locator('#login-submit').click();
}

async function sessionStatus(cookieValue: string): Promise<number> {
  const response = await fetch(`${origin}/auth/session`, { headers: { cookie: `gatehouse=${cookieValue}` } });
  await response.arrayBuffer();
  return response.status;
}

describe('the demo website in Chromium', { timeout: 90_000 }, () => {
  it('logs a person in, shows API data and the session expiry, logs out, and never lets the token reach the browser', async () => {
    const { context, page, problems } = await newPage();
    const responses = recordResponses(page);
    try {
      await page.goto(`${origin}/`);
      await until(() => page.locator('#view-login').isVisible()).toBe(true);

      // A wrong password first: the form says so.
      await logIn(page, alice.name, 'not the password at all');
      await until(() => page.locator('#login-error').textContent()).toBe('The user name or password is wrong.');

      await logIn(page, alice.name, alice.password);
      await until(() => page.locator('#view-dashboard').isVisible()).toBe(true);

      // Data from the upstream, which answers only with the token Gatehouse attached.
      await until(() => page.locator('#today-location').textContent()).toBe('Harbourtown');
      expect(await page.locator('#forecast-days li').count()).toBe(5);
      await until(() => page.locator('#trail-headers dt').allTextContents()).toContain('x-request-id');
      const unauthenticated = await fetch(`${upstream.url}/v1/today`);
      expect(unauthenticated.status).toBe(401);
      await unauthenticated.arrayBuffer();

      // The session's expiry, counting down live: idle 30 minutes, absolute 12 hours by default.
      await until(() => page.locator('#session-idle-left').textContent()).toMatch(/^(30:00|29:[0-5]\d)$/);
      await until(() => page.locator('#session-absolute-left').textContent()).toMatch(/^(12:00:00|11:59:[0-5]\d)$/);
      const before = await page.locator('#session-idle-left').textContent();
      await until(() => page.locator('#session-idle-left').textContent()).not.toBe(before);

      // A write through the gateway: POST with the CSRF header, forwarded with the token.
      await page.locator('#note-text').fill('Bring an umbrella');
      await page.locator('#note-submit').click();
      await until(() => page.locator('#notes-list .note-text').allTextContents()).toEqual(['Bring an umbrella']);

      const shot = process.env.GATEHOUSE_E2E_SCREENSHOT ?? join(dir, 'logged-in.png');
      await page.screenshot({ path: shot, fullPage: true });
      expect(statSync(shot).size).toBeGreaterThan(10_000);

      // The session cookie: HttpOnly (invisible to scripts), SameSite=Strict, host-only.
      const cookies = await context.cookies(origin);
      const session = cookies.find((c) => c.name === 'gatehouse');
      expect(session).toBeDefined();
      expect(session!.httpOnly).toBe(true);
      expect(session!.sameSite).toBe('Strict');
      expect(session!.path).toBe('/');
      const loggedIn = await browserState(page);
      expect(loggedIn.cookie).not.toContain('gatehouse');
      expect(loggedIn.cookie).not.toContain(session!.value);
      expect(loggedIn.localLength).toBe(0);
      expect(loggedIn.sessionLength).toBe(0);
      const loggedInDom = await page.content();

      // The stolen-cookie check works while the session lives, so its failure below means something.
      expect(await sessionStatus(session!.value)).toBe(200);

      await page.locator('#logout').click();
      await until(() => page.locator('#view-login').isVisible()).toBe(true);
      expect(await page.locator('#login-notice').textContent()).toBe('You are signed out.');
      expect(await page.locator('#account').isVisible()).toBe(false);

      // Logout ended the session on the server: the old cookie, replayed, is worthless.
      expect(await sessionStatus(session!.value)).toBe(401);
      const replay = await fetch(`${origin}/api/weather/v1/today`, { headers: { cookie: `gatehouse=${session!.value}`, 'x-csrf': '1' } });
      expect(replay.status).toBe(401);
      await replay.arrayBuffer();
      expect((await context.cookies(origin)).find((c) => c.name === 'gatehouse')).toBeUndefined();

      const loggedOut = await browserState(page);
      const finalDom = await page.content();
      const received = await responses.all();

      // What the browser saw: the site, the auth API and the proxied data.
      expect(received.some((r) => r.url.endsWith('/api/weather/v1/today') && r.status === 200)).toBe(true);
      const loginResponse = received.find((r) => r.url.endsWith('/auth/login') && r.status === 200);
      expect(loginResponse?.headers['set-cookie']).toMatch(/^gatehouse=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict$/);
      expect(loginResponse?.headers['set-cookie']).not.toMatch(/Domain=/i);

      // THE promise: the token is nowhere the browser can look.
      const places: [string, string][] = [
        ...received.map((r): [string, string] => [`response ${r.status} ${r.url}`, `${JSON.stringify(r.headers)}\n${r.body}`]),
        ['document.cookie (logged in)', loggedIn.cookie],
        ['localStorage (logged in)', loggedIn.local],
        ['sessionStorage (logged in)', loggedIn.session],
        ['DOM (logged in)', loggedInDom],
        ['document.cookie (logged out)', loggedOut.cookie],
        ['localStorage (logged out)', loggedOut.local],
        ['sessionStorage (logged out)', loggedOut.session],
        ['DOM (logged out)', finalDom],
        ['cookie jar', JSON.stringify(await context.cookies())],
      ];
      expect(received.length).toBeGreaterThan(8);
      for (const [where, text] of places) {
        expect(text.includes(token), `the secret token reached the browser: ${where}`).toBe(false);
      }
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('makes a user who must reset their password choose a new one before anything else', async () => {
    const { context, page, problems } = await newPage();
    try {
      await page.goto(`${origin}/`);
      await until(() => page.locator('#view-login').isVisible()).toBe(true);
      await logIn(page, bob.name, bob.password);

      await until(() => page.locator('#view-password').isVisible()).toBe(true);
      expect(await page.locator('#password-title').textContent()).toBe('Choose a new password');
      expect(await page.locator('#password-cancel').isVisible()).toBe(false);

      // Until the password changes, the session reaches nothing but /auth.
      const blocked = await page.evaluate(async () => {
        const response = await fetch('/api/weather/v1/today', { headers: { 'X-CSRF': '1' }, credentials: 'same-origin' });
        return { status: response.status, body: await response.json() as { error: { code: string } } };
      });
      expect(blocked).toEqual({ status: 403, body: { error: { code: 'password_reset_required', message: expect.any(String) as string } } });

      // A reload keeps the user on the password form.
      await page.reload();
      await until(() => page.locator('#view-password').isVisible()).toBe(true);

      // Checks in the page first, then the server's verdict on a wrong current password.
      await page.locator('#password-current').fill(bob.password);
      await page.locator('#password-new').fill('short');
      await page.locator('#password-repeat').fill('short');
      await page.locator('#password-submit').click();
      await until(() => page.locator('#password-error').textContent()).toBe('The new password must be at least 12 characters long.');

      await page.locator('#password-current').fill('not my current password');
      await page.locator('#password-new').fill(bob.newPassword);
      await page.locator('#password-repeat').fill(bob.newPassword);
      await page.locator('#password-submit').click();
      await until(() => page.locator('#password-error').textContent()).toBe('The current password is wrong.');

      await page.locator('#password-current').fill(bob.password);
      await page.locator('#password-new').fill(bob.newPassword);
      await page.locator('#password-repeat').fill(bob.newPassword);
      await page.locator('#password-submit').click();

      await until(() => page.locator('#view-dashboard').isVisible()).toBe(true);
      expect(await page.locator('#dashboard-notice').textContent()).toBe('Your password was changed.');
      await until(() => page.locator('#today-location').textContent()).toBe('Harbourtown');

      // The server agrees: the new password works, the old one does not.
      const login = (password: string) => fetch(`${origin}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-csrf': '1' },
        body: JSON.stringify({ username: bob.name, password }),
      }).then(async (r) => ({ status: r.status, body: await r.json() as unknown }));
      expect(await login(bob.password)).toMatchObject({ status: 401 });
      expect(await login(bob.newPassword)).toMatchObject({ status: 200, body: { passwordResetRequired: false } });
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  // Gatehouse's login throttling (SPEC §5 `login`) is not built yet, so the gateway cannot be made
  // to answer 429 or 403 blocked here. These answers are therefore played by the browser's
  // request interception, which tests only what the website shows for them. When throttling
  // lands, the 429 case belongs against the real gateway (a `login.maxFailures` of 3 and a 30s back-off).
  it('shows the wait a 429 asks for ("try again in N s"), and the blocked messages', async () => {
    const { context, page, problems } = await newPage();
    try {
      const answers: { status: number; headers: Record<string, string>; code: string }[] = [
        { status: 429, headers: { 'retry-after': '3' }, code: 'too_many_attempts' },
        { status: 403, headers: {}, code: 'blocked' },
        { status: 403, headers: {}, code: 'ip_blocked' },
      ];
      await page.route('**/auth/login', async (route) => {
        const answer = answers.shift();
        if (!answer) return route.continue();
        await route.fulfill({
          status: answer.status,
          headers: { ...answer.headers, 'content-type': 'application/json' },
          body: JSON.stringify({ error: { code: answer.code, message: 'from the gateway' } }),
        });
      });
      await page.goto(`${origin}/`);
      await until(() => page.locator('#view-login').isVisible()).toBe(true);

      await logIn(page, alice.name, alice.password);
      await until(() => page.locator('#login-error').textContent()).toMatch(/^Too many failed attempts\. Try again in [1-3] s\.$/);
      expect(await page.locator('#login-submit').isDisabled()).toBe(true);
      // The countdown runs, then the form is usable again.
      await until(() => page.locator('#login-error').textContent()).toBe('Too many failed attempts. You can try again now.');
      expect(await page.locator('#login-submit').isEnabled()).toBe(true);

      await logIn(page, alice.name, alice.password);
      await until(() => page.locator('#login-error').textContent()).toBe('You are temporarily blocked. Try again later.');
      await logIn(page, alice.name, alice.password);
      await until(() => page.locator('#login-error').textContent()).toBe('Sign-ins from your network address are not allowed.');

      // The next attempt reaches the real gateway again.
      await logIn(page, alice.name, alice.password);
      await until(() => page.locator('#view-dashboard').isVisible()).toBe(true);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
