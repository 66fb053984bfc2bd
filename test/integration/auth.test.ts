import { beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD } from '../helpers/gateway.js';
import { call, login } from '../helpers/http.js';
import { useGateway } from '../helpers/lifecycle.js';

const env = useGateway({
  users: [
    { name: 'alice', roles: ['user'] },
    { name: 'bob', roles: ['user', 'admin'] },
    { name: 'carol', roles: ['user'], requireReset: true },
    { name: 'dave', roles: ['user'] },
  ],
});
beforeAll(async () => {
  await env.gw.gateway.services.accounts.lock('dave', { user: 'test' });
});

describe('POST /auth/login', () => {
  it('logs in, answers the SPEC body and sets an HttpOnly, SameSite=Strict, host-only cookie', async () => {
    const reply = await call(env.gw.url, '/auth/login', { method: 'POST', body: { username: 'alice', password: PASSWORD } });
    expect(reply.status).toBe(200);
    expect(reply.json()).toEqual({ user: { name: 'alice', roles: ['user'] }, mfaRequired: false, passwordResetRequired: false });
    const cookie = reply.setCookie.find((c) => c.startsWith('gatehouse='))!;
    expect(cookie).toMatch(/^gatehouse=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict$/);
    expect(reply.headers['cache-control']).toBe('no-store');
    expect(reply.headers['x-content-type-options']).toBe('nosniff');
    expect(reply.headers['referrer-policy']).toBe('no-referrer');
    expect(reply.headers['x-request-id']).toMatch(/^[A-Za-z0-9_-]{16}$/);
  });

  it('answers the same body for an unknown user, a wrong password and a locked user', async () => {
    const bodies = await Promise.all([
      call(env.gw.url, '/auth/login', { method: 'POST', body: { username: 'nobody', password: PASSWORD } }),
      call(env.gw.url, '/auth/login', { method: 'POST', body: { username: 'alice', password: 'wrong password here' } }),
      call(env.gw.url, '/auth/login', { method: 'POST', body: { username: 'dave', password: PASSWORD } }),
    ]);
    for (const reply of bodies) {
      expect(reply.status).toBe(401);
      expect(reply.json()).toEqual({ error: { code: 'invalid_credentials', message: 'The user name or password is wrong.' } });
      expect(reply.cookie).toBeUndefined();
    }
  });

  it('refuses bad input with a clear 4xx, never a 500', async () => {
    const cases: [unknown, Record<string, string>, number, string][] = [
      ['{not json', { 'content-type': 'application/json' }, 400, 'bad_request'],
      [{ username: 'alice' }, {}, 400, 'bad_request'],
      [{ username: 42, password: PASSWORD }, {}, 400, 'bad_request'],
      [[], {}, 400, 'bad_request'],
      ['null', { 'content-type': 'application/json' }, 400, 'bad_request'],
      ['username=alice', { 'content-type': 'application/x-www-form-urlencoded' }, 415, 'unsupported_media_type'],
      [{ username: 'alice', password: 'x'.repeat(70_000) }, {}, 413, 'payload_too_large'],
    ];
    for (const [body, headers, status, code] of cases) {
      const reply = await call(env.gw.url, '/auth/login', { method: 'POST', body, headers });
      expect(reply.status, JSON.stringify(body).slice(0, 40)).toBe(status);
      expect(reply.json().error.code).toBe(code);
    }
  });

  it('needs POST', async () => {
    const reply = await call(env.gw.url, '/auth/login');
    expect(reply.status).toBe(405);
    expect(reply.json().error.code).toBe('method_not_allowed');
    expect(reply.headers.allow).toBe('POST');
  });

  it('writes login audit events without the password', async () => {
    await call(env.gw.url, '/auth/login', { method: 'POST', body: { username: 'alice', password: 'not-the-password-123' } });
    const events = await env.gw.gateway.services.store.audit.recent(20);
    expect(events.some((e) => e.type === 'login_failed' && e.user === 'alice' && e.ip === '127.0.0.1')).toBe(true);
    expect(events.some((e) => e.type === 'login_succeeded')).toBe(true);
    expect(JSON.stringify(events)).not.toContain('not-the-password-123');
    expect(JSON.stringify(events)).not.toContain(PASSWORD);
  });
});

describe('GET /auth/session', () => {
  it('describes the session with ISO times, and 401 without one', async () => {
    const cookie = await login(env.gw.url);
    const reply = await call(env.gw.url, '/auth/session', { session: cookie });
    expect(reply.status).toBe(200);
    const body = reply.json();
    expect(body.user).toEqual({ name: 'alice', roles: ['user'] });
    const now = env.gw.clock.now();
    expect(Date.parse(body.session.createdAt)).toBe(now);
    expect(Date.parse(body.session.expiresAt)).toBe(now + 12 * 3_600_000);
    expect(Date.parse(body.session.idleExpiresAt)).toBe(now + 30 * 60_000);
    expect(body.session.createdAt).toBe(new Date(now).toISOString());

    const anonymous = await call(env.gw.url, '/auth/session');
    expect(anonymous.status).toBe(401);
    expect(anonymous.json().error.code).toBe('unauthenticated');
  });

  it('does not count as activity: the idle timeout runs on', async () => {
    const cookie = await login(env.gw.url);
    env.gw.clock.advance(20 * 60_000);
    expect((await call(env.gw.url, '/auth/session', { session: cookie })).status).toBe(200);
    env.gw.clock.advance(11 * 60_000);
    const reply = await call(env.gw.url, '/auth/session', { session: cookie });
    expect(reply.status).toBe(401);
    expect(reply.cookie).toBeNull();
  });
});

describe('session lifetime', () => {
  it('restarts the idle timeout on activity and ends it after 30 idle minutes', async () => {
    const cookie = await login(env.gw.url);
    env.gw.clock.advance(29 * 60_000);
    expect((await call(env.gw.url, '/api/things', { session: cookie })).status).toBe(200);
    env.gw.clock.advance(29 * 60_000);
    expect((await call(env.gw.url, '/api/things', { session: cookie })).status).toBe(200);
    env.gw.clock.advance(30 * 60_000);
    const expired = await call(env.gw.url, '/api/things', { session: cookie });
    expect(expired.status).toBe(401);
    expect(expired.json().error.code).toBe('unauthenticated');
    expect(expired.cookie).toBeNull();
  });

  it('ends the session 12 hours after login whatever the activity', async () => {
    const cookie = await login(env.gw.url);
    for (let minutes = 0; minutes < 12 * 60 - 20; minutes += 20) {
      env.gw.clock.advance(20 * 60_000);
      expect((await call(env.gw.url, '/api/things', { session: cookie })).status).toBe(200);
    }
    env.gw.clock.advance(20 * 60_000);
    expect((await call(env.gw.url, '/api/things', { session: cookie })).status).toBe(401);
  });

  it('refuses a malformed or unknown cookie with 401 and clears it', async () => {
    for (const value of ['garbage', 'A'.repeat(43), '', '%00']) {
      const reply = await call(env.gw.url, '/api/things', { session: value });
      expect(reply.status).toBe(401);
      expect(reply.cookie).toBeNull();
    }
  });
});

describe('POST /auth/logout', () => {
  it('deletes the session server-side and clears the cookie; idempotent', async () => {
    const cookie = await login(env.gw.url);
    const reply = await call(env.gw.url, '/auth/logout', { method: 'POST', session: cookie });
    expect(reply.status).toBe(204);
    expect(reply.cookie).toBeNull();
    expect((await call(env.gw.url, '/api/things', { session: cookie })).status).toBe(401);
    expect((await call(env.gw.url, '/auth/logout', { method: 'POST', session: cookie })).status).toBe(204);
    expect((await call(env.gw.url, '/auth/logout', { method: 'POST' })).status).toBe(204);
  });

  it('needs the CSRF header', async () => {
    const cookie = await login(env.gw.url);
    const reply = await call(env.gw.url, '/auth/logout', { method: 'POST', session: cookie, csrf: false });
    expect(reply.status).toBe(403);
    expect(reply.json().error.code).toBe('csrf_rejected');
    expect((await call(env.gw.url, '/auth/session', { session: cookie })).status).toBe(200);
  });
});

describe('POST /auth/password', () => {
  it('changes the password, revokes every other session and rotates the current one', async () => {
    const first = await login(env.gw.url, 'bob');
    const other = await login(env.gw.url, 'bob');
    const next = 'a brand new long password';
    const reply = await call(env.gw.url, '/auth/password', { method: 'POST', session: first, body: { currentPassword: PASSWORD, newPassword: next } });
    expect(reply.status).toBe(204);
    expect(reply.cookie).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(reply.cookie).not.toBe(first);
    expect((await call(env.gw.url, '/auth/session', { session: first })).status).toBe(401);
    expect((await call(env.gw.url, '/auth/session', { session: other })).status).toBe(401);
    expect((await call(env.gw.url, '/auth/session', { session: reply.cookie! })).status).toBe(200);
    expect((await call(env.gw.url, '/auth/login', { method: 'POST', body: { username: 'bob', password: PASSWORD } })).status).toBe(401);
    await login(env.gw.url, 'bob', next);
    // put it back for other tests
    await env.gw.gateway.services.accounts.setPassword('bob', PASSWORD, { user: 'test' });
  });

  it('answers 400 weak_password and 401 invalid_credentials', async () => {
    const cookie = await login(env.gw.url);
    const weak = await call(env.gw.url, '/auth/password', { method: 'POST', session: cookie, body: { currentPassword: PASSWORD, newPassword: 'short' } });
    expect(weak.status).toBe(400);
    expect(weak.json().error.code).toBe('weak_password');
    const wrong = await call(env.gw.url, '/auth/password', { method: 'POST', session: cookie, body: { currentPassword: 'wrong password 123', newPassword: 'another long password' } });
    expect(wrong.status).toBe(401);
    expect(wrong.json().error.code).toBe('invalid_credentials');
    expect((await call(env.gw.url, '/auth/session', { session: cookie })).status).toBe(200);
  });
});

describe('forced password reset', () => {
  it('limits the session to /auth/session, /auth/password and /auth/logout until the password changes', async () => {
    const reply = await call(env.gw.url, '/auth/login', { method: 'POST', body: { username: 'carol', password: PASSWORD } });
    expect(reply.status).toBe(200);
    expect(reply.json().passwordResetRequired).toBe(true);
    const cookie = reply.cookie!;
    const blocked = await call(env.gw.url, '/api/things', { session: cookie });
    expect(blocked.status).toBe(403);
    expect(blocked.json().error.code).toBe('password_reset_required');
    expect((await call(env.gw.url, '/auth/session', { session: cookie })).status).toBe(200);
    const changed = await call(env.gw.url, '/auth/password', { method: 'POST', session: cookie, body: { currentPassword: PASSWORD, newPassword: 'carol has a new password' } });
    expect(changed.status).toBe(204);
    expect((await call(env.gw.url, '/api/things', { session: changed.cookie! })).status).toBe(200);
    expect((await call(env.gw.url, '/api/things', { session: cookie })).status).toBe(401);
    const again = await call(env.gw.url, '/auth/login', { method: 'POST', body: { username: 'carol', password: 'carol has a new password' } });
    expect(again.json().passwordResetRequired).toBe(false);
  });
});

describe('revocation', () => {
  it('takes effect on the very next request (by handle, by user, all)', async () => {
    const cookie = await login(env.gw.url);
    expect((await call(env.gw.url, '/api/things', { session: cookie })).status).toBe(200);
    const [session] = await env.gw.gateway.services.sessions.list({ userName: 'alice' });
    await env.gw.gateway.services.sessions.revokeByHandle(session!.handle, { user: 'cli' }, 'test');
    expect((await call(env.gw.url, '/api/things', { session: cookie })).status).toBe(401);

    const two = await login(env.gw.url);
    await env.gw.gateway.services.sessions.revokeUser('alice', { user: 'cli' }, 'test');
    expect((await call(env.gw.url, '/api/things', { session: two })).status).toBe(401);

    const three = await login(env.gw.url);
    await env.gw.gateway.services.accounts.lock('alice', { user: 'cli' });
    expect((await call(env.gw.url, '/api/things', { session: three })).status).toBe(401);
    await env.gw.gateway.services.accounts.unlock('alice', { user: 'cli' });
  });
});
