import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/security/hash.js';
import { PASSWORD, startGateway } from '../helpers/gateway.js';
import { call, login } from '../helpers/http.js';
import { useGateway } from '../helpers/lifecycle.js';

/**
 * Session fixation (OWASP Session Management Cheat Sheet, "Renew the Session ID After Any Privilege
 * Level Change"): the attacker gets a session id of their choosing into the victim's browser before
 * the victim logs in, then rides the victim's authenticated session with the same id.
 */

const env = useGateway({
  users: [{ name: 'alice' }, { name: 'mallory' }, { name: 'carol', requireReset: true }],
});

/** A value shaped exactly like a real session id (32 random bytes, base64url). */
const plantedId = (): string => randomBytes(32).toString('base64url');

async function loginWith(cookie: string, username = 'alice'): Promise<Awaited<ReturnType<typeof call>>> {
  return call(env.gw.url, '/auth/login', { method: 'POST', session: cookie, body: { username, password: PASSWORD } });
}

async function sessionRowExists(token: string): Promise<boolean> {
  return (await env.gw.gateway.services.store.sessions.get(sha256Hex(token))) !== null;
}

describe('session fixation', () => {
  it('login never promotes a cookie planted before it: a new id is issued and the planted one stays invalid', async () => {
    const planted = plantedId();
    const reply = await loginWith(planted);
    expect(reply.status).toBe(200);
    expect(reply.cookie).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(reply.cookie).not.toBe(planted);

    expect(await sessionRowExists(planted)).toBe(false);
    const riding = await call(env.gw.url, '/auth/session', { session: planted });
    expect(riding.status).toBe(401);
    expect(riding.cookie).toBeNull();
    expect((await call(env.gw.url, '/api/me', { session: planted })).status).toBe(401);
    expect((await call(env.gw.url, '/auth/session', { session: reply.cookie! })).status).toBe(200);
    expect(env.upstream.seen).toHaveLength(0);
  });

  it('a planted value in an arbitrary shape is not promoted either', async () => {
    for (const planted of ['attacker-chosen', 'A'.repeat(43), '0', plantedId().slice(0, 42)]) {
      const reply = await loginWith(planted);
      expect(reply.status, planted).toBe(200);
      expect(reply.cookie).not.toBe(planted);
      expect((await call(env.gw.url, '/auth/session', { session: planted })).status, planted).toBe(401);
    }
  });

  it("a valid session of another user presented at login is ended, not reused (the attacker's own session planted in the victim's browser)", async () => {
    const mallorys = await login(env.gw.url, 'mallory');
    expect((await call(env.gw.url, '/auth/session', { session: mallorys })).json().user.name).toBe('mallory');

    const reply = await loginWith(mallorys, 'alice');
    expect(reply.status).toBe(200);
    expect(reply.cookie).not.toBe(mallorys);

    // The victim's new session is alice's; mallory's planted id now opens nothing at all.
    expect((await call(env.gw.url, '/auth/session', { session: reply.cookie! })).json().user.name).toBe('alice');
    const replay = await call(env.gw.url, '/auth/session', { session: mallorys });
    expect(replay.status).toBe(401);
    expect(await sessionRowExists(mallorys)).toBe(false);
  });

  it('a valid pre-login session of the same user is ended too: every login is a new id', async () => {
    const before = await login(env.gw.url, 'alice');
    const reply = await loginWith(before, 'alice');
    expect(reply.status).toBe(200);
    expect(reply.cookie).not.toBe(before);
    expect((await call(env.gw.url, '/auth/session', { session: before })).status).toBe(401);
  });

  it('a failed login does not bind anything to the planted cookie', async () => {
    const planted = plantedId();
    const reply = await call(env.gw.url, '/auth/login', { method: 'POST', session: planted, body: { username: 'alice', password: 'not the password at all' } });
    expect(reply.status).toBe(401);
    expect(reply.cookie).not.toBe(planted);
    expect(await sessionRowExists(planted)).toBe(false);
  });

  it('a password change issues a new id; the old id is dead', async () => {
    const before = await login(env.gw.url, 'carol');
    const reply = await call(env.gw.url, '/auth/password', { method: 'POST', session: before, body: { currentPassword: PASSWORD, newPassword: 'a brand new passphrase' } });
    expect(reply.status).toBe(204);
    expect(reply.cookie).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(reply.cookie).not.toBe(before);

    expect((await call(env.gw.url, '/auth/session', { session: before })).status).toBe(401);
    expect(await sessionRowExists(before)).toBe(false);
    expect((await call(env.gw.url, '/auth/session', { session: reply.cookie! })).status).toBe(200);
  });

  it('over HTTPS only a __Host- cookie is read, so a sibling subdomain cannot plant a plain "gatehouse" cookie', async () => {
    const secure = await startGateway({
      upstreamUrl: env.upstream.url,
      config: { server: { host: '127.0.0.1', port: 0, publicOrigin: 'https://gatehouse.example' } },
    });
    try {
      const reply = await call(secure.url, '/auth/login', { method: 'POST', body: { username: 'alice', password: PASSWORD } });
      expect(reply.status).toBe(200);
      const set = reply.setCookie.find((c) => c.startsWith('__Host-gatehouse='))!;
      expect(set).toMatch(/; Path=\/; HttpOnly; Secure; SameSite=Strict$/);
      expect(set).not.toMatch(/domain=/i);
      const token = reply.cookie!;

      // The same id under the unprefixed name (the only one a subdomain could set) is not a session.
      const unprefixed = await call(secure.url, '/auth/session', { session: token });
      expect(unprefixed.status).toBe(401);
      const prefixed = await call(secure.url, '/auth/session', { headers: { cookie: `__Host-gatehouse=${token}` } });
      expect(prefixed.status).toBe(200);
    } finally {
      await secure.close();
    }
  });
});
