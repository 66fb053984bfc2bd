import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { open } from '../../src/secrets/envelope.js';
import { oidcTokensAad } from '../../src/secrets/sealed-values.js';
import { call } from '../helpers/http.js';
import { accounts, CLIENT_ID, CLIENT_SECRET, oidcLogin, startOidcWorld, type OidcWorld } from '../helpers/oidc-journey.js';

/** Past the fixture's 60 s access token lifetime, on the gateway's clock. */
const pastAccessExpiry = 61_000;

/**
 * SPEC §9 "Before the access token expires it is refreshed; concurrent requests of one session
 * cause exactly one refresh at the provider": a real provider that rotates refresh tokens (a second
 * refresh with the consumed token would be refused and end the session), counted at its token
 * endpoint; a real upstream behind a `user-token` credential.
 */
describe('refreshing a session\'s tokens (SPEC §9) with a real provider', () => {
  let world: OidcWorld;
  let userinfoEndpoint: string;
  let revocationEndpoint: string;
  const refreshes = (): number => world.provider.tokenRequests.filter((t) => t === 'refresh_token').length;

  beforeAll(async () => {
    // ID tokens outlive the clock jump, so a refreshed one is judged on its merits, not on the jump.
    world = await startOidcWorld({ orders: true, provider: { ttl: { accessToken: 60, idToken: 3600 } } });
    const discovery = await (await fetch(`${world.provider.issuer}/.well-known/openid-configuration`)).json() as { userinfo_endpoint: string; revocation_endpoint: string };
    userinfoEndpoint = discovery.userinfo_endpoint;
    revocationEndpoint = discovery.revocation_endpoint;
  });
  afterAll(async () => {
    await world?.close();
  });

  /** The newest session of corp.alice (the one a test just logged in) and its tokens, from the store. */
  async function newestTokens(): Promise<{ handle: string; refreshToken: string; accessToken: string; accessExpiresAt: number | null }> {
    const store = world.gw.gateway.services.store;
    const [newest] = (await store.sessions.list({ userName: 'corp.alice' })).sort((a, b) => b.createdAt - a.createdAt);
    const record = (await store.oidc.getSession(newest!.handle))!;
    const tokens = JSON.parse(open(world.gw.gateway.services.keyring, oidcTokensAad(record.handle), record.sealedTokens).toString('utf8')) as { accessToken: string; refreshToken: string };
    return { handle: record.handle, ...tokens, accessExpiresAt: record.accessExpiresAt };
  }

  async function userinfoStatus(authorization: string): Promise<number> {
    return (await fetch(userinfoEndpoint, { headers: { authorization } })).status;
  }

  test('50 parallel requests of one session with an expired access token: exactly one refresh at the provider, all 200, the upstream sees the new token', async () => {
    const { session } = await oidcLogin(world, 'sub-user');
    expect((await call(world.gw.url, '/orders/before', { session })).status).toBe(200);
    const before = String(world.orders!.seen.at(-1)!.headers.authorization);
    const stored = await newestTokens();
    expect(stored.refreshToken).toBeTruthy();

    world.gw.clock.advance(pastAccessExpiry);
    const counted = refreshes();
    const seenFrom = world.orders!.seen.length;
    const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => call(world.gw.url, `/orders/burst/${i}`, { session })));

    expect(replies.map((r) => r.status)).toEqual(Array(50).fill(200));
    expect(refreshes() - counted).toBe(1);
    const sent = new Set(world.orders!.seen.slice(seenFrom).map((s) => String(s.headers.authorization)));
    expect(sent.size).toBe(1);
    const after = [...sent][0]!;
    expect(after).not.toBe(before);
    expect(await userinfoStatus(after)).toBe(200);
    // The rotated refresh token and the new expiry were stored.
    const now = await newestTokens();
    expect(now.refreshToken).not.toBe(stored.refreshToken);
    expect(`Bearer ${now.accessToken}`).toBe(after);
    // openid-client's expiresIn() counts down on the real clock in whole seconds: 59 under load.
    expect(now.accessExpiresAt! - world.gw.clock.now()).toBeGreaterThanOrEqual(59_000);
    expect(now.accessExpiresAt! - world.gw.clock.now()).toBeLessThanOrEqual(60_000);

    // Still fresh: the next request refreshes nothing.
    expect((await call(world.gw.url, '/orders/again', { session })).status).toBe(200);
    expect(refreshes() - counted).toBe(1);
  });

  test('roles are computed again from the claims at refresh: a group granted at the provider gives the role, taken away removes it', async () => {
    const alice = accounts.find((a) => a.sub === 'sub-user')!;
    const users = world.gw.gateway.services.store.users;
    const { session } = await oidcLogin(world, 'sub-user');
    expect((await users.get('corp.alice'))!.roles).toEqual(['user']);
    try {
      alice.groups = ['gatehouse-admins'];
      world.gw.clock.advance(pastAccessExpiry);
      expect((await call(world.gw.url, '/orders/mine', { session })).status).toBe(200);
      expect([...(await users.get('corp.alice'))!.roles].sort()).toEqual(['admin', 'user']);
    } finally {
      alice.groups = [];
    }
    world.gw.clock.advance(pastAccessExpiry);
    expect((await call(world.gw.url, '/orders/mine', { session })).status).toBe(200);
    expect((await users.get('corp.alice'))!.roles).toEqual(['user']);
  });

  test('the provider refuses the refresh token (invalid_grant): 401 session_expired, cookie cleared, and the session is gone', async () => {
    const { session } = await oidcLogin(world, 'sub-user');
    const { refreshToken } = await newestTokens();
    const revoked = await fetch(revocationEndpoint, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: refreshToken, token_type_hint: 'refresh_token' }).toString(),
    });
    expect(revoked.status).toBe(200);

    world.gw.clock.advance(pastAccessExpiry);
    const seenFrom = world.orders!.seen.length;
    const reply = await call(world.gw.url, '/orders/mine', { session });
    expect(reply.status).toBe(401);
    expect(reply.json().error.code).toBe('session_expired');
    expect(reply.cookie).toBeNull();
    expect(world.orders!.seen.length).toBe(seenFrom);
    const events = await world.gw.gateway.services.store.audit.recent(20);
    expect(events.find((e) => e.type === 'session_revoked' && e.detail.reason === 'refresh_rejected')).toMatchObject({ user: 'corp.alice' });
    // Ended, not merely refused once: the cookie opens nothing, here or on a route of another upstream.
    world.gw.clock.advance(2_000);
    const next = await call(world.gw.url, '/orders/mine', { session });
    expect(next.status).toBe(401);
    expect((await call(world.gw.url, '/api/x', { session })).status).toBe(401);
  });

  test('the provider cannot be reached: 503 idp_unavailable with Retry-After, the session kept; once it is back, 200', async () => {
    const { session } = await oidcLogin(world, 'sub-user');
    world.gw.clock.advance(pastAccessExpiry);
    await world.provider.pause();
    try {
      const reply = await call(world.gw.url, '/orders/mine', { session });
      expect(reply.status).toBe(503);
      expect(reply.json().error.code).toBe('idp_unavailable');
      expect(Number(reply.headers['retry-after'])).toBeGreaterThan(0);
      expect(reply.setCookie).toEqual([]);
    } finally {
      await world.provider.resume();
    }
    // The failure is shared for a second (decision 0011), then the next request tries again.
    world.gw.clock.advance(2_000);
    const counted = refreshes();
    const reply = await call(world.gw.url, '/orders/mine', { session });
    expect(reply.status).toBe(200);
    expect(refreshes() - counted).toBe(1);
    expect(await userinfoStatus(String(world.orders!.seen.at(-1)!.headers.authorization))).toBe(200);
  });
});

describe('refresh with access tokens shorter-lived than the 30 s margin', () => {
  let world: OidcWorld;
  const refreshes = (): number => world.provider.tokenRequests.filter((t) => t === 'refresh_token').length;
  beforeAll(async () => {
    world = await startOidcWorld({ orders: true, provider: { ttl: { accessToken: 20, idToken: 3600 } } });
  });
  afterAll(async () => {
    await world?.close();
  });

  test('a 20 s token is refreshed in the last half of its life, once, and the new one is not refreshed again at once', async () => {
    const { session } = await oidcLogin(world, 'sub-user');
    const counted = refreshes();
    expect((await call(world.gw.url, '/orders/early', { session })).status).toBe(200);
    expect(refreshes() - counted).toBe(0);
    world.gw.clock.advance(11_000);
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => call(world.gw.url, `/orders/due/${i}`, { session })));
    expect(replies.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(refreshes() - counted).toBe(1);
    for (let i = 0; i < 5; i++) expect((await call(world.gw.url, '/orders/after', { session })).status).toBe(200);
    expect(refreshes() - counted).toBe(1);
  });
});
