import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { call } from '../helpers/http.js';
import { poll } from '../helpers/processes.js';
import { beginJourney, finishJourney, oidcLogin, startOidcWorld, type OidcWorld } from '../helpers/oidc-journey.js';
import { sha256Hex } from '../../src/security/hash.js';

describe('OIDC login round trip (SPEC §9) on SQLite', () => {
  let world: OidcWorld;
  beforeAll(async () => {
    world = await startOidcWorld();
  });
  afterAll(async () => {
    await world?.close();
  });

  test('GET /auth/providers lists the providers by name', async () => {
    const reply = await call(world.gw.url, '/auth/providers', { csrf: false });
    expect(reply.status).toBe(200);
    expect(reply.json()).toEqual({ providers: [{ name: 'corp' }] });
  });

  test('login: 303 to the provider with code flow, PKCE S256, state, nonce; the login cookie is HttpOnly, Lax, scoped to /auth/oidc/', async () => {
    const start = await call(world.gw.url, '/auth/oidc/login?provider=corp&returnTo=%2Fapp%3Fx%3D1', { csrf: false });
    expect(start.status).toBe(303);
    const location = new URL(String(start.headers.location));
    expect(`${location.origin}${location.pathname}`).toBe(`${world.provider.issuer}/auth`);
    expect(Object.fromEntries(location.searchParams)).toMatchObject({
      response_type: 'code',
      client_id: 'gatehouse',
      redirect_uri: 'http://localhost:8080/auth/oidc/callback/corp',
      scope: 'openid profile email groups',
      code_challenge_method: 'S256',
    });
    for (const p of ['state', 'nonce', 'code_challenge']) expect(location.searchParams.get(p)).toMatch(/^[A-Za-z0-9_-]{43,}$/);
    const cookie = start.setCookie.find((c) => c.startsWith('gatehouse-oidc='))!;
    expect(cookie).toMatch(/^gatehouse-oidc=[A-Za-z0-9_-]{43}; Max-Age=600; Path=\/auth\/oidc\/; HttpOnly; SameSite=Lax$/);
    // Only hashes are stored: neither the state nor the cookie value is in the database.
    const db = world.gw.gateway.services.store;
    const state = location.searchParams.get('state')!;
    const value = cookie.slice('gatehouse-oidc='.length, cookie.indexOf(';'));
    expect(await db.oidc.takeLoginState(state, sha256Hex(value), Date.now())).toBeNull();
  });

  test('the full round trip: 303 to returnTo with a new session; the user is created from (issuer, sub) with mapped roles and no password', async () => {
    const { session, reply } = await oidcLogin(world, 'sub-admin', '/app/orders?x=1');
    expect(reply.headers.location).toBe('/app/orders?x=1');
    const me = await call(world.gw.url, '/auth/session', { session });
    expect(me.status).toBe(200);
    expect(me.json().user).toEqual({ name: 'corp.ada', roles: ['admin', 'user'] });
    const user = await world.gw.gateway.services.store.users.get('corp.ada');
    expect(user?.passwordHash).toBe('');
    // The proxy sees an ordinary session: the admin route is open to it.
    expect((await call(world.gw.url, '/api/admin/x', { session })).status).toBe(200);
    const sessions = await world.gw.gateway.services.store.sessions.list({ userName: 'corp.ada' });
    const record = await world.gw.gateway.services.store.oidc.getSession(sessions[0]!.handle);
    expect(record).toMatchObject({ provider: 'corp', issuer: world.provider.issuer, subject: 'sub-admin', amr: ['pwd', 'otp'] });
    // amr holds "otp", one of mfa.amr: the session counts as having completed a second factor.
    expect(sessions[0]!.mfaCompleted).toBe(true);
    const events = await world.gw.gateway.services.store.audit.recent(5);
    expect(events.find((e) => e.type === 'login_succeeded' && e.user === 'corp.ada')?.detail).toMatchObject({ method: 'oidc', provider: 'corp' });
  });

  test('a second login of the same identity is the same user; roles follow the claims; amr without a listed method is not a second factor', async () => {
    const first = await oidcLogin(world, 'sub-user');
    const second = await oidcLogin(world, 'sub-user');
    expect(first.session).not.toBe(second.session);
    for (const session of [first.session, second.session]) {
      expect((await call(world.gw.url, '/auth/session', { session })).json().user).toEqual({ name: 'corp.alice', roles: ['user'] });
    }
    const [latest] = await world.gw.gateway.services.store.sessions.list({ userName: 'corp.alice' });
    expect(latest!.mfaCompleted).toBe(false);
    expect((await call(world.gw.url, '/api/admin/x', { session: second.session })).status).toBe(403);
  });

  test('a session presented at the callback is ended, not promoted (session fixation)', async () => {
    const before = await oidcLogin(world, 'sub-user');
    const journey = await beginJourney(world, { login: 'sub-admin' });
    const reply = await finishJourney(world, journey, `${journey.loginCookie}; gatehouse=${before.session}`);
    expect(reply.status).toBe(303);
    expect(reply.cookie).not.toBe(before.session);
    expect((await call(world.gw.url, '/auth/session', { session: before.session })).status).toBe(401);
  });

  test('the user declining at the provider: 403 oidc_access_denied, audited', async () => {
    const journey = await beginJourney(world, { deny: true });
    const reply = await finishJourney(world, journey);
    expect(reply.status).toBe(403);
    expect(reply.json().error.code).toBe('oidc_access_denied');
    // Written in the background (a refusal anyone can repeat is audited once per address, code and minute).
    const event = await poll(async () => {
      const found = (await world.gw.gateway.services.store.audit.recent(3)).find((e) => e.type === 'oidc_login_failed');
      if (!found) throw new Error('not yet');
      return found;
    });
    expect(event.detail).toEqual({ provider: 'corp', code: 'oidc_access_denied' });
  });

  test('unknown provider: 404 at login and at the callback', async () => {
    expect((await call(world.gw.url, '/auth/oidc/login?provider=nope', { csrf: false })).status).toBe(404);
    expect((await call(world.gw.url, '/auth/oidc/callback/nope?code=x&state=y', { csrf: false })).status).toBe(404);
  });
});

describe('OIDC roles and an unreachable provider', () => {
  test('requireRole: a login that maps to no role is 403 no_role_mapped, and no user is created', async () => {
    const world = await startOidcWorld({ corp: { requireRole: true } });
    try {
      const journey = await beginJourney(world, { login: 'sub-norole' });
      const reply = await finishJourney(world, journey);
      expect(reply.status).toBe(403);
      expect(reply.json().error.code).toBe('no_role_mapped');
      expect(reply.cookie).toBeUndefined();
      expect(await world.gw.gateway.services.store.users.get('corp.nobody')).toBeNull();
      expect((await oidcLogin(world, 'sub-user')).session).toBeTruthy();
    } finally {
      await world.close();
    }
  });

  test('a provider that is down at start: the gateway starts, login answers 503 idp_unavailable', async () => {
    const world = await startOidcWorld();
    try {
      await world.provider.close();
      const reply = await call(world.gw.url, '/auth/oidc/login?provider=corp', { csrf: false });
      expect(reply.status).toBe(503);
      expect(reply.json().error.code).toBe('idp_unavailable');
      expect(world.gw.logs()).toMatch(/OIDC provider over plain HTTP/);
    } finally {
      await world.close();
    }
  });
});

describe('a user the provider created is not a local account (SPEC §9)', () => {
  test('/auth/password, TOTP setup and passkey registration answer 403 not_local_account; the empty hash never verifies', async () => {
    const world = await startOidcWorld();
    try {
      const { session } = await oidcLogin(world, 'sub-user');
      const password = await call(world.gw.url, '/auth/password', { method: 'POST', session, body: { currentPassword: '', newPassword: 'a new password of some length' } });
      expect([password.status, password.json().error.code]).toEqual([403, 'not_local_account']);
      const totp = await call(world.gw.url, '/auth/mfa/totp/setup', { method: 'POST', session, body: {} });
      expect([totp.status, totp.json().error.code]).toEqual([403, 'not_local_account']);
      const passkey = await call(world.gw.url, '/auth/passkeys/register/options', { method: 'POST', session, body: {} });
      expect([passkey.status, passkey.json().error.code]).toEqual([403, 'not_local_account']);
      const login = await call(world.gw.url, '/auth/login', { method: 'POST', body: { username: 'corp.alice', password: '' } });
      expect(login.status).toBe(401);
    } finally {
      await world.close();
    }
  });
});

describe('a local user linked to a provider identity (user link-oidc)', () => {
  test('logs in through the provider as itself, keeping its local roles; unlinked, the identity is a user of its own', async () => {
    const world = await startOidcWorld();
    try {
      const store = world.gw.gateway.services.store;
      expect(await store.oidc.link({ issuer: world.provider.issuer, subject: 'sub-admin', userName: 'alice', createdAt: 0 })).toBe(true);
      const linked = await oidcLogin(world, 'sub-admin');
      expect((await call(world.gw.url, '/auth/session', { session: linked.session })).json().user).toEqual({ name: 'alice', roles: ['user'] });
      expect((await store.users.get('alice'))?.passwordHash).not.toBe('');
      expect(await store.oidc.unlinkUser('alice')).toBe(1);
      const unlinked = await oidcLogin(world, 'sub-admin');
      expect((await call(world.gw.url, '/auth/session', { session: unlinked.session })).json().user.name).toBe('corp.ada');
    } finally {
      await world.close();
    }
  });
});

describe('OIDC housekeeping', () => {
  test('login states past their 10 minutes and the records of ended sessions are purged', async () => {
    const world = await startOidcWorld();
    try {
      const { gateway } = world.gw;
      const store = gateway.services.store;
      const { session } = await oidcLogin(world, 'sub-user');
      const [live] = await store.sessions.list({ userName: 'corp.alice' });
      const pending = await beginJourney(world);
      world.gw.clock.advance(10 * 60_000);
      await call(world.gw.url, '/auth/logout', { method: 'POST', session });
      expect(await store.oidc.getSession(live!.handle)).not.toBeNull();
      await gateway.housekeep();
      expect(await store.oidc.getSession(live!.handle)).toBeNull();
      // The state is gone from the table, not just expired: even an unexpired clock finds nothing.
      world.gw.clock.set(Date.now());
      expect((await finishJourney(world, pending)).json().error.code).toBe('oidc_state_invalid');
      expect(await store.oidc.purgeLoginStates(Number.MAX_SAFE_INTEGER)).toBe(0);
    } finally {
      await world.close();
    }
  });
});

describe('a provider whose client secret is not stored', () => {
  test('is a configuration error at start, with its path', async () => {
    await expect(startOidcWorld({ corp: { clientSecret: 'not-stored' } })).rejects.toThrow(/oidc\.providers\[0\]\.clientSecret: no secret named "not-stored" is stored/);
  });
});

describe('the provider gone between login and callback', () => {
  test('the callback answers 503 idp_unavailable, no session', async () => {
    const world = await startOidcWorld();
    try {
      const journey = await beginJourney(world);
      await world.provider.close();
      const reply = await finishJourney(world, journey);
      expect([reply.status, reply.json().error.code]).toEqual([503, 'idp_unavailable']);
      expect(reply.cookie).toBeUndefined();
    } finally {
      await world.close();
    }
  });
});

describe('mfa: true routes and an OIDC session (SPEC §9: honoured from amr; local MFA settings apply to local logins)', () => {
  test('amr with a listed method passes step-up, amr without one gets 403 mfa_required; mfa.required holds no OIDC session back', async () => {
    const world = await startOidcWorld({
      config: {
        mfa: { required: true },
        routes: [
          { path: '/api/secure/**', methods: ['GET'], upstream: 'api', mfa: true },
          { path: '/api/**', methods: ['GET'], upstream: 'api' },
        ],
      },
    });
    try {
      const strong = await oidcLogin(world, 'sub-admin');
      const weak = await oidcLogin(world, 'sub-user');
      expect((await call(world.gw.url, '/api/secure/x', { session: strong.session })).status).toBe(200);
      const refused = await call(world.gw.url, '/api/secure/x', { session: weak.session });
      expect([refused.status, refused.json().error.code]).toEqual([403, 'mfa_required']);
      expect((await call(world.gw.url, '/api/plain', { session: weak.session })).status).toBe(200);
    } finally {
      await world.close();
    }
  });
});

describe('a locked user (gatehouse user lock)', () => {
  test('cannot log in through the provider either: 403 oidc_access_denied, no session', async () => {
    const world = await startOidcWorld();
    try {
      await oidcLogin(world, 'sub-user');
      expect(await world.gw.gateway.services.accounts.lock('corp.alice', { user: 'test' })).toBe(true);
      const journey = await beginJourney(world, { login: 'sub-user' });
      const reply = await finishJourney(world, journey);
      expect([reply.status, reply.json().error.code]).toEqual([403, 'oidc_access_denied']);
      expect(reply.cookie).toBeUndefined();
    } finally {
      await world.close();
    }
  });
});
