import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type CDPSession, type Page, type Response } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoUpstream, type DemoUpstream } from '../../demo/upstream/server.js';
import { chromiumArgs, chromiumPath, missingBrowser, screenshotPath, until } from '../helpers/browser.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { call, login } from '../helpers/http.js';
import { freePort } from '../helpers/processes.js';
import { totpCode } from '../helpers/totp.js';

/**
 * Second factors as a person uses them (SPEC §4.5): real Chromium on the demo website, real
 * gateways (test/helpers/gateway.ts) whose ManualClock the test reads to compute TOTP codes, and
 * Chromium's own virtual authenticator (the DevTools Protocol's WebAuthn domain) for passkeys.
 *
 * WebAuthn needs a host name, so every gateway here has `publicOrigin: http://localhost:<port>`,
 * the port picked first, and the browser goes to exactly that origin. Requests from Node go to
 * 127.0.0.1, where the gateway listens.
 */

const siteDir = fileURLToPath(new URL('../../demo/site', import.meta.url));

const PASSWORD = 'correct horse battery staple';
const token = randomBytes(32).toString('base64url');
/** A desktop Firefox, so that two contexts' sessions differ in the list as two devices would. */
const firefoxOnWindows = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0';

let dir: string;
let upstream: DemoUpstream;
let browser: Browser | undefined;
const gateways: TestGateway[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-e2e-mfa-'));
  upstream = await startDemoUpstream({ host: '127.0.0.1', port: 0, token });
  if (existsSync(chromiumPath)) browser = await chromium.launch({ executablePath: chromiumPath, args: chromiumArgs });
});

afterAll(async () => {
  await browser?.close();
  for (const gw of gateways) await gw.close();
  await upstream?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Site {
  gw: TestGateway;
  /** What the browser uses: http://localhost:<port>, the publicOrigin. */
  origin: string;
}

/**
 * A gateway serving the demo website and API on a localhost publicOrigin, with `users` and a
 * step-up route (`mfa: true`) at /api/secure/** onto the same upstream.
 */
async function startSite(users: string[], config: Record<string, unknown> = {}): Promise<Site> {
  const port = await freePort();
  const origin = `http://localhost:${port}`;
  const gw = await startGateway({
    upstreamUrl: upstream.url,
    secret: token,
    users: users.map((name) => ({ name, roles: ['user'], password: PASSWORD })),
    config: {
      server: { host: '127.0.0.1', port, publicOrigin: origin },
      upstreams: [{ name: 'weather', url: upstream.url, credential: { type: 'bearer', secret: 'api-token' } }],
      routes: [
        { path: '/api/weather/v1/notes', methods: ['POST'], upstream: 'weather', stripPrefix: '/api/weather', roles: ['user'] },
        // The dashboard's live panel (demo/gatehouse.yaml has the same route).
        { path: '/api/weather/v1/live', methods: ['GET'], upstream: 'weather', stripPrefix: '/api/weather', roles: ['user'], websocket: true },
        { path: '/api/weather/**', methods: ['GET'], upstream: 'weather', stripPrefix: '/api/weather', roles: ['user'] },
        { path: '/api/secure/**', methods: ['GET'], upstream: 'weather', stripPrefix: '/api/secure', roles: ['user'], mfa: true },
      ],
      static: siteDir,
      ...config,
    },
  });
  gateways.push(gw);
  expect(gw.url).toBe(`http://127.0.0.1:${port}`);
  return { gw, origin };
}

/**
 * A fresh browser context. `problems` collects script errors and console errors (a CSP violation
 * shows up there). The browser's "Failed to load resource" lines for the refusals these journeys
 * provoke on purpose (400 invalid_code, 401, 403 mfa_required, 409 mfa_already_enabled) are not.
 */
async function newPage(options: { userAgent?: string } = {}): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
  if (!browser) throw new Error(missingBrowser);
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 }, ...options });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && !/status of (400|401|403|409)/.test(message.text())) problems.push(`console error: ${message.text()}`);
  });
  return { context, page, problems };
}

/** Chromium's virtual authenticator: a platform authenticator with resident keys that says yes. */
async function addVirtualAuthenticator(context: BrowserContext, page: Page): Promise<{ cdp: CDPSession; authenticatorId: string }> {
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  return { cdp, authenticatorId };
}

async function shoot(page: Page, name: string): Promise<void> {
  const path = screenshotPath(dir, name);
  await page.screenshot({ path, fullPage: true });
  expect(statSync(path).size).toBeGreaterThan(10_000);
}

async function submitPassword(page: Page, name: string): Promise<Response> {
  const answer = page.waitForResponse((r) => r.url().endsWith('/auth/login') && r.request().method() === 'POST');
  await page.locator('#login-username').fill(name);
  await page.locator('#login-password').fill(PASSWORD);
  await page.locator('#login-submit').click();
  return answer;
}

async function expectDashboard(page: Page): Promise<void> {
  await until(() => page.locator('#view-dashboard').isVisible()).toBe(true);
  await until(() => page.locator('#today-location').textContent()).toBe('Harbourtown');
  await until(() => page.locator('#forecast-days li').count()).toBe(5);
  await until(() => page.locator('#trail-headers dt').allTextContents()).toContain('x-request-id');
}

async function logOut(page: Page): Promise<void> {
  await page.locator('#logout').click();
  await until(() => page.locator('#view-login').isVisible()).toBe(true);
  expect(await page.locator('#login-notice').textContent()).toBe('You are signed out.');
}

async function openSecurity(page: Page): Promise<void> {
  await page.locator('#nav-security').click();
  await until(() => page.locator('#view-security').isVisible()).toBe(true);
  expect(await page.locator('#nav-security').getAttribute('aria-current')).toBe('page');
}

/** What the page itself gets from Gatehouse: status and error code, with the page's cookie. */
async function fetchInPage(page: Page, path: string): Promise<{ status: number; code: string | null }> {
  return page.evaluate(async (url) => {
    const response = await fetch(url, { headers: { 'X-CSRF': '1' }, credentials: 'same-origin' });
    const body = await response.json().catch(() => null) as { error?: { code?: string } } | null;
    return { status: response.status, code: body?.error?.code ?? null };
  }, path);
}

async function storage(page: Page): Promise<{ local: number; session: number }> {
  return page.evaluate(() => ({ local: localStorage.length, session: sessionStorage.length }));
}

/** A six-digit code that is none of the codes the gateway accepts now (steps t-1, t, t+1). */
function wrongCode(secret: string, at: number): string {
  const valid = new Set([-1, 0, 1].map((step) => totpCode(secret, at, step)));
  return ['000000', '111111', '222222', '333333'].find((code) => !valid.has(code))!;
}

describe('second factors in the demo website, in Chromium', { timeout: 120_000 }, () => {
  it('enrols TOTP by the secret shown on the page, then signs in with password + code, and with a recovery code', async () => {
    const { gw, origin } = await startSite(['alice']);
    const { context, page, problems } = await newPage();
    try {
      await page.goto(`${origin}/`);
      await until(() => page.locator('#view-login').isVisible()).toBe(true);
      expect(await page.locator('#passkey-login-button').isVisible()).toBe(true);
      const first = await submitPassword(page, 'alice');
      expect(await first.json()).toMatchObject({ mfaRequired: false });
      await expectDashboard(page);

      // Before any second factor, the step-up route refuses this password-only session.
      expect(await fetchInPage(page, '/api/secure/v1/whoami')).toEqual({ status: 403, code: 'mfa_required' });

      await openSecurity(page);
      expect(await page.locator('#totp-status').textContent()).toBe('Off');
      const setupAnswer = page.waitForResponse((r) => r.url().endsWith('/auth/mfa/totp/setup'));
      await page.locator('#totp-start').click();
      const setup = await (await setupAnswer).json() as { secret: string; qrSvg: string; otpauthUrl: string };
      await until(() => page.locator('#totp-enrol').isVisible()).toBe(true);

      // The QR code: Gatehouse's SVG as a data: image, decoded by the browser, never put into the DOM.
      const qr = page.locator('#totp-qr');
      const src = await qr.getAttribute('src');
      expect(src).toBe(`data:image/svg+xml;base64,${Buffer.from(setup.qrSvg).toString('base64')}`);
      await until(() => qr.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0)).toBe(true);
      expect(await page.locator('#totp svg').count()).toBe(0);

      // The key for typing it in by hand, in groups of four: what an authenticator app is given.
      const shown = (await page.locator('#totp-secret').textContent())!;
      expect(shown).toMatch(/^([A-Z2-7]{4} )+[A-Z2-7]{1,4}$/);
      const secret = shown.replace(/\s+/g, '');
      expect(secret).toBe(setup.secret);
      await shoot(page, 'totp-enrolment.png');

      // A wrong code first: a clear message, still enrolling.
      await page.locator('#totp-code').fill(wrongCode(secret, gw.clock.now()));
      await page.locator('#totp-confirm').click();
      await until(() => page.locator('#totp-error').textContent()).toBe('That code is not right. Codes change every 30 seconds: enter the one the app shows now.');
      expect(await page.locator('#totp-enrol').isVisible()).toBe(true);

      await page.locator('#totp-code').fill(totpCode(secret, gw.clock.now()));
      await page.locator('#totp-confirm').click();
      await until(() => page.locator('#recovery-codes li').count()).toBe(10);
      expect(await page.locator('#totp-recovery .alert-warning').textContent()).toContain('Save these recovery codes now.');
      expect(await page.locator('#totp-recovery .alert-warning').textContent()).toContain('shown only this once');
      const recoveryCodes = await page.locator('#recovery-codes code').allTextContents();
      expect(recoveryCodes).toHaveLength(10);
      for (const code of recoveryCodes) expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$/);
      // The secret left the page once the app had it.
      expect(await page.content()).not.toContain(secret);
      expect(await page.locator('#totp-qr').getAttribute('src')).toBeNull();
      await shoot(page, 'totp-recovery-codes.png');

      await page.locator('#recovery-done').click();
      await until(() => page.locator('#totp-on').isVisible()).toBe(true);
      expect(await page.locator('#totp-status').textContent()).toBe('On');
      expect(await page.locator('#recovery-codes li').count()).toBe(0);
      expect(await page.locator('#security-notice').textContent()).toBe('Your authenticator app is set up. Signing in now asks for a code from it.');
      // Confirming proved the factor: this very session may take the step-up route now.
      expect(await fetchInPage(page, '/api/secure/v1/whoami')).toEqual({ status: 200, code: null });

      await logOut(page);
      // The code that confirmed is spent (and so is its step): the next one is 30 s on.
      gw.clock.advance(30_000);

      const second = await submitPassword(page, 'alice');
      expect(await second.json()).toMatchObject({ mfaRequired: true });
      await until(() => page.locator('#view-mfa').isVisible()).toBe(true);
      expect(await page.locator('#account').isVisible()).toBe(false);
      expect(await page.locator('#nav').isVisible()).toBe(false);

      await page.locator('#mfa-code').fill(wrongCode(secret, gw.clock.now()));
      await page.locator('#mfa-submit').click();
      await until(() => page.locator('#mfa-error').textContent()).toBe('That code is not right. Enter the code the app shows now.');
      expect(await page.locator('#view-mfa').isVisible()).toBe(true);
      await shoot(page, 'mfa-code-step.png');

      const verified = page.waitForResponse((r) => r.url().endsWith('/auth/mfa/verify') && r.status() === 200);
      await page.locator('#mfa-code').fill(totpCode(secret, gw.clock.now()));
      await page.locator('#mfa-submit').click();
      await verified;
      await expectDashboard(page);
      expect(await fetchInPage(page, '/api/secure/v1/whoami')).toEqual({ status: 200, code: null });
      // The page asks Gatehouse which factors are on (GET /auth/mfa), and shows the codes left.
      await openSecurity(page);
      expect(await page.locator('#totp-status').textContent()).toBe('On');
      expect(await page.locator('#recovery-left').textContent()).toBe('10 of your recovery codes are unused.');
      await page.locator('#nav-dashboard').click();
      await expectDashboard(page);

      // Lost the phone: a recovery code instead, once.
      await logOut(page);
      await submitPassword(page, 'alice');
      await until(() => page.locator('#view-mfa').isVisible()).toBe(true);
      await page.locator('#mfa-toggle').click();
      await until(() => page.locator('#mfa-recovery').isVisible()).toBe(true);
      expect(await page.locator('#mfa-code').isVisible()).toBe(false);
      expect(await page.locator('#mfa-toggle').textContent()).toBe('Use a code from my app instead');
      await page.locator('#mfa-recovery').fill(recoveryCodes[0]!.toLowerCase());
      await page.locator('#mfa-submit').click();
      await expectDashboard(page);
      expect(await page.locator('#dashboard-notice').textContent()).toBe('You signed in with a recovery code. That code will not work again.');
      expect(await fetchInPage(page, '/api/secure/v1/whoami')).toEqual({ status: 200, code: null });

      // The same recovery code again: refused, clearly; the next one works.
      await logOut(page);
      await submitPassword(page, 'alice');
      await until(() => page.locator('#view-mfa').isVisible()).toBe(true);
      await page.locator('#mfa-toggle').click();
      await page.locator('#mfa-recovery').fill(recoveryCodes[0]!);
      await page.locator('#mfa-submit').click();
      await until(() => page.locator('#mfa-error').textContent()).toBe('That recovery code is not valid, or it was used already.');
      await page.locator('#mfa-recovery').fill(recoveryCodes[1]!);
      await page.locator('#mfa-submit').click();
      await expectDashboard(page);

      await openSecurity(page);
      expect(await page.locator('#totp-status').textContent()).toBe('On');
      expect(await page.locator('#recovery-left').textContent()).toBe('8 of your recovery codes are unused.');
      // A reload knows too, without probing: the page never starts an enrolment to find out.
      const setups: string[] = [];
      page.on('request', (request) => {
        if (request.url().endsWith('/auth/mfa/totp/setup')) setups.push(request.method());
      });
      await page.reload();
      await until(() => page.locator('#view-security').isVisible()).toBe(true);
      await until(() => page.locator('#totp-on').isVisible()).toBe(true);
      expect(await page.locator('#totp-status').textContent()).toBe('On');
      expect(await page.locator('#totp-idle').isVisible()).toBe(false);
      expect(setups).toEqual([]);
      await shoot(page, 'security-totp-on.png');

      // Turning TOTP off takes the password; a wrong one is refused and changes nothing.
      await page.locator('#totp-off-start').click();
      await until(() => page.locator('#totp-disable-form').isVisible()).toBe(true);
      await page.locator('#totp-disable-password').fill('not the password');
      await page.locator('#totp-disable-submit').click();
      await until(() => page.locator('#totp-disable-error').textContent()).toBe('The password is wrong.');
      expect(await page.locator('#view-security').isVisible()).toBe(true);
      const disabled = page.waitForResponse((r) => r.url().endsWith('/auth/mfa/totp') && r.request().method() === 'DELETE');
      await page.locator('#totp-disable-password').fill(PASSWORD);
      await page.locator('#totp-disable-submit').click();
      expect((await disabled).status()).toBe(204);
      await until(() => page.locator('#totp-idle').isVisible()).toBe(true);
      expect(await page.locator('#totp-status').textContent()).toBe('Off');
      expect(await page.locator('#security-notice').textContent()).toBe('Your authenticator app is turned off. Signing in no longer asks for a code.');

      // And the password alone signs in again.
      await logOut(page);
      expect(await (await submitPassword(page, 'alice')).json()).toMatchObject({ mfaRequired: false });
      await expectDashboard(page);

      expect(await storage(page)).toEqual({ local: 0, session: 0 });
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('sends a person back to the login after five wrong codes, and lets them cancel the code step', async () => {
    const { gw, origin } = await startSite(['bob']);
    // Bob enrolled earlier, through the API.
    const cookie = await login(gw.url, 'bob', PASSWORD);
    const setup = await call(gw.url, '/auth/mfa/totp/setup', { method: 'POST', session: cookie, body: {} });
    const secret = setup.json().secret as string;
    expect((await call(gw.url, '/auth/mfa/totp/confirm', { method: 'POST', session: cookie, body: { code: totpCode(secret, gw.clock.now()) } })).status).toBe(200);

    const { context, page, problems } = await newPage();
    try {
      await page.goto(`${origin}/`);
      await until(() => page.locator('#view-login').isVisible()).toBe(true);

      // Cancel ends the pending session.
      await submitPassword(page, 'bob');
      await until(() => page.locator('#view-mfa').isVisible()).toBe(true);
      const pending = (await context.cookies(origin)).find((c) => c.name === 'gatehouse')!.value;
      await page.locator('#mfa-cancel').click();
      await until(() => page.locator('#view-login').isVisible()).toBe(true);
      expect((await call(gw.url, '/auth/session', { session: pending })).status).toBe(401);

      // A reload in the middle of the code step comes back to it.
      await submitPassword(page, 'bob');
      await until(() => page.locator('#view-mfa').isVisible()).toBe(true);
      await page.reload();
      await until(() => page.locator('#view-mfa').isVisible()).toBe(true);

      const wrong = wrongCode(secret, gw.clock.now());
      const submitCode = async (): Promise<number> => {
        const answer = page.waitForResponse((r) => r.url().endsWith('/auth/mfa/verify'));
        await page.locator('#mfa-code').fill(wrong);
        await page.locator('#mfa-submit').click();
        return (await answer).status();
      };
      for (let attempt = 1; attempt <= 4; attempt += 1) {
        expect(await submitCode()).toBe(400);
        await until(() => page.locator('#mfa-error').textContent()).toBe('That code is not right. Enter the code the app shows now.');
        await until(() => page.locator('#mfa-submit').isEnabled()).toBe(true);
        expect(await page.locator('#view-mfa').isVisible()).toBe(true);
      }
      // The fifth ends the pending session.
      expect(await submitCode()).toBe(401);
      await until(() => page.locator('#view-login').isVisible()).toBe(true);
      expect(await page.locator('#login-error').textContent()).toBe('Too many wrong codes. Please sign in again.');
      expect((await context.cookies(origin)).find((c) => c.name === 'gatehouse')).toBeUndefined();
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('makes a person enrol first when the gateway requires a second factor (mfa.required)', async () => {
    const { gw, origin } = await startSite(['carol'], { mfa: { required: true } });
    const { context, page, problems } = await newPage();
    try {
      await page.goto(`${origin}/`);
      await until(() => page.locator('#view-login').isVisible()).toBe(true);
      const answer = await submitPassword(page, 'carol');
      expect(await answer.json()).toMatchObject({ mfaRequired: true });

      // Straight to enrolment: there is no code to ask for yet.
      await until(() => page.locator('#view-security').isVisible()).toBe(true);
      expect(await page.locator('#security-title').textContent()).toBe('Set up a second factor');
      await until(() => page.locator('#totp-enrol').isVisible()).toBe(true);
      expect(await page.locator('#view-mfa').isVisible()).toBe(false);
      expect(await page.locator('#sessions').isVisible()).toBe(false);
      expect(await page.locator('#nav').isVisible()).toBe(false);
      expect(await page.locator('#totp-cancel').isVisible()).toBe(false);
      expect(await page.locator('#account').isVisible()).toBe(true);
      expect(await page.locator('#passkey-add').isVisible()).toBe(true);
      await shoot(page, 'enrolment-required.png');
      // Until it enrols, the session reaches nothing else.
      expect(await fetchInPage(page, '/api/weather/v1/today')).toEqual({ status: 401, code: 'mfa_required' });

      const secret = (await page.locator('#totp-secret').textContent())!.replace(/\s+/g, '');
      await page.locator('#totp-code').fill(totpCode(secret, gw.clock.now()));
      await page.locator('#totp-confirm').click();
      await until(() => page.locator('#recovery-codes li').count()).toBe(10);
      await page.locator('#recovery-done').click();
      await expectDashboard(page);
      expect(await page.locator('#dashboard-notice').textContent()).toBe('Your authenticator app is set up. Signing in now asks for a code from it.');
      expect(await page.locator('#nav').isVisible()).toBe(true);
      expect(await fetchInPage(page, '/api/secure/v1/whoami')).toEqual({ status: 200, code: null });

      // From now on a password login asks for the code.
      await logOut(page);
      gw.clock.advance(30_000);
      await submitPassword(page, 'carol');
      await until(() => page.locator('#view-mfa').isVisible()).toBe(true);
      await page.locator('#mfa-code').fill(totpCode(secret, gw.clock.now()));
      await page.locator('#mfa-submit').click();
      await expectDashboard(page);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('registers a passkey on the Security page with Chromium\'s virtual authenticator and signs in with it, no password', async () => {
    const { gw, origin } = await startSite(['pat']);
    const { context, page, problems } = await newPage();
    try {
      const { cdp, authenticatorId } = await addVirtualAuthenticator(context, page);
      await page.goto(`${origin}/`);
      await until(() => page.locator('#view-login').isVisible()).toBe(true);
      await submitPassword(page, 'pat');
      await expectDashboard(page);
      expect(await fetchInPage(page, '/api/secure/v1/whoami')).toEqual({ status: 403, code: 'mfa_required' });

      await openSecurity(page);
      await until(() => page.locator('#passkey-empty').isVisible()).toBe(true);
      expect(await page.locator('#passkey-empty').textContent()).toBe('No passkeys yet.');
      await page.locator('#passkey-name').fill('Work laptop');
      const registered = page.waitForResponse((r) => r.url().endsWith('/auth/passkeys/register/verify'));
      await page.locator('#passkey-add').click();
      expect((await registered).status()).toBe(200);
      await until(() => page.locator('#passkey-list .item').count()).toBe(1);
      expect(await page.locator('#passkey-list .item-title').textContent()).toBe('Work laptop');
      expect(await page.locator('#passkey-list .item-meta').textContent()).toContain('never used to sign in');
      expect(await page.locator('#security-notice').textContent()).toBe('Your passkey \u201cWork laptop\u201d is added. You can sign in with it, without a password.');
      expect(await page.locator('#passkeys-count').textContent()).toBe('1');
      await page.locator('#passkey-name').fill('Spare key');
      await shoot(page, 'passkey-list.png');
      await page.locator('#passkey-name').fill('');

      // The authenticator holds a discoverable credential for localhost: the server's list agrees.
      const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
      expect(credentials).toHaveLength(1);
      expect(credentials[0]).toMatchObject({ isResidentCredential: true, rpId: 'localhost' });
      const listed = await call(gw.url, '/auth/passkeys', { session: (await context.cookies(origin)).find((c) => c.name === 'gatehouse')!.value });
      expect(listed.json().passkeys).toEqual([expect.objectContaining({ id: credentials[0]!.credentialId.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_'), name: 'Work laptop' })]);

      await logOut(page);
      await shoot(page, 'login-with-passkey.png');
      const passkeyLogin = page.waitForResponse((r) => r.url().endsWith('/auth/passkeys/login/verify'));
      await page.locator('#passkey-login-button').click();
      const answer = await passkeyLogin;
      expect(answer.status()).toBe(200);
      expect(await answer.json()).toMatchObject({ user: { name: 'pat' }, mfaRequired: false, passwordResetRequired: false });
      await expectDashboard(page);
      expect(await page.locator('#account-name').textContent()).toBe('pat');

      // A full session, both factors in one: the session answers and the step-up route lets it through.
      expect(await fetchInPage(page, '/auth/session')).toEqual({ status: 200, code: null });
      expect(await fetchInPage(page, '/api/secure/v1/whoami')).toEqual({ status: 200, code: null });

      await openSecurity(page);
      await until(() => page.locator('#passkey-list .item-meta').textContent()).toContain('last used');
      // After a passkey login the page has no password answer to go by: Gatehouse tells it TOTP is off.
      expect(await page.locator('#totp-status').isVisible()).toBe(true);
      expect(await page.locator('#totp-status').textContent()).toBe('Off');
      expect(await page.locator('#totp-idle').isVisible()).toBe(true);

      // Removing it takes a second click; then the authenticator's credential is worthless.
      await page.locator('#passkey-list .item button', { hasText: 'Remove' }).click();
      expect(await page.locator('#passkey-list .confirm-question').textContent()).toBe('Are you sure?');
      await page.locator('#passkey-list .item button', { hasText: 'Keep' }).click();
      expect(await page.locator('#passkey-list .item').count()).toBe(1);
      await page.locator('#passkey-list .item button', { hasText: 'Remove' }).click();
      await page.locator('#passkey-list .button-danger').click();
      await until(() => page.locator('#passkey-empty').isVisible()).toBe(true);
      expect(await page.locator('#passkey-list .item').count()).toBe(0);
      expect(await page.locator('#security-notice').textContent()).toBe('The passkey \u201cWork laptop\u201d was removed.');

      await logOut(page);
      await page.locator('#passkey-login-button').click();
      await until(() => page.locator('#passkey-login-error').textContent()).toBe('Gatehouse did not accept this passkey. It may have been removed from your account.');
      expect(await page.locator('#view-login').isVisible()).toBe(true);
      expect(await storage(page)).toEqual({ local: 0, session: 0 });
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('lists the sessions of two browsers; ending the other one sends that browser to the login view', async () => {
    const { origin } = await startSite(['sam']);
    const a = await newPage();
    const b = await newPage({ userAgent: firefoxOnWindows });
    try {
      for (const { page } of [a, b]) {
        await page.goto(`${origin}/`);
        await until(() => page.locator('#view-login').isVisible()).toBe(true);
        await submitPassword(page, 'sam');
        await expectDashboard(page);
      }

      await openSecurity(a.page);
      const items = a.page.locator('#session-list .item');
      await until(() => items.count()).toBe(2);
      // This device first, marked, with no "End" of its own; the other one from Firefox on Windows.
      expect(await items.nth(0).locator('.item-title').textContent()).toMatch(/^Chrome on Linux/);
      expect(await items.nth(0).locator('.badge').textContent()).toBe('This device');
      expect(await items.nth(0).locator('button').count()).toBe(0);
      expect(await items.nth(1).locator('.item-title').textContent()).toBe('Firefox on Windows');
      expect(await items.nth(1).locator('.item-meta').textContent()).toMatch(/^127\.0\.0\.1 · signed in .+ · last active .+$/);
      expect(await a.page.locator('#sessions-revoke-others').isEnabled()).toBe(true);
      await shoot(a.page, 'sessions.png');

      await items.nth(1).locator('button', { hasText: 'End' }).click();
      await until(() => items.count()).toBe(1);
      expect(await a.page.locator('#security-notice').textContent()).toBe('The session of Firefox on Windows from 127.0.0.1 was ended.');
      expect(await a.page.locator('#sessions-revoke-others').isDisabled()).toBe(true);

      // The other browser learns it from its next API call.
      await b.page.locator('#refresh').click();
      await until(() => b.page.locator('#view-login').isVisible()).toBe(true);
      expect(await b.page.locator('#login-notice').textContent()).toBe('Your session has ended. Please sign in again.');

      // "Sign out everywhere else" does the same for all the others, and this one continues.
      await submitPassword(b.page, 'sam');
      await expectDashboard(b.page);
      await a.page.reload();
      await until(() => a.page.locator('#view-security').isVisible()).toBe(true);
      await until(() => items.count()).toBe(2);
      await a.page.locator('#sessions-revoke-others').click();
      await until(() => items.count()).toBe(1);
      expect(await a.page.locator('#security-notice').textContent()).toBe('You are signed out everywhere else. This session continues.');
      await b.page.locator('#refresh').click();
      await until(() => b.page.locator('#view-login').isVisible()).toBe(true);
      await a.page.locator('#nav-dashboard').click();
      await expectDashboard(a.page);
      expect(a.problems).toEqual([]);
      expect(b.problems).toEqual([]);
    } finally {
      await a.context.close();
      await b.context.close();
    }
  });
});
