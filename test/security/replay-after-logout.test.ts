import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/security/hash.js';
import { PASSWORD } from '../helpers/gateway.js';
import { call, login } from '../helpers/http.js';
import { useGateway } from '../helpers/lifecycle.js';

/**
 * Replay after logout: the cookie of a logged-out session, captured before the logout, is
 * presented again. Logout deletes the session on the server (SPEC §4.1), so clearing the cookie in
 * the browser is not what protects it.
 */

const env = useGateway();

describe('replay after logout', () => {
  it('the captured cookie is refused everywhere after logout, and nothing reaches the upstream', async () => {
    const cookie = await login(env.gw.url);
    expect((await call(env.gw.url, '/api/data', { session: cookie })).status).toBe(200);
    env.upstream.seen.length = 0;

    const logout = await call(env.gw.url, '/auth/logout', { method: 'POST', session: cookie });
    expect(logout.status).toBe(204);
    expect(logout.cookie).toBeNull();
    expect(await env.gw.gateway.services.store.sessions.get(sha256Hex(cookie))).toBeNull();

    for (const [method, path] of [['GET', '/auth/session'], ['GET', '/api/data'], ['POST', '/api/data'], ['DELETE', '/api/data/1']] as const) {
      const replay = await call(env.gw.url, path, { method, session: cookie, ...(method === 'POST' ? { body: {} } : {}) });
      expect(replay.status, `${method} ${path}`).toBe(401);
      expect(replay.json().error.code).toBe('unauthenticated');
      expect(replay.cookie, `${method} ${path}`).toBeNull();
    }
    const change = await call(env.gw.url, '/auth/password', { method: 'POST', session: cookie, body: { currentPassword: PASSWORD, newPassword: 'attacker chosen password' } });
    expect(change.status).toBe(401);
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('a second logout with the captured cookie is harmless and revives nothing', async () => {
    const cookie = await login(env.gw.url);
    expect((await call(env.gw.url, '/auth/logout', { method: 'POST', session: cookie })).status).toBe(204);
    const again = await call(env.gw.url, '/auth/logout', { method: 'POST', session: cookie });
    expect(again.status).toBe(204);
    expect(again.cookie).toBeNull();
    expect((await call(env.gw.url, '/auth/session', { session: cookie })).status).toBe(401);
  });

  it('logging in again gives a new id; the logged-out one stays dead', async () => {
    const old = await login(env.gw.url);
    await call(env.gw.url, '/auth/logout', { method: 'POST', session: old });
    const fresh = await login(env.gw.url);
    expect(fresh).not.toBe(old);
    expect((await call(env.gw.url, '/auth/session', { session: fresh })).status).toBe(200);
    expect((await call(env.gw.url, '/auth/session', { session: old })).status).toBe(401);
  });
});
