import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { call, fromAddress, login } from '../helpers/http.js';
import { heldTokens, logoutClaims, postLogoutToken, providerSession, refreshAtProvider, sessionServes, signLogoutToken } from '../helpers/logout-token.js';
import { callbackUrl, CLIENT_ID, CLIENT_SECRET, beginJourney, finishJourney, startOidcWorld, type OidcWorld } from '../helpers/oidc-journey.js';
import { CookieJar, endSessionAtProvider } from '../helpers/oidc-provider.js';
import { freePort, poll } from '../helpers/processes.js';
import { request as undiciRequest } from 'undici';

async function logout(world: OidcWorld, cookie: string): ReturnType<typeof call> {
  return call(world.gw.url, '/auth/logout', { method: 'POST', session: cookie });
}

describe('POST /auth/logout of a session that logged in at a provider (SPEC §9)', () => {
  let world: OidcWorld;
  beforeAll(async () => {
    world = await startOidcWorld();
  });
  afterAll(async () => {
    await world?.close();
  });

  test('200 {logoutUrl}: the end-session endpoint with the session\'s ID token and our client_id; the session ends; the refresh token is dead at the provider', async () => {
    const target = await providerSession(world);
    const tokens = await heldTokens(world, target.handle);
    expect(tokens.idToken).toBeTruthy();
    expect(tokens.refreshToken).toBeTruthy();

    const reply = await logout(world, target.cookie);
    expect(reply.status).toBe(200);
    expect(reply.headers['cache-control']).toBe('no-store');
    expect(reply.cookie).toBeNull();
    const url = new URL(reply.json().logoutUrl as string);
    expect(`${url.origin}${url.pathname}`).toBe(`${world.provider.issuer}/session/end`);
    expect(Object.fromEntries(url.searchParams)).toEqual({ id_token_hint: tokens.idToken, client_id: CLIENT_ID });
    expect(await sessionServes(world, target.cookie)).toBe(false);
    expect((await world.gw.gateway.services.store.audit.recent(5)).map((e) => e.type)).toContain('logout');

    // RFC 7009: the provider revoked it, so it refreshes nothing any more.
    expect(await refreshAtProvider(world, tokens.refreshToken!)).toEqual({ status: 400, error: 'invalid_grant' });
    // The provider takes the URL it built (its logout page, not an error).
    const page = await undiciRequest(url.href);
    await page.body.text();
    expect(page.statusCode).toBe(200);
    // The ID token is in that URL only: in no log line and no audit event.
    expect(world.gw.logs()).not.toContain(tokens.idToken!);
    expect(world.gw.logs()).not.toContain(tokens.refreshToken!);
    expect(JSON.stringify(await world.gw.gateway.services.store.audit.recent(50))).not.toContain(tokens.idToken!);
  });

  test('a provider that is down at logout: the session still ends, 200 with the URL from the metadata already read, a warning with no token', async () => {
    const target = await providerSession(world);
    const tokens = await heldTokens(world, target.handle);
    await world.provider.pause();
    try {
      const reply = await logout(world, target.cookie);
      expect(reply.status).toBe(200);
      expect(new URL(reply.json().logoutUrl as string).searchParams.get('id_token_hint')).toBe(tokens.idToken);
      expect(reply.cookie).toBeNull();
      expect(await sessionServes(world, target.cookie)).toBe(false);
    } finally {
      await world.provider.resume();
    }
    const logs = world.gw.logs();
    expect(logs).toContain('the refresh token could not be revoked at the provider');
    expect(logs).not.toContain(tokens.idToken!);
    expect(logs).not.toContain(tokens.refreshToken!);
  });

  test('a local session keeps 204', async () => {
    const reply = await logout(world, await login(world.gw.url));
    expect(reply.status).toBe(204);
    expect(reply.headers['cache-control']).toBe('no-store');
  });

  test('back-channel logout is 404 for a provider without backchannelLogout: true, and for no provider', async () => {
    const target = await providerSession(world);
    const token = await signLogoutToken(world, logoutClaims(world, target));
    expect((await postLogoutToken(world, token)).status).toBe(404);
    expect((await postLogoutToken(world, token, { provider: 'nobody' })).status).toBe(404);
    expect(await sessionServes(world, target.cookie)).toBe(true);
  });
});

describe('a provider without an end_session_endpoint', () => {
  let world: OidcWorld;
  beforeAll(async () => {
    world = await startOidcWorld({ provider: { rpInitiatedLogout: false } });
  });
  afterAll(async () => {
    await world?.close();
  });

  test('POST /auth/logout answers 204, as for a local session; the refresh token is still revoked', async () => {
    const target = await providerSession(world);
    const tokens = await heldTokens(world, target.handle);
    const reply = await logout(world, target.cookie);
    expect([reply.status, reply.text, reply.cookie]).toEqual([204, '', null]);
    expect(await sessionServes(world, target.cookie)).toBe(false);
    expect(await refreshAtProvider(world, tokens.refreshToken!)).toEqual({ status: 400, error: 'invalid_grant' });
  });
});

describe('back-channel logout (SPEC §9)', () => {
  let world: OidcWorld;
  afterEach(async () => {
    await world?.close();
  });

  test('round trip: the user ends their session at the provider, the provider posts the logout token, the gateway session is refused next', async () => {
    const port = await freePort();
    world = await startOidcWorld({
      provider: {
        backchannelLogout: true,
        clients: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUris: [callbackUrl('corp')], backchannelLogoutUri: `http://127.0.0.1:${port}/auth/oidc/backchannel-logout/corp` }],
      },
      corp: { backchannelLogout: true },
      config: { server: { port } },
    });
    const jar = new CookieJar();
    const journey = await beginJourney(world, { jar });
    const reply = await finishJourney(world, journey);
    const cookie = reply.cookie!;
    expect(await sessionServes(world, cookie)).toBe(true);
    // Another session of the same user, from another browser (another provider session): it stays.
    const other = await providerSession(world);

    expect(await endSessionAtProvider(world.provider.issuer, jar)).toBeLessThan(400);
    expect(await sessionServes(world, cookie)).toBe(false);
    expect(await sessionServes(world, other.cookie)).toBe(true);
    const accepted = (await world.gw.gateway.services.store.audit.recent(10)).find((e) => e.type === 'oidc_backchannel_logout');
    expect(accepted?.detail).toEqual({ provider: 'corp', by: 'sid', sessions: 1 });
  });

  test('with only a sub: every session of that subject at that issuer ends, no other user\'s; refusals are audited without the token', async () => {
    world = await startOidcWorld({ corp: { backchannelLogout: true } });
    const a = await providerSession(world);
    const b = await providerSession(world);
    const admin = await providerSession(world, 'sub-admin');
    const reply = await postLogoutToken(world, await signLogoutToken(world, logoutClaims(world, a, { sid: undefined })));
    expect(reply.status).toBe(200);
    expect(reply.headers['cache-control']).toBe('no-store');
    expect([await sessionServes(world, a.cookie), await sessionServes(world, b.cookie), await sessionServes(world, admin.cookie)]).toEqual([false, false, true]);
    const events = await world.gw.gateway.services.store.audit.recent(10);
    expect(events.find((e) => e.type === 'oidc_backchannel_logout')?.detail).toEqual({ provider: 'corp', by: 'sub', sessions: 2 });
    expect(events.filter((e) => e.type === 'session_revoked').map((e) => e.detail.reason)).toEqual(['backchannel_logout', 'backchannel_logout']);

    const refusedToken = await signLogoutToken(world, logoutClaims(world, admin, { nonce: 'abc' }));
    expect((await postLogoutToken(world, refusedToken)).status).toBe(400);
    const refused = await poll(async () => {
      const found = (await world.gw.gateway.services.store.audit.recent(5)).find((e) => e.type === 'oidc_backchannel_logout_refused');
      if (!found) throw new Error('not yet');
      return found;
    });
    expect(refused.detail).toEqual({ provider: 'corp', reason: 'nonce_present' });
    expect(world.gw.logs()).not.toContain(refusedToken);
  });

  test('housekeeping forgets a logout token\'s id once the token could no longer be accepted, not before', async () => {
    world = await startOidcWorld({ corp: { backchannelLogout: true } });
    const target = await providerSession(world);
    expect((await postLogoutToken(world, await signLogoutToken(world, logoutClaims(world, target)))).status).toBe(200);
    const db = new Database(join(world.gw.dir, 'gatehouse.db'), { readonly: true });
    try {
      const count = (): unknown => db.prepare('SELECT count(*) FROM oidc_logout_jtis').pluck().get();
      world.gw.clock.advance(600_000);
      await world.gw.gateway.housekeep();
      expect(count()).toBe(1);
      world.gw.clock.advance(31_000);
      await world.gw.gateway.housekeep();
      expect(count()).toBe(0);
    } finally {
      db.close();
    }
  });

  test('a provider whose keys cannot be read: 503 idp_unavailable, nothing ends, the jti not spent', async () => {
    world = await startOidcWorld({ corp: { backchannelLogout: true } });
    const target = await providerSession(world);
    const token = await signLogoutToken(world, logoutClaims(world, target));
    await world.provider.pause();
    try {
      const reply = await postLogoutToken(world, token);
      expect([reply.status, reply.json().error.code]).toEqual([503, 'idp_unavailable']);
      expect(await sessionServes(world, target.cookie)).toBe(true);
    } finally {
      await world.provider.resume();
    }
    expect((await postLogoutToken(world, token)).status).toBe(200);
    expect(await sessionServes(world, target.cookie)).toBe(false);
  });

  test('a logout token from the future, or older than 10 minutes, is refused', async () => {
    world = await startOidcWorld({ corp: { backchannelLogout: true } });
    const target = await providerSession(world);
    const now = Math.floor(world.gw.clock.now() / 1000);
    for (const overrides of [{ iat: now + 120 }, { iat: now - 700, exp: now + 60 }, { iat: undefined }, { exp: now - 60 }, { jti: undefined }]) {
      const reply = await postLogoutToken(world, await signLogoutToken(world, logoutClaims(world, target, overrides)));
      expect([reply.status, reply.json().error.code], JSON.stringify(overrides)).toEqual([400, 'invalid_logout_token']);
    }
    expect(await sessionServes(world, target.cookie)).toBe(true);
  });
});

describe('the back-channel endpoint in the pipeline', () => {
  let world: OidcWorld;
  beforeAll(async () => {
    world = await startOidcWorld({
      corp: { backchannelLogout: true },
      config: {
        ipRules: { deny: ['127.0.0.2/32'] },
        limits: [{ name: 'backchannel', match: '/auth/oidc/backchannel-logout/**', by: 'ip', max: 2, per: '1m', action: 'reject' }],
      },
    });
  });
  afterAll(async () => {
    await world?.close();
  });

  test('no CSRF or session check stands in its way: a cross-site post with a stale cookie is judged by its token alone', async () => {
    const target = await providerSession(world);
    const reply = await call(world.gw.url, '/auth/oidc/backchannel-logout/corp', {
      method: 'POST',
      csrf: false,
      session: 'stale-cookie-value-that-is-no-session',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://idp.example', 'sec-fetch-site': 'cross-site' },
      body: new URLSearchParams({ logout_token: await signLogoutToken(world, logoutClaims(world, target)) }).toString(),
    });
    expect(reply.status, reply.text).toBe(200);
    expect(await sessionServes(world, target.cookie)).toBe(false);
  });

  test('IP lists and rate rules apply as to any request', async () => {
    const target = await providerSession(world);
    const token = await signLogoutToken(world, logoutClaims(world, target));
    const denied = await call(world.gw.url, '/auth/oidc/backchannel-logout/corp', { method: 'POST', csrf: false, dispatcher: fromAddress('127.0.0.2'), headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `logout_token=${token}` });
    expect([denied.status, denied.json().error.code]).toEqual([403, 'ip_blocked']);
    // The rule allows 2 a minute from this address; the first test used one.
    expect((await postLogoutToken(world, 'not-a-jwt')).status).toBe(400);
    const limited = await postLogoutToken(world, token);
    expect([limited.status, limited.json().error.code]).toEqual([429, 'rate_limited']);
    expect(await sessionServes(world, target.cookie)).toBe(true);
  });
});
