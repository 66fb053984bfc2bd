import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page, type Response } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startDemoUpstream, type DemoUpstream } from '../../demo/upstream/server.js';
import { createGateway, type Gateway } from '../../src/app/create-gateway.js';
import { openServices } from '../../src/app/open-services.js';
import { loadConfig } from '../../src/config/load.js';
import { chromiumArgs, chromiumPath, missingBrowser, screenshotPath, until } from '../helpers/browser.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { call } from '../helpers/http.js';
import { freePort } from '../helpers/processes.js';

/**
 * The whole product, as a person uses it: real Chromium, the demo website served by a real
 * gateway, the demo upstream API behind it. The one promise checked everywhere the browser can
 * look: no byte of the upstream's secret token ever reaches it.
 */

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
    // The dashboard's live panel (demo/gatehouse.yaml has the same route).
    '  - { path: /api/weather/v1/live, methods: [GET], upstream: weather, stripPrefix: /api/weather, roles: [user], websocket: true }',
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

interface AlertState {
  text: string;
  disabled: boolean;
}

/**
 * Records, inside the page, every state an alert and a button go through (text, and whether the
 * button is disabled) as the page's own timers change them; returns a reader of the record.
 */
async function recordAlert(page: Page, alertId: string, buttonId: string): Promise<() => Promise<AlertState[]>> {
  await page.evaluate(([alert, button]) => {
    const shown = document.getElementById(alert)!;
    const control = document.getElementById(button) as HTMLButtonElement;
    const states: { text: string; disabled: boolean }[] = [];
    const record = (): void => {
      const text = shown.hidden ? '' : shown.textContent ?? '';
      const last = states[states.length - 1];
      if (!last || last.text !== text || last.disabled !== control.disabled) states.push({ text, disabled: control.disabled });
    };
    new MutationObserver(record).observe(shown, { subtree: true, childList: true, characterData: true, attributes: true });
    new MutationObserver(record).observe(control, { attributes: true });
    (window as unknown as { recordedAlert: typeof states }).recordedAlert = states;
  }, [alertId, buttonId] as const);
  return () => page.evaluate(() => (window as unknown as { recordedAlert: AlertState[] }).recordedAlert);
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
});

/**
 * What the website shows when Gatehouse throttles, blocks or ends a session (SPEC §5), against
 * real gateways: nothing is faked between the page and Gatehouse. Each test starts its own gateway
 * with the rules it needs, driven by a ManualClock the test moves: a block by address refuses
 * every request from 127.0.0.1, and waits of a minute must not take a minute. Where the page must
 * count a long wait down, the browser's clock is Playwright's and moves with the gateway's.
 */
describe('the demo website when Gatehouse throttles, blocks or ends a session', { timeout: 90_000 }, () => {
  let site: TestGateway | undefined;

  afterEach(async () => {
    await site?.close();
    site = undefined;
  });

  /** A gateway serving the demo website and API, with `config` (limits, login) on top. */
  async function startSite(config: Record<string, unknown>): Promise<TestGateway> {
    const port = await freePort();
    site = await startGateway({
      upstreamUrl: upstream.url,
      secret: token,
      users: [{ name: alice.name, roles: ['user'], password: alice.password }],
      config: {
        server: { host: '127.0.0.1', port, publicOrigin: `http://127.0.0.1:${port}` },
        upstreams: [{ name: 'weather', url: upstream.url, credential: { type: 'bearer', secret: 'api-token' } }],
        routes: [
          { path: '/api/weather/v1/notes', methods: ['POST'], upstream: 'weather', stripPrefix: '/api/weather', roles: ['user'] },
          // The dashboard's live panel (demo/gatehouse.yaml has the same route).
          { path: '/api/weather/v1/live', methods: ['GET'], upstream: 'weather', stripPrefix: '/api/weather', roles: ['user'], websocket: true },
          { path: '/api/weather/**', methods: ['GET'], upstream: 'weather', stripPrefix: '/api/weather', roles: ['user'] },
        ],
        static: siteDir,
        ...config,
      },
    });
    expect(site.url).toBe(`http://127.0.0.1:${port}`);
    return site;
  }

  /** Submits the login form and returns Gatehouse's answer to it. */
  async function submitLogin(page: Page, name: string, password: string): Promise<Response> {
    const answer = page.waitForResponse((r) => r.url().endsWith('/auth/login') && r.request().method() === 'POST');
    await logIn(page, name, password);
    return answer;
  }

  async function signInToDashboard(page: Page, url: string): Promise<void> {
    await page.goto(`${url}/`);
    await until(() => page.locator('#view-login').isVisible()).toBe(true);
    expect((await submitLogin(page, alice.name, alice.password)).status()).toBe(200);
    await until(() => page.locator('#today-location').textContent()).toBe('Harbourtown');
    await until(() => page.locator('#forecast-days li').count()).toBe(5);
    await until(() => page.locator('#trail-headers dt').allTextContents()).toContain('x-request-id');
  }

  /** The wait the page shows in an alert ("… Try again in N s."), or null while it shows none. */
  async function shownWait(page: Page, id: string, prefix: string): Promise<number | null> {
    const text = await page.locator(`#${id}`).textContent() ?? '';
    const match = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} Try again in (\\d+) s\\.$`).exec(text);
    return match ? Number(match[1]) : null;
  }

  it('throttles wrong passwords in the login form: "try again in N s" with the button disabled, then the right password signs in', async () => {
    const gw = await startSite({ login: { maxFailures: 3, backoff: '2s' } });
    const { context, page, problems } = await newPage();
    try {
      await page.goto(`${gw.url}/`);
      await until(() => page.locator('#view-login').isVisible()).toBe(true);

      // Three failures are answered as failures; the third starts a 2 s back-off.
      for (const guess of ['guess one', 'guess two', 'guess three']) {
        expect((await submitLogin(page, alice.name, guess)).status()).toBe(401);
        await until(() => page.locator('#login-error').textContent()).toBe('The user name or password is wrong.');
      }

      // The page's own real-time countdown, recorded as it happens: polling could miss a 2 s one.
      const recorded = await recordAlert(page, 'login-error', 'login-submit');
      const throttled = await submitLogin(page, alice.name, 'guess four');
      expect(throttled.status()).toBe(429);
      expect(await throttled.json()).toMatchObject({ error: { code: 'too_many_attempts' } });
      const retryAfter = Number(await throttled.headerValue('retry-after'));
      expect(retryAfter).toBe(2);
      const first = `Too many failed sign-in attempts. Try again in ${retryAfter} s.`;
      await until(async () => (await recorded()).find((s) => s.text !== '')).toEqual({ text: first, disabled: true });
      expect(await page.locator('#login-error').getAttribute('role')).toBe('alert');
      await page.screenshot({ path: screenshotPath(dir, 'throttled-login.png'), fullPage: true });

      // Gatehouse agrees: until the wait is over even the right password is refused, unchecked.
      const early = await call(gw.url, '/auth/login', { method: 'POST', body: { username: alice.name, password: alice.password } });
      expect(early.status).toBe(429);
      expect(early.json()).toMatchObject({ error: { code: 'too_many_attempts' } });

      // The wait passes on the gateway's clock; the page's countdown runs out on its own.
      gw.clock.advance(retryAfter * 1000);
      await until(() => page.locator('#login-error').textContent()).toBe('You can try again now.');
      expect(await page.locator('#login-submit').isEnabled()).toBe(true);

      // Everything the alert showed: N s, counting down, the button disabled all along, then free.
      const states = (await recorded()).filter((s) => s.text !== '');
      expect(states.at(-1)).toEqual({ text: 'You can try again now.', disabled: false });
      const counted = states.slice(0, -1).map((s) => {
        const match = /^Too many failed sign-in attempts\. Try again in (\d+) s\.$/.exec(s.text);
        expect(match, s.text).not.toBeNull();
        expect(s.disabled, s.text).toBe(true);
        return Number(match![1]);
      });
      expect(counted[0]).toBe(retryAfter);
      expect(counted).toEqual([...new Set(counted)].sort((a, b) => b - a));

      expect((await submitLogin(page, alice.name, alice.password)).status()).toBe(200);
      await until(() => page.locator('#view-dashboard').isVisible()).toBe(true);
      await until(() => page.locator('#today-location').textContent()).toBe('Harbourtown');
      expect(await page.locator('#login-error').isVisible()).toBe(false);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('shows "too many requests, try again in N s" when a rate rule rejects API calls, and recovers when the window frees', async () => {
    const gw = await startSite({ limits: [{ name: 'api-per-session', match: '/api/**', by: 'session', max: 4, per: '1m', action: 'reject' }] });
    const { context, page, problems } = await newPage();
    try {
      await page.clock.install({ time: gw.clock.now() });
      // The dashboard's three API calls and its live panel's upgrade (one request, SPEC §10) use
      // up the session's four a minute.
      await signInToDashboard(page, gw.url);
      await until(() => page.locator('#live-status').textContent()).toBe('live');

      const refused = page.waitForResponse((r) => r.url().endsWith('/api/weather/v1/today'));
      await page.locator('#refresh').click();
      const answer = await refused;
      expect(answer.status()).toBe(429);
      expect(await answer.json()).toMatchObject({ error: { code: 'rate_limited' } });
      // A minute, plus what is left of the four calls' bucket (1 s, 1/60 of it), rounded up.
      const retryAfter = Number(await answer.headerValue('retry-after'));
      expect(retryAfter).toBe(61);

      const prefix = 'Too many requests in a short time.';
      await until(() => shownWait(page, 'dashboard-error', prefix)).not.toBeNull();
      // The page's clock runs meanwhile, so the countdown may have ticked once or twice.
      const shown = (await shownWait(page, 'dashboard-error', prefix))!;
      expect(shown).toBeLessThanOrEqual(retryAfter);
      expect(shown).toBeGreaterThan(retryAfter - 10);
      expect(await page.locator('#dashboard-error').getAttribute('role')).toBe('alert');
      expect(await page.locator('#refresh').isDisabled()).toBe(true);
      expect(await page.locator('#note-submit').isDisabled()).toBe(true);
      // What loaded before stays on the page, and the user is still signed in.
      expect(await page.locator('#today-location').textContent()).toBe('Harbourtown');
      expect(await page.locator('#view-dashboard').isVisible()).toBe(true);
      expect(await page.locator('#account').isVisible()).toBe(true);
      await page.screenshot({ path: screenshotPath(dir, 'rate-limited-dashboard.png'), fullPage: true });

      // The minute passes for Gatehouse and for the page.
      gw.clock.advance(retryAfter * 1000);
      await page.clock.fastForward(retryAfter * 1000);
      await until(() => page.locator('#dashboard-error').textContent()).toBe('You can try again now.');
      expect(await page.locator('#refresh').isEnabled()).toBe(true);
      expect(await page.locator('#note-submit').isEnabled()).toBe(true);

      const again = page.waitForResponse((r) => r.url().endsWith('/api/weather/v1/today'));
      await page.locator('#refresh').click();
      expect((await again).status()).toBe(200);
      await until(() => page.locator('#dashboard-error').isVisible()).toBe(false);
      expect(await page.locator('#today-location').textContent()).toBe('Harbourtown');
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('shows the blocked message when a block rule refuses the address, and recovers when the block ends', async () => {
    const gw = await startSite({ limits: [{ name: 'api-flood', match: '/api/**', by: 'ip', max: 4, per: '1m', action: 'block', for: '1m' }] });
    const { context, page, problems } = await newPage();
    try {
      await page.clock.install({ time: gw.clock.now() });
      await signInToDashboard(page, gw.url);

      // Three more calls: the fourth of the minute passes, the fifth starts the block.
      const blocked = page.waitForResponse((r) => r.url().includes('/api/weather/') && r.status() === 403);
      await page.locator('#refresh').click();
      const answer = await blocked;
      expect(await answer.json()).toMatchObject({ error: { code: 'blocked' } });
      // The minute of `for`, stretched to when the window has room again: the rest of the four
      // calls' bucket (1 s, 1/60 of the minute) more, rounded up.
      const retryAfter = Number(await answer.headerValue('retry-after'));
      expect(retryAfter).toBe(61);

      const prefix = 'Access is temporarily blocked.';
      await until(() => shownWait(page, 'dashboard-error', prefix)).not.toBeNull();
      const shown = (await shownWait(page, 'dashboard-error', prefix))!;
      expect(shown).toBeLessThanOrEqual(retryAfter);
      expect(shown).toBeGreaterThan(retryAfter - 10);
      expect(await page.locator('#refresh').isDisabled()).toBe(true);
      expect(await page.locator('#note-submit').isDisabled()).toBe(true);
      expect(await page.locator('#view-dashboard').isVisible()).toBe(true);
      await page.screenshot({ path: screenshotPath(dir, 'blocked-dashboard.png'), fullPage: true });

      // The block covers every request from the address, the website itself included.
      const website = await fetch(`${gw.url}/`);
      expect(website.status).toBe(403);
      expect(await website.json()).toMatchObject({ error: { code: 'blocked' } });

      gw.clock.advance(retryAfter * 1000);
      await page.clock.fastForward(retryAfter * 1000);
      await until(() => page.locator('#dashboard-error').textContent()).toBe('You can try again now.');
      const again = page.waitForResponse((r) => r.url().endsWith('/api/weather/v1/today'));
      await page.locator('#refresh').click();
      expect((await again).status()).toBe(200);
      await until(() => page.locator('#dashboard-error').isVisible()).toBe(false);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('returns the user to the login view with "your session has ended" when a revoke rule ends the session', async () => {
    // The demo configuration's probing rule, stricter: more than two upstream 404s a minute.
    const gw = await startSite({ limits: [{ name: 'probing', match: { path: '/api/**', status: 404 }, by: 'session', max: 2, per: '1m', action: 'revoke' }] });
    const { context, page, problems } = await newPage();
    try {
      await signInToDashboard(page, gw.url);
      const session = (await context.cookies(gw.url)).find((c) => c.name === 'gatehouse');
      expect(session).toBeDefined();

      // Someone with this session guesses URLs; the third 404 is delivered, and ends the session.
      for (const guess of ['admin', 'users', 'secrets']) {
        expect((await call(gw.url, `/api/weather/v1/${guess}`, { session: session!.value })).status).toBe(404);
      }
      await until(async () => (await call(gw.url, '/auth/session', { session: session!.value })).status).toBe(401);

      // The page learns it from its next request.
      await page.locator('#refresh').click();
      await until(() => page.locator('#view-login').isVisible()).toBe(true);
      expect(await page.locator('#login-notice').textContent()).toBe('Your session has ended. Please sign in again.');
      expect(await page.locator('#login-error').isVisible()).toBe(false);
      expect(await page.locator('#account').isVisible()).toBe(false);
      expect(await page.locator('#today-location').textContent()).toBe('—');
      expect((await context.cookies(gw.url)).find((c) => c.name === 'gatehouse')).toBeUndefined();

      // Signing in again starts a new session.
      expect((await submitLogin(page, alice.name, alice.password)).status()).toBe(200);
      await until(() => page.locator('#today-location').textContent()).toBe('Harbourtown');
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
