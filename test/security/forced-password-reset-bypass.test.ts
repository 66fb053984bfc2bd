import { beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD } from '../helpers/gateway.js';
import { call, login } from '../helpers/http.js';
import { rawErrorCode, rawExchange, rawHead } from '../helpers/attack.js';
import { useGateway } from '../helpers/lifecycle.js';

/**
 * Bypassing a forced password reset: an administrator requires a reset (the password is believed
 * compromised), and whoever holds the old password logs in and uses the API anyway — by another
 * method, another route, a path that normalises elsewhere, or by logging in again. SPEC §4.1: such
 * a session may call only /auth/session, /auth/password and /auth/logout; everything else is 403
 * password_reset_required, until the password is changed.
 */

let restricted: string;

const env = useGateway({ users: [{ name: 'carol', roles: ['user', 'admin'], requireReset: true }] });
beforeAll(async () => {
  restricted = await login(env.gw.url, 'carol');
});

describe('forced password reset bypass', () => {
  it('every proxied route, method and csrf setting answers 403 password_reset_required', async () => {
    const attempts: [string, string][] = [['GET', '/api/x'], ['HEAD', '/api/x'], ['POST', '/api/x'], ['DELETE', '/api/x/1'], ['GET', '/api/admin/x'], ['POST', '/api/admin/x'], ['GET', '/api/download/report.csv']];
    for (const [method, path] of attempts) {
      const reply = await call(env.gw.url, path, { method, session: restricted, ...(method === 'POST' ? { body: {} } : {}) });
      expect(reply.status, `${method} ${path}`).toBe(403);
      if (method !== 'HEAD') expect(reply.json().error.code).toBe('password_reset_required');
    }
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('paths that start at an allowed /auth endpoint and normalise into the API are still refused', async () => {
    for (const target of ['/auth/password/../../api/x', '/auth/session/%2e%2e/%2e%2e/api/x', '//auth/session/../../api/admin/x']) {
      const reply = await rawExchange(env.gw.gateway.port, rawHead(`GET ${target} HTTP/1.1`, { session: restricted }));
      expect([400, 403], target).toContain(reply.statuses[0]);
      if (reply.statuses[0] === 403) expect(rawErrorCode(reply.text)).toBe('password_reset_required');
    }
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('logging in again does not lift the restriction', async () => {
    const again = await call(env.gw.url, '/auth/login', { method: 'POST', body: { username: 'carol', password: PASSWORD } });
    expect(again.json().passwordResetRequired).toBe(true);
    expect((await call(env.gw.url, '/api/x', { session: again.cookie! })).status).toBe(403);
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('the allowed endpoints work, and only a real password change lifts the restriction, under a new id', async () => {
    expect((await call(env.gw.url, '/auth/session', { session: restricted })).status).toBe(200);
    const unchanged = await call(env.gw.url, '/auth/password', { method: 'POST', session: restricted, body: { currentPassword: 'not the password', newPassword: 'a fresh passphrase here' } });
    expect(unchanged.status).toBe(401);
    expect((await call(env.gw.url, '/api/x', { session: restricted })).status).toBe(403);

    const changed = await call(env.gw.url, '/auth/password', { method: 'POST', session: restricted, body: { currentPassword: PASSWORD, newPassword: 'a fresh passphrase here' } });
    expect(changed.status).toBe(204);
    expect((await call(env.gw.url, '/api/x', { session: restricted })).status).toBe(401);
    expect((await call(env.gw.url, '/api/x', { session: changed.cookie! })).status).toBe(200);
  });
});
