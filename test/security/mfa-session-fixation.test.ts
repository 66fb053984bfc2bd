import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/security/hash.js';
import { PASSWORD, startGateway, type TestGateway } from '../helpers/gateway.js';
import { call, login, type Reply } from '../helpers/http.js';
import { SoftAuthenticator } from '../helpers/soft-authenticator.js';
import { totpCode } from '../helpers/totp.js';
import { useGateway } from '../helpers/lifecycle.js';

/**
 * Session fixation across the MFA step (OWASP Session Management Cheat Sheet, "Renew the Session ID
 * After Any Privilege Level Change"): the attacker gets an id of their choosing — a made-up one, one
 * of their own sessions, or a pending session they opened with the victim's stolen password — into
 * the victim's browser, lets the victim finish the second factor, and rides the result. Or they
 * steal a pending cookie and try to finish it without the code. SPEC §4.2: a cookie presented
 * before login is never promoted; completing MFA issues a new id again.
 */

const origin = 'http://localhost:8080';
const idShape = /^[A-Za-z0-9_-]{43}$/;

const secrets = new Map<string, string>();
const recoveryCodes = new Map<string, string[]>();

const env = useGateway({ users: ['alice', 'bob', 'carol', 'dave', 'erin', 'mallory'].map((name) => ({ name })) });
beforeAll(async () => {
  for (const name of ['alice', 'bob', 'erin', 'mallory']) await enrol(name);
  env.gw.clock.advance(60_000);
});

async function enrol(name: string): Promise<string> {
  const cookie = await login(env.gw.url, name);
  const secret = (await call(env.gw.url, '/auth/mfa/totp/setup', { method: 'POST', session: cookie, body: {} })).json().secret as string;
  const confirm = await call(env.gw.url, '/auth/mfa/totp/confirm', { method: 'POST', session: cookie, body: { code: totpCode(secret, env.gw.clock.now(), -1) } });
  expect(confirm.status).toBe(200);
  secrets.set(name, secret);
  recoveryCodes.set(name, confirm.json().recoveryCodes);
  return confirm.cookie!;
}

/** A value shaped exactly like a real session id (32 random bytes, base64url). */
const plantedId = (): string => randomBytes(32).toString('base64url');

function passwordLogin(name: string, cookie?: string): Promise<Reply> {
  return call(env.gw.url, '/auth/login', { method: 'POST', ...(cookie === undefined ? {} : { session: cookie }), body: { username: name, password: PASSWORD } });
}

function verify(cookie: string, body: { code: string } | { recoveryCode: string }): Promise<Reply> {
  return call(env.gw.url, '/auth/mfa/verify', { method: 'POST', session: cookie, body });
}

/** The next unused code: each call moves the clock one step, so no code is ever a replay. */
function freshCode(name: string): string {
  env.gw.clock.advance(30_000);
  return totpCode(secrets.get(name)!, env.gw.clock.now());
}

async function dead(cookie: string): Promise<boolean> {
  const reply = await call(env.gw.url, '/auth/session', { session: cookie });
  const row = await env.gw.gateway.services.store.sessions.get(sha256Hex(cookie));
  return reply.status === 401 && row === null;
}

async function whoIs(cookie: string): Promise<{ status: number; user?: string; pending?: boolean }> {
  const reply = await call(env.gw.url, '/auth/session', { session: cookie });
  if (reply.status !== 200) return { status: reply.status };
  const row = await env.gw.gateway.services.store.sessions.get(sha256Hex(cookie));
  return { status: 200, user: reply.json().user.name, pending: row?.mfaPending };
}

/** Sessions of a user in the store that have completed a second factor. */
async function completedSessions(name: string): Promise<number> {
  return (await env.gw.gateway.services.store.sessions.list({ userName: name })).filter((s) => s.mfaCompleted).length;
}

function expectNewId(reply: Reply, ...earlier: string[]): string {
  expect(reply.cookie).toMatch(idShape);
  for (const id of earlier) expect(reply.cookie).not.toBe(id);
  const set = reply.setCookie.find((c) => c.startsWith('gatehouse='))!;
  expect(set).toMatch(/; Path=\/; HttpOnly; SameSite=Strict$/);
  return reply.cookie!;
}

describe('session fixation across the MFA step', () => {
  it('the id changes at the password step and again at verify; the earlier ids are dead', async () => {
    const planted = plantedId();
    const step1 = await passwordLogin('alice', planted);
    expect(step1.json().mfaRequired).toBe(true);
    const pending = expectNewId(step1, planted);

    const step2 = await verify(pending, { code: freshCode('alice') });
    expect(step2.status).toBe(200);
    const full = expectNewId(step2, planted, pending);

    expect(await dead(planted)).toBe(true);
    expect(await dead(pending)).toBe(true);
    expect(await whoIs(full)).toEqual({ status: 200, user: 'alice', pending: false });
    expect((await call(env.gw.url, '/api/x', { session: pending })).status).toBe(401);
    expect((await call(env.gw.url, '/api/x', { session: full })).status).toBe(200);
  });

  it('a recovery code completes the step under a new id too', async () => {
    const pending = (await passwordLogin('alice')).cookie!;
    const done = await verify(pending, { recoveryCode: recoveryCodes.get('alice')![0]! });
    expect(done.status).toBe(200);
    expectNewId(done, pending);
    expect(await dead(pending)).toBe(true);
  });

  it("an attacker's own session planted in the victim's browser is ended at the victim's login, not promoted", async () => {
    // mallory's full session (both factors done) and mallory's own pending session.
    const mallorysFull = (await verify((await passwordLogin('mallory')).cookie!, { code: freshCode('mallory') })).cookie!;
    const mallorysPending = (await passwordLogin('mallory')).cookie!;
    for (const planted of [mallorysFull, mallorysPending]) {
      expect((await whoIs(planted)).user).toBe('mallory');
      const victim = await passwordLogin('alice', planted);
      const pending = expectNewId(victim, planted);
      expect(await dead(planted)).toBe(true);
      const full = expectNewId(await verify(pending, { code: freshCode('alice') }), planted, pending);
      expect(await whoIs(full)).toEqual({ status: 200, user: 'alice', pending: false });
      expect(await dead(planted)).toBe(true);
    }
  });

  it("a pending session opened with the victim's stolen password and planted in the victim's browser is dead once the victim completes it", async () => {
    // The attacker has alice's password, not her phone: they open a pending session and plant its id.
    const planted = (await passwordLogin('alice')).cookie!;
    // The victim's browser shows the code prompt for that session; she types her code.
    const victims = await verify(planted, { code: freshCode('alice') });
    expect(victims.status).toBe(200);
    const full = expectNewId(victims, planted);
    // Her full session lives under an id the attacker never saw; the id they kept is worthless.
    expect((await whoIs(full)).user).toBe('alice');
    expect(await dead(planted)).toBe(true);
    const seen = env.upstream.seen.length;
    expect((await call(env.gw.url, '/api/x', { session: planted })).status).toBe(401);
    expect(env.upstream.seen.length).toBe(seen);
  });

  it("a stolen pending cookie cannot be upgraded without the code: not with another user's code, an enrolment of the thief's own, or the thief's passkey", async () => {
    const stolen = (await passwordLogin('bob')).cookie!;
    const completedBefore = await completedSessions('bob');

    // Codes that are right for someone else: mallory's TOTP and recovery code.
    for (const body of [{ code: freshCode('mallory') }, { recoveryCode: recoveryCodes.get('mallory')![1]! }]) {
      const reply = await verify(stolen, body);
      expect([reply.status, reply.json().error.code]).toEqual([400, 'invalid_code']);
      expect(reply.cookie).toBeUndefined();
    }
    // Enrolling a factor of the thief's own, or changing the password: all refused while pending.
    for (const [method, path] of [['POST', '/auth/mfa/totp/setup'], ['POST', '/auth/mfa/totp/confirm'], ['POST', '/auth/passkeys/register/options'], ['POST', '/auth/passkeys/register/verify'], ['POST', '/auth/password'], ['DELETE', '/auth/mfa/totp']] as const) {
      const reply = await call(env.gw.url, path, { method, session: stolen, body: { code: '123456', password: PASSWORD, currentPassword: PASSWORD, newPassword: 'a brand new passphrase' } });
      expect([reply.status, reply.json().error.code], path).toEqual([401, 'mfa_required']);
    }
    expect(await whoIs(stolen)).toEqual({ status: 200, user: 'bob', pending: true });

    // The thief's own passkey, presented with the stolen cookie: a session for the thief (dave), never for bob.
    const davesPassword = await login(env.gw.url, 'dave');
    const thief = new SoftAuthenticator({ origin });
    const options = (await call(env.gw.url, '/auth/passkeys/register/options', { method: 'POST', session: davesPassword, body: {} })).json();
    expect((await call(env.gw.url, '/auth/passkeys/register/verify', { method: 'POST', session: davesPassword, body: { response: thief.register(options) } })).status).toBe(200);
    const loginOptions = (await call(env.gw.url, '/auth/passkeys/login/options', { method: 'POST', body: { username: 'bob' } })).json();
    const asBob = await call(env.gw.url, '/auth/passkeys/login/verify', { method: 'POST', session: stolen, body: { response: thief.authenticate(loginOptions) } });
    expect([asBob.status, asBob.json().error.code]).toEqual([401, 'invalid_credentials']);
    const unbound = (await call(env.gw.url, '/auth/passkeys/login/options', { method: 'POST', body: {} })).json();
    const asDave = await call(env.gw.url, '/auth/passkeys/login/verify', { method: 'POST', session: stolen, body: { response: thief.authenticate(unbound) } });
    expect(asDave.status).toBe(200);
    const davesSession = expectNewId(asDave, stolen);
    expect((await whoIs(davesSession)).user).toBe('dave');
    // Presenting the stolen cookie there ended it (a session presented at login is never kept).
    expect(await dead(stolen)).toBe(true);
    expect(await completedSessions('bob')).toBe(completedBefore);
  });

  it('wrong guesses on a stolen pending cookie end it at the fifth; the victim logs in again under a new id', async () => {
    const stolen = (await passwordLogin('erin')).cookie!;
    const valid = new Set([-1, 0, 1].map((steps) => totpCode(secrets.get('erin')!, env.gw.clock.now(), steps)));
    const guesses = ['000000', '111111', '222222', '333333', '444444', '555555', '666666'].filter((g) => !valid.has(g)).slice(0, 5);
    const statuses: number[] = [];
    for (const code of guesses) statuses.push((await verify(stolen, { code })).status);
    expect(statuses).toEqual([400, 400, 400, 400, 401]);
    expect(await dead(stolen)).toBe(true);
    env.gw.clock.advance(2000);
    const again = await passwordLogin('erin');
    const pending = expectNewId(again, stolen);
    expect((await verify(pending, { code: freshCode('erin') })).status).toBe(200);
  });

  it('confirming a TOTP enrolment from a password session moves it to a new id', async () => {
    const before = await login(env.gw.url, 'carol');
    const secret = (await call(env.gw.url, '/auth/mfa/totp/setup', { method: 'POST', session: before, body: {} })).json().secret as string;
    const confirmed = await call(env.gw.url, '/auth/mfa/totp/confirm', { method: 'POST', session: before, body: { code: totpCode(secret, env.gw.clock.now()) } });
    expect(confirmed.status).toBe(200);
    const after = expectNewId(confirmed, before);
    expect(await dead(before)).toBe(true);
    expect((await whoIs(after)).user).toBe('carol');
  });
});

describe('session fixation across the MFA step (enrolment under mfa.required)', () => {
  let strict: TestGateway;

  beforeAll(async () => {
    strict = await startGateway({ upstreamUrl: env.upstream.url, users: ['judy', 'kim'].map((name) => ({ name })), config: { mfa: { required: true } } });
  });
  afterAll(async () => {
    await strict.close();
  });

  async function enrolmentLogin(name: string, planted: string): Promise<string> {
    const reply = await call(strict.url, '/auth/login', { method: 'POST', session: planted, body: { username: name, password: PASSWORD } });
    expect(reply.json().mfaRequired).toBe(true);
    return expectNewId(reply, planted);
  }

  async function deadAt(cookie: string): Promise<boolean> {
    return (await call(strict.url, '/auth/session', { session: cookie })).status === 401 && (await strict.gateway.services.store.sessions.get(sha256Hex(cookie))) === null;
  }

  it('TOTP confirmation issues a new id; the planted and the enrolment ids are dead', async () => {
    const planted = plantedId();
    const pending = await enrolmentLogin('judy', planted);
    const secret = (await call(strict.url, '/auth/mfa/totp/setup', { method: 'POST', session: pending, body: {} })).json().secret as string;
    const confirmed = await call(strict.url, '/auth/mfa/totp/confirm', { method: 'POST', session: pending, body: { code: totpCode(secret, strict.clock.now()) } });
    expect(confirmed.status).toBe(200);
    const full = expectNewId(confirmed, planted, pending);
    expect(await deadAt(pending)).toBe(true);
    expect(await deadAt(planted)).toBe(true);
    expect((await call(strict.url, '/api/x', { session: full })).status).toBe(200);
    expect((await call(strict.url, '/api/x', { session: pending })).status).toBe(401);
  });

  it('passkey registration during enrolment issues a new id; the planted and the enrolment ids are dead', async () => {
    const planted = plantedId();
    const pending = await enrolmentLogin('kim', planted);
    const options = (await call(strict.url, '/auth/passkeys/register/options', { method: 'POST', session: pending, body: {} })).json();
    const registered = await call(strict.url, '/auth/passkeys/register/verify', { method: 'POST', session: pending, body: { response: new SoftAuthenticator({ origin }).register(options) } });
    expect(registered.status).toBe(200);
    const full = expectNewId(registered, planted, pending);
    expect(await deadAt(pending)).toBe(true);
    expect(await deadAt(planted)).toBe(true);
    expect((await call(strict.url, '/api/x', { session: full })).status).toBe(200);
    expect((await call(strict.url, '/api/x', { session: pending })).status).toBe(401);
  });
});
