import { describe, expect, it } from 'vitest';
import { PASSWORD, startGateway } from '../helpers/gateway.js';
import { call, login, type Reply } from '../helpers/http.js';
import { SoftAuthenticator } from '../helpers/soft-authenticator.js';
import { totpCode } from '../helpers/totp.js';
import { useGateway } from '../helpers/lifecycle.js';

const routes = [
  { path: '/api/secure/**', methods: ['GET'], upstream: 'api', mfa: true },
  { path: '/api/**', methods: ['GET', 'POST'], upstream: 'api', stripPrefix: '/api' },
];

const env = useGateway({
  users: [
    ...['alice', 'alice2', 'bob', 'bob2', 'carol', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'kim', 'lena', 'mona', 'nils', 'otto', 'pia'].map((name) => ({ name })),
    { name: 'rita', requireReset: true },
  ],
  config: { routes },
});

/** Enrols TOTP for a user through the API; returns the secret, recovery codes and the session after. */
async function enrol(name: string): Promise<{ secret: string; recoveryCodes: string[]; cookie: string }> {
  const cookie = await login(env.gw.url, name);
  const setup = await call(env.gw.url, '/auth/mfa/totp/setup', { method: 'POST', session: cookie, body: {} });
  expect(setup.status).toBe(200);
  const { secret } = setup.json();
  // The code of the step before: the current step's code is left for the login that follows.
  const confirm = await call(env.gw.url, '/auth/mfa/totp/confirm', { method: 'POST', session: cookie, body: { code: totpCode(secret, env.gw.clock.now(), -1) } });
  expect(confirm.status).toBe(200);
  return { secret, recoveryCodes: confirm.json().recoveryCodes, cookie: confirm.cookie! };
}

async function passwordStep(name: string): Promise<string> {
  const reply = await call(env.gw.url, '/auth/login', { method: 'POST', body: { username: name, password: PASSWORD } });
  expect(reply.status).toBe(200);
  expect(reply.json().mfaRequired).toBe(true);
  return reply.cookie!;
}

describe('TOTP enrolment', () => {
  it('returns the secret, the otpauth URL and a QR code; confirm returns ten recovery codes once', async () => {
    const cookie = await login(env.gw.url, 'alice');
    const setup = await call(env.gw.url, '/auth/mfa/totp/setup', { method: 'POST', session: cookie, body: {} });
    expect(setup.status).toBe(200);
    const body = setup.json();
    expect(body.secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(body.otpauthUrl).toMatch(/^otpauth:\/\/totp\/.*alice.*secret=/);
    expect(body.otpauthUrl).toContain('issuer=Gatehouse');
    expect(body.qrSvg).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
    expect(body.qrSvg).not.toMatch(/<script/i);

    const wrong = await call(env.gw.url, '/auth/mfa/totp/confirm', { method: 'POST', session: cookie, body: { code: '000000' } });
    expect(wrong.status).toBe(400);
    expect(wrong.json().error.code).toBe('invalid_code');

    const confirm = await call(env.gw.url, '/auth/mfa/totp/confirm', { method: 'POST', session: cookie, body: { code: totpCode(body.secret, env.gw.clock.now()) } });
    expect(confirm.status).toBe(200);
    const codes = confirm.json().recoveryCodes as string[];
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    expect(confirm.cookie).toBeTruthy();
    expect(confirm.cookie).not.toBe(cookie);
    expect((await call(env.gw.url, '/auth/session', { session: cookie })).status).toBe(401);

    const again = await call(env.gw.url, '/auth/mfa/totp/setup', { method: 'POST', session: confirm.cookie!, body: {} });
    expect(again.status).toBe(409);
    expect(again.json().error.code).toBe('mfa_already_enabled');
    expect((await env.gw.gateway.services.accounts.get('alice'))?.mfaEnabled).toBe(true);
  });
});

describe('logging in with a second factor', () => {
  it('a pending session reaches only verify, session and logout; verify issues a new id', async () => {
    const { secret } = await enrol('bob');
    env.gw.clock.advance(60_000);
    const pending = await passwordStep('bob');
    for (const [method, path] of [['GET', '/api/x'], ['GET', '/auth/sessions'], ['POST', '/auth/password'], ['POST', '/auth/mfa/totp/setup'], ['GET', '/auth/passkeys'], ['POST', '/auth/sessions/revoke-others'], ['POST', '/auth/passkeys/register/options']] as const) {
      const reply = await call(env.gw.url, path, { method, session: pending, body: method === 'POST' ? {} : undefined });
      expect(reply.status, path).toBe(401);
      expect(reply.json().error.code, path).toBe('mfa_required');
    }
    expect((await call(env.gw.url, '/auth/session', { session: pending })).status).toBe(200);
    expect(env.upstream.seen.filter((s) => s.url === '/x')).toHaveLength(0);

    const verified = await call(env.gw.url, '/auth/mfa/verify', { method: 'POST', session: pending, body: { code: totpCode(secret, env.gw.clock.now()) } });
    expect(verified.status).toBe(200);
    expect(verified.json()).toEqual({ user: { name: 'bob', roles: ['user'] } });
    expect(verified.cookie).not.toBe(pending);
    expect((await call(env.gw.url, '/api/x', { session: verified.cookie! })).status).toBe(200);
    expect((await call(env.gw.url, '/auth/session', { session: pending })).status).toBe(401);
  });

  it('accepts a code once: a replay in another session is refused', async () => {
    const { secret } = await enrol('carol');
    env.gw.clock.advance(90_000);
    const code = totpCode(secret, env.gw.clock.now());
    const first = await passwordStep('carol');
    expect((await call(env.gw.url, '/auth/mfa/verify', { method: 'POST', session: first, body: { code } })).status).toBe(200);
    const second = await passwordStep('carol');
    const replay = await call(env.gw.url, '/auth/mfa/verify', { method: 'POST', session: second, body: { code } });
    expect(replay.status).toBe(400);
    expect(replay.json().error.code).toBe('invalid_code');
  });

  it('accepts one step of clock drift either way, no more', async () => {
    const { secret } = await enrol('erin');
    env.gw.clock.advance(300_000);
    const now = env.gw.clock.now();
    for (const steps of [-2, 2]) {
      const pending = await passwordStep('erin');
      expect((await call(env.gw.url, '/auth/mfa/verify', { method: 'POST', session: pending, body: { code: totpCode(secret, now, steps) } })).status, `${steps}`).toBe(400);
    }
    const early = await passwordStep('erin');
    expect((await call(env.gw.url, '/auth/mfa/verify', { method: 'POST', session: early, body: { code: totpCode(secret, now, -1) } })).status).toBe(200);
    const late = await passwordStep('erin');
    expect((await call(env.gw.url, '/auth/mfa/verify', { method: 'POST', session: late, body: { code: totpCode(secret, now, 1) } })).status).toBe(200);
  });

  it('the fifth wrong code ends the pending session', async () => {
    const pending = await passwordStep('bob');
    for (let i = 0; i < 4; i += 1) {
      const reply = await call(env.gw.url, '/auth/mfa/verify', { method: 'POST', session: pending, body: { code: `00000${i}` } });
      expect(reply.status).toBe(400);
    }
    const fifth = await call(env.gw.url, '/auth/mfa/verify', { method: 'POST', session: pending, body: { code: '000009' } });
    expect(fifth.status).toBe(401);
    expect(fifth.json().error.code).toBe('unauthenticated');
    expect(fifth.cookie).toBeNull();
    expect((await call(env.gw.url, '/auth/session', { session: pending })).status).toBe(401);
    env.gw.clock.advance(16 * 60_000);
  });

  it('a session that owes both a second factor and a password change completes the factor first, then the password', async () => {
    const { secret } = await enrol('lena');
    await env.gw.gateway.services.accounts.requireReset('lena', { user: 'test' });
    env.gw.clock.advance(30_000);
    const reply = await call(env.gw.url, '/auth/login', { method: 'POST', body: { username: 'lena', password: PASSWORD } });
    expect(reply.json()).toMatchObject({ mfaRequired: true, passwordResetRequired: true });
    const early = await call(env.gw.url, '/auth/password', { method: 'POST', session: reply.cookie!, body: { currentPassword: PASSWORD, newPassword: 'lena chose a new one' } });
    expect(early.json().error.code).toBe('mfa_required');
    const verified = await call(env.gw.url, '/auth/mfa/verify', { method: 'POST', session: reply.cookie!, body: { code: totpCode(secret, env.gw.clock.now()) } });
    expect(verified.status).toBe(200);
    const api = await call(env.gw.url, '/api/x', { session: verified.cookie! });
    expect(api.json().error.code).toBe('password_reset_required');
    const changed = await call(env.gw.url, '/auth/password', { method: 'POST', session: verified.cookie!, body: { currentPassword: PASSWORD, newPassword: 'lena chose a new one' } });
    expect(changed.status).toBe(204);
    expect((await call(env.gw.url, '/api/x', { session: changed.cookie! })).status).toBe(200);
  });

  it('a recovery code works once', async () => {
    const { recoveryCodes } = await enrol('alice2');
    const [code] = recoveryCodes;
    const first = await passwordStep('alice2');
    const ok = await call(env.gw.url, '/auth/mfa/verify', { method: 'POST', session: first, body: { recoveryCode: code } });
    expect(ok.status).toBe(200);
    const second = await passwordStep('alice2');
    const reused = await call(env.gw.url, '/auth/mfa/verify', { method: 'POST', session: second, body: { recoveryCode: code } });
    expect(reused.status).toBe(400);
    expect(reused.json().error.code).toBe('invalid_code');
  });
});

describe('step-up and removal', () => {
  it('a route with mfa: true answers 403 mfa_required to a session without a second factor', async () => {
    const plain = await login(env.gw.url, 'frank');
    const refused = await call(env.gw.url, '/api/secure/x', { session: plain });
    expect(refused.status).toBe(403);
    expect(refused.json().error.code).toBe('mfa_required');
    expect((await call(env.gw.url, '/api/other', { session: plain })).status).toBe(200);
    const { cookie } = await enrol('frank');
    expect((await call(env.gw.url, '/api/secure/x', { session: cookie })).status).toBe(200);
  });

  it('a session without a completed factor cannot add a factor to an account that has one', async () => {
    const services = env.gw.gateway.services;
    await services.store.mfa.addPasskey({ id: 'planted-check', userName: 'kim', name: 'Key', publicKey: Buffer.from([1]), counter: 0, transports: [], createdAt: env.gw.clock.now(), lastUsedAt: null }, 10);
    await services.store.users.update('kim', { mfaEnabled: true });
    const passwordOnly = await login(env.gw.url, 'kim');
    for (const path of ['/auth/passkeys/register/options', '/auth/mfa/totp/setup']) {
      const reply = await call(env.gw.url, path, { method: 'POST', session: passwordOnly, body: {} });
      expect(reply.status, path).toBe(403);
      expect(reply.json().error.code).toBe('mfa_required');
    }
    await services.store.mfa.removeAll('kim');
    await services.store.users.update('kim', { mfaEnabled: false });
  });

  it('DELETE /auth/mfa/totp needs the password; afterwards a login needs no code', async () => {
    const { cookie } = await enrol('grace');
    const wrong = await call(env.gw.url, '/auth/mfa/totp', { method: 'DELETE', session: cookie, body: { password: 'not the password' } });
    expect(wrong.status).toBe(401);
    expect(wrong.json().error.code).toBe('invalid_credentials');
    expect((await call(env.gw.url, '/auth/mfa/totp', { method: 'DELETE', session: cookie, body: { password: PASSWORD } })).status).toBe(204);
    const reply = await call(env.gw.url, '/auth/login', { method: 'POST', body: { username: 'grace', password: PASSWORD } });
    expect(reply.json().mfaRequired).toBe(false);
  });

  it('mfa-reset removes the factors and revokes the sessions', async () => {
    const { cookie } = await enrol('heidi');
    await env.gw.gateway.services.totp.resetAll('heidi', { user: 'cli' });
    await env.gw.gateway.services.sessions.revokeUser('heidi', { user: 'cli' }, 'mfa_reset');
    expect((await call(env.gw.url, '/auth/session', { session: cookie })).status).toBe(401);
    const reply = await call(env.gw.url, '/auth/login', { method: 'POST', body: { username: 'heidi', password: PASSWORD } });
    expect(reply.json().mfaRequired).toBe(false);
    expect((await env.gw.gateway.services.accounts.get('heidi'))?.mfaEnabled).toBe(false);
  });
});

describe("a user's own sessions", () => {
  it('lists them with the current one marked, ends one, ends all others', async () => {
    const a = await login(env.gw.url, 'ivan');
    const b = await login(env.gw.url, 'ivan');
    const c = await login(env.gw.url, 'ivan');
    const listed = await call(env.gw.url, '/auth/sessions', { session: a });
    expect(listed.status).toBe(200);
    const sessions = listed.json().sessions as { id: string; current: boolean; ip: string; createdAt: string; lastSeenAt: string; userAgent: string }[];
    expect(sessions).toHaveLength(3);
    expect(sessions.filter((s) => s.current)).toHaveLength(1);
    expect(sessions[0]).toMatchObject({ ip: '127.0.0.1' });
    expect(JSON.stringify(sessions)).not.toContain(a);

    const other = sessions.find((s) => !s.current)!;
    expect((await call(env.gw.url, `/auth/sessions/${other.id}`, { method: 'DELETE', session: a })).status).toBe(204);
    expect((await call(env.gw.url, `/auth/sessions/${other.id}`, { method: 'DELETE', session: a })).status).toBe(404);
    expect((await call(env.gw.url, '/auth/sessions/not-a-session', { method: 'DELETE', session: a })).status).toBe(404);

    const bobs = await login(env.gw.url, 'bob2');
    const bobSessions = (await call(env.gw.url, '/auth/sessions', { session: bobs })).json().sessions as { id: string }[];
    expect((await call(env.gw.url, `/auth/sessions/${bobSessions[0]!.id}`, { method: 'DELETE', session: a })).status).toBe(404);
    expect((await call(env.gw.url, '/auth/session', { session: bobs })).status).toBe(200);

    expect((await call(env.gw.url, '/auth/sessions/revoke-others', { method: 'POST', session: a, body: {} })).status).toBe(204);
    const alive = [a, b, c].map(async (cookie) => (await call(env.gw.url, '/auth/session', { session: cookie })).status);
    expect(await Promise.all(alive)).toEqual([200, 401, 401]);
  });
});

describe('mfa.required', () => {
  it('makes a password login without a factor enrol one before anything else', async () => {
    const strict = await startGateway({ upstreamUrl: env.upstream.url, users: [{ name: 'judy' }], config: { mfa: { required: true } } });
    try {
      const reply = await call(strict.url, '/auth/login', { method: 'POST', body: { username: 'judy', password: PASSWORD } });
      expect(reply.json()).toMatchObject({ mfaRequired: true });
      const pending = reply.cookie!;
      const api = await call(strict.url, '/api/x', { session: pending });
      expect(api.status).toBe(401);
      expect(api.json().error.code).toBe('mfa_required');
      expect((await call(strict.url, '/auth/mfa/verify', { method: 'POST', session: pending, body: { code: '123456' } })).json().error.code).toBe('mfa_required');
      const setup = await call(strict.url, '/auth/mfa/totp/setup', { method: 'POST', session: pending, body: {} });
      expect(setup.status).toBe(200);
      const confirm = await call(strict.url, '/auth/mfa/totp/confirm', { method: 'POST', session: pending, body: { code: totpCode(setup.json().secret, strict.clock.now()) } });
      expect(confirm.status).toBe(200);
      expect((await call(strict.url, '/api/x', { session: confirm.cookie! })).status).toBe(200);
      expect((await call(strict.url, '/api/x', { session: pending })).status).toBe(401);
    } finally {
      await strict.close();
    }
  });
});

describe('GET /auth/mfa', () => {
  /** GET /auth/mfa without X-CSRF, as a browser's plain GET would send it; asserts the SPEC §4 headers. */
  async function factors(session: string | undefined): Promise<Reply> {
    const reply = await call(env.gw.url, '/auth/mfa', { csrf: false, ...(session === undefined ? {} : { session }) });
    expect(reply.headers['cache-control']).toBe('no-store');
    expect(reply.headers['x-request-id']).toBeTruthy();
    return reply;
  }

  async function expectFactors(session: string, expected: { totp: boolean; passkeys: number; recoveryCodesLeft: number }, what: string): Promise<void> {
    const reply = await factors(session);
    expect(reply.status, what).toBe(200);
    expect(reply.json(), what).toEqual(expected);
  }

  /** A passkey registered by a session allowed to add one; the soft authenticator is the browser's. */
  async function addPasskey(session: string): Promise<void> {
    const options = await call(env.gw.url, '/auth/passkeys/register/options', { method: 'POST', session, body: {} });
    expect(options.status).toBe(200);
    const response = new SoftAuthenticator({ origin: 'http://localhost:8080' }).register(options.json());
    expect((await call(env.gw.url, '/auth/passkeys/register/verify', { method: 'POST', session, body: { response } })).status).toBe(200);
  }

  it('follows a user through every state: none, TOTP pending, TOTP on, recovery codes used, passkeys, TOTP off', async () => {
    const first = await login(env.gw.url, 'mona');
    await expectFactors(first, { totp: false, passkeys: 0, recoveryCodesLeft: 0 }, 'none');

    const setup = await call(env.gw.url, '/auth/mfa/totp/setup', { method: 'POST', session: first, body: {} });
    expect(setup.status).toBe(200);
    // A setup that is not confirmed protects nothing: TOTP is not on.
    await expectFactors(first, { totp: false, passkeys: 0, recoveryCodesLeft: 0 }, 'TOTP pending');

    const confirm = await call(env.gw.url, '/auth/mfa/totp/confirm', { method: 'POST', session: first, body: { code: totpCode(setup.json().secret, env.gw.clock.now(), -1) } });
    expect(confirm.status).toBe(200);
    const recoveryCodes = confirm.json().recoveryCodes as string[];
    await expectFactors(confirm.cookie!, { totp: true, passkeys: 0, recoveryCodesLeft: 10 }, 'TOTP on');

    for (const code of recoveryCodes.slice(0, 2)) {
      const verified = await call(env.gw.url, '/auth/mfa/verify', { method: 'POST', session: await passwordStep('mona'), body: { recoveryCode: code } });
      expect(verified.status).toBe(200);
    }
    const pending = await passwordStep('mona');
    const verified = await call(env.gw.url, '/auth/mfa/verify', { method: 'POST', session: pending, body: { recoveryCode: recoveryCodes[2] } });
    const full = verified.cookie!;
    await expectFactors(full, { totp: true, passkeys: 0, recoveryCodesLeft: 7 }, 'three recovery codes used');

    await addPasskey(full);
    await addPasskey(full);
    await expectFactors(full, { totp: true, passkeys: 2, recoveryCodesLeft: 7 }, 'two passkeys');

    expect((await call(env.gw.url, '/auth/mfa/totp', { method: 'DELETE', session: full, body: { password: PASSWORD } })).status).toBe(204);
    await expectFactors(full, { totp: false, passkeys: 2, recoveryCodesLeft: 0 }, 'TOTP off, passkeys kept');
  });

  it('a user whose only factor is a passkey: no TOTP, one passkey, no recovery codes', async () => {
    const session = await login(env.gw.url, 'nils');
    await addPasskey(session);
    await expectFactors(session, { totp: false, passkeys: 1, recoveryCodesLeft: 0 }, 'passkey only');
  });

  it('answers HEAD like GET, without a body', async () => {
    const session = await login(env.gw.url, 'otto');
    const reply = await call(env.gw.url, '/auth/mfa', { method: 'HEAD', session, csrf: false });
    expect([reply.status, reply.text]).toEqual([200, '']);
  });

  it('401 without a session, with an ended one, and for a pending one (SPEC §4.5: it may call only verify, session, logout)', async () => {
    const none = await factors(undefined);
    expect([none.status, none.json().error.code]).toEqual([401, 'unauthenticated']);

    const ended = await login(env.gw.url, 'otto');
    await call(env.gw.url, '/auth/logout', { method: 'POST', session: ended });
    const afterLogout = await factors(ended);
    expect([afterLogout.status, afterLogout.json().error.code]).toEqual([401, 'unauthenticated']);

    await enrol('pia');
    env.gw.clock.advance(30_000);
    const pending = await passwordStep('pia');
    const half = await factors(pending);
    expect([half.status, half.json().error.code]).toEqual([401, 'mfa_required']);
  });

  it('403 password_reset_required for a session that must change its password first (SPEC §4.1), 200 once it has', async () => {
    const restricted = await login(env.gw.url, 'rita');
    const refused = await factors(restricted);
    expect([refused.status, refused.json().error.code]).toEqual([403, 'password_reset_required']);
    const changed = await call(env.gw.url, '/auth/password', { method: 'POST', session: restricted, body: { currentPassword: PASSWORD, newPassword: 'rita chose a new one' } });
    expect(changed.status).toBe(204);
    await expectFactors(changed.cookie!, { totp: false, passkeys: 0, recoveryCodesLeft: 0 }, 'after the change');
  });
});
