import { describe, expect, it } from 'vitest';
import { PASSWORD } from '../helpers/gateway.js';
import { call, login } from '../helpers/http.js';
import { useGateway } from '../helpers/lifecycle.js';

/**
 * Replay after expiry: a session cookie copied from a browser (a shared computer, a backup, a log)
 * is presented after the session should have ended. Both timeouts are enforced on the server
 * (SPEC §4.2), so the cookie's own lifetime in the browser does not matter.
 */

const minute = 60_000;
const idle = 30 * minute;
const absolute = 12 * 60 * minute;

const env = useGateway();

async function expectDead(cookie: string): Promise<void> {
  const session = await call(env.gw.url, '/auth/session', { session: cookie });
  expect(session.status).toBe(401);
  expect(session.json().error.code).toBe('unauthenticated');
  expect(session.cookie, 'the stale cookie is cleared').toBeNull();
  const proxied = await call(env.gw.url, '/api/data', { session: cookie });
  expect(proxied.status).toBe(401);
  expect(proxied.cookie).toBeNull();
  const write = await call(env.gw.url, '/api/data', { method: 'POST', session: cookie, body: { x: 1 } });
  expect(write.status).toBe(401);
  expect(env.upstream.seen).toHaveLength(0);
}

describe('replay after expiry', () => {
  it('after the idle timeout the cookie is refused, on every kind of endpoint', async () => {
    const cookie = await login(env.gw.url);
    env.gw.clock.advance(idle - 1000);
    expect((await call(env.gw.url, '/api/data', { session: cookie })).status, 'still alive just before').toBe(200);
    env.upstream.seen.length = 0;

    env.gw.clock.advance(idle);
    await expectDead(cookie);
  });

  it('exactly at the idle deadline the session has ended', async () => {
    const cookie = await login(env.gw.url);
    env.gw.clock.advance(idle);
    await expectDead(cookie);
  });

  it('GET /auth/session does not count as activity, so polling it cannot keep a session alive', async () => {
    const cookie = await login(env.gw.url);
    env.gw.clock.advance(20 * minute);
    expect((await call(env.gw.url, '/auth/session', { session: cookie })).status).toBe(200);
    env.gw.clock.advance(11 * minute);
    await expectDead(cookie);
  });

  it('after the absolute timeout the cookie is refused, however active the session was', async () => {
    const cookie = await login(env.gw.url);
    for (let elapsed = 0; elapsed + 25 * minute < absolute; elapsed += 25 * minute) {
      env.gw.clock.advance(25 * minute);
      expect((await call(env.gw.url, '/api/data', { session: cookie })).status, `${elapsed / minute} min`).toBe(200);
    }
    env.upstream.seen.length = 0;
    env.gw.clock.advance(25 * minute);
    await expectDead(cookie);
  });

  it('an expired session stays dead when the clock is turned back (it was deleted, not just judged)', async () => {
    const cookie = await login(env.gw.url);
    const start = env.gw.clock.now();
    env.gw.clock.advance(idle + 1);
    expect((await call(env.gw.url, '/auth/session', { session: cookie })).status).toBe(401);
    env.gw.clock.set(start + 1000);
    await expectDead(cookie);
  });

  it('an expired cookie cannot change the password or be logged out into a fresh one', async () => {
    const cookie = await login(env.gw.url);
    env.gw.clock.advance(idle + 1);
    const change = await call(env.gw.url, '/auth/password', { method: 'POST', session: cookie, body: { currentPassword: PASSWORD, newPassword: 'attacker chosen password' } });
    expect(change.status).toBe(401);
    expect(change.cookie).toBeNull();
    const logout = await call(env.gw.url, '/auth/logout', { method: 'POST', session: cookie });
    expect(logout.status).toBe(204);
    expect(logout.cookie).toBeNull();
    await expectDead(cookie);
    // The password was not changed.
    expect((await call(env.gw.url, '/auth/login', { method: 'POST', body: { username: 'alice', password: PASSWORD } })).status).toBe(200);
  });
});
