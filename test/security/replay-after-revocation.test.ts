import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/security/hash.js';
import { PASSWORD } from '../helpers/gateway.js';
import { call, login } from '../helpers/http.js';
import { useGateway } from '../helpers/lifecycle.js';

/**
 * Replay after revocation: an administrator ends a session (stolen laptop, departing employee,
 * compromised password) and the holder of the cookie keeps using it. Every revocation path must
 * take effect on the very next request (SPEC §2, §4.2, §8) — sessions are answered from memory, but
 * every revocation reaches it before the revoker answers: no grace period.
 */

const admin = { user: 'admin-cli' };

const env = useGateway({ users: [{ name: 'alice' }, { name: 'bob' }] });

/** A cookie that has just been used successfully, so any caching of its validity would be warm. */
async function warmSession(user = 'alice'): Promise<string> {
  const cookie = await login(env.gw.url, user);
  expect((await call(env.gw.url, '/api/warm', { session: cookie })).status).toBe(200);
  expect((await call(env.gw.url, '/auth/session', { session: cookie })).status).toBe(200);
  env.upstream.seen.length = 0;
  return cookie;
}

/** The very next request (no clock movement, no waiting) is refused and forwards nothing. */
async function expectRefusedNow(cookie: string): Promise<void> {
  const proxied = await call(env.gw.url, '/api/after', { session: cookie });
  expect(proxied.status).toBe(401);
  expect(proxied.json().error.code).toBe('unauthenticated');
  expect(proxied.cookie).toBeNull();
  expect((await call(env.gw.url, '/auth/session', { session: cookie })).status).toBe(401);
  expect((await call(env.gw.url, '/api/after', { method: 'POST', session: cookie, body: {} })).status).toBe(401);
  expect(env.upstream.seen).toHaveLength(0);
}

async function handleOf(cookie: string): Promise<string> {
  const record = await env.gw.gateway.services.store.sessions.get(sha256Hex(cookie));
  if (!record) throw new Error('no such session');
  return record.handle;
}

describe('replay after revocation', () => {
  it('sessions.revokeByHandle (gatehouse session revoke ID) ends exactly that session', async () => {
    const victim = await warmSession();
    const other = await warmSession();
    expect(await env.gw.gateway.services.sessions.revokeByHandle(await handleOf(victim), admin, 'cli')).not.toBeNull();
    await expectRefusedNow(victim);
    expect((await call(env.gw.url, '/auth/session', { session: other })).status).toBe(200);
  });

  it('sessions.revokeUser (--user) ends every session of that user and no other', async () => {
    const first = await warmSession('alice');
    const second = await warmSession('alice');
    const bobs = await warmSession('bob');
    expect(await env.gw.gateway.services.sessions.revokeUser('alice', admin, 'cli')).toBeGreaterThanOrEqual(2);
    await expectRefusedNow(first);
    await expectRefusedNow(second);
    expect((await call(env.gw.url, '/auth/session', { session: bobs })).status).toBe(200);
  });

  it('sessions.revokeAll (--all) ends every session', async () => {
    const alices = await warmSession('alice');
    const bobs = await warmSession('bob');
    await env.gw.gateway.services.sessions.revokeAll(admin, 'cli');
    await expectRefusedNow(alices);
    await expectRefusedNow(bobs);
  });

  it('accounts.lock ends the sessions, and the locked user cannot log back in', async () => {
    const cookie = await warmSession('bob');
    expect(await env.gw.gateway.services.accounts.lock('bob', admin)).toBe(true);
    await expectRefusedNow(cookie);
    expect((await call(env.gw.url, '/auth/login', { method: 'POST', body: { username: 'bob', password: PASSWORD } })).status).toBe(401);
    // Unlocking does not bring the old session back.
    await env.gw.gateway.services.accounts.unlock('bob', admin);
    await expectRefusedNow(cookie);
  });

  it('a lock revokes the sessions: a cookie not used while the user was locked is still dead after unlocking', async () => {
    const cookie = await warmSession('bob');
    await env.gw.gateway.services.accounts.lock('bob', admin);
    await env.gw.gateway.services.accounts.unlock('bob', admin);
    await expectRefusedNow(cookie);
  });

  // Every lock revokes (above), and that reaches every process's session memory at once. A lock
  // written to the store with no revocation (a hand edit) is seen once the memory's entry is older
  // than its age bound (SessionMemory, 30 s) and the session is read again.
  it('a locked user is refused once the session is read from the store again (lock set directly in the store, no revocation)', async () => {
    const cookie = await warmSession('bob');
    await env.gw.gateway.services.store.users.update('bob', { locked: true });
    try {
      env.gw.clock.advance(30_000);
      await expectRefusedNow(cookie);
    } finally {
      await env.gw.gateway.services.accounts.unlock('bob', admin);
    }
  });

  it('accounts.setPassword (gatehouse user passwd) ends the sessions opened with the old password', async () => {
    const cookie = await warmSession('alice');
    expect(await env.gw.gateway.services.accounts.setPassword('alice', 'an administrator chose this', admin)).toBe(true);
    await expectRefusedNow(cookie);
    await env.gw.gateway.services.accounts.setPassword('alice', PASSWORD, admin);
  });

  it('accounts.requireReset ends the sessions', async () => {
    const cookie = await warmSession('alice');
    expect(await env.gw.gateway.services.accounts.requireReset('alice', admin)).toBe(true);
    await expectRefusedNow(cookie);
    // A new login is restricted to changing the password; it does not reopen the API.
    const fresh = await login(env.gw.url, 'alice');
    const reply = await call(env.gw.url, '/api/after', { session: fresh });
    expect(reply.status).toBe(403);
    expect(reply.json().error.code).toBe('password_reset_required');
    expect(env.upstream.seen).toHaveLength(0);
    await env.gw.gateway.services.accounts.setPassword('alice', PASSWORD, admin);
  });

  it('accounts.remove ends the sessions, and re-creating the name does not revive them', async () => {
    await env.gw.gateway.services.accounts.add({ name: 'carol', roles: ['user'], password: PASSWORD, requireReset: false }, admin);
    const cookie = await warmSession('carol');
    expect(await env.gw.gateway.services.accounts.remove('carol', admin)).toBe(true);
    await expectRefusedNow(cookie);
    await env.gw.gateway.services.accounts.add({ name: 'carol', roles: ['user'], password: PASSWORD, requireReset: false }, admin);
    await expectRefusedNow(cookie);
  });

  it('every revocation is audited with who did it', async () => {
    const cookie = await warmSession('bob');
    await env.gw.gateway.services.sessions.revokeByHandle(await handleOf(cookie), admin, 'stolen laptop');
    const events = await env.gw.gateway.services.store.audit.recent(5);
    expect(events).toContainEqual(expect.objectContaining({ type: 'session_revoked', user: 'bob', detail: expect.objectContaining({ reason: 'stolen laptop', by: 'admin-cli' }) }));
  });
});
