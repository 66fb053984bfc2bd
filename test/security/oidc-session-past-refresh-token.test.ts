import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { call } from '../helpers/http.js';
import { oidcLogin, startOidcWorld, type OidcWorld } from '../helpers/oidc-journey.js';

/** What the provider says of each refresh token it issues (`refresh_expires_in`, as Keycloak does). */
const refreshLifetimeS = 120;

/**
 * A stolen or forgotten session kept alive past the refresh token it rests on: the provider has
 * said when that token ends (Keycloak's `refresh_expires_in`), the access token and the cookie are
 * still valid by their own times. SPEC §9 "A session never outlives its refresh token": once past
 * it, the session is refused with 401 session_expired and ended (audited, the cookie opens nothing
 * after), without asking the provider; each refresh records the new token's lifetime.
 */
describe('a session past its refresh token\'s lifetime cannot go on', () => {
  let world: OidcWorld;
  const refreshes = (): number => world.provider.tokenRequests.filter((t) => t === 'refresh_token').length;

  beforeAll(async () => {
    // The access token lives longer than the refresh token, so only the refresh token's end can stop
    // the session; ID tokens outlive the clock jumps.
    world = await startOidcWorld({ orders: true, provider: { refreshExpiresIn: refreshLifetimeS, ttl: { accessToken: 600, idToken: 3600 } } });
  });
  afterAll(async () => {
    await world?.close();
  });

  async function newestRefreshExpiry(): Promise<number | null> {
    const store = world.gw.gateway.services.store;
    const [newest] = (await store.sessions.list({ userName: 'corp.alice' })).sort((a, b) => b.createdAt - a.createdAt);
    return (await store.oidc.getSession(newest!.handle))!.refreshExpiresAt;
  }

  test('past refresh_expires_in from the login: 401 session_expired with the cookie cleared, nothing upstream, no refresh tried, the session ended and audited', async () => {
    const { session } = await oidcLogin(world, 'sub-user');
    const loggedInAt = world.gw.clock.now();
    expect(await newestRefreshExpiry()).toBe(loggedInAt + refreshLifetimeS * 1000);
    expect((await call(world.gw.url, '/orders/before', { session })).status).toBe(200);

    world.gw.clock.advance(refreshLifetimeS * 1000);
    const counted = refreshes();
    const seenFrom = world.orders!.seen.length;
    const reply = await call(world.gw.url, '/orders/mine', { session });
    expect(reply.status).toBe(401);
    expect(reply.json().error.code).toBe('session_expired');
    expect(reply.cookie).toBeNull();
    expect(world.orders!.seen.length).toBe(seenFrom);
    expect(refreshes()).toBe(counted);
    expect(await world.gw.gateway.services.store.sessions.list({ userName: 'corp.alice' })).toEqual([]);
    const events = await world.gw.gateway.services.store.audit.recent(20);
    expect(events.find((e) => e.type === 'session_revoked' && e.detail.reason === 'refresh_token_expired')).toMatchObject({ user: 'corp.alice' });
    expect((await call(world.gw.url, '/orders/after', { session })).status).toBe(401);
    expect((await call(world.gw.url, '/api/x', { session })).status).toBe(401);
  });

  test('the end holds on a route that does not send the user\'s token too: its first request past it is 401 session_expired and the session ends', async () => {
    const { session } = await oidcLogin(world, 'sub-user');
    // Remembered by the process first: the end is read from the record held beside the session.
    expect((await call(world.gw.url, '/api/before', { session })).status).toBe(200);
    world.gw.clock.advance(refreshLifetimeS * 1000);
    const reply = await call(world.gw.url, '/api/past', { session });
    expect(reply.status).toBe(401);
    expect(reply.json().error.code).toBe('session_expired');
    expect(await world.gw.gateway.services.store.sessions.list({ userName: 'corp.alice' })).toEqual([]);
  });

  test('each refresh records the new refresh token\'s lifetime: the session lives past the first one, and ends at the last one', async () => {
    const { session } = await oidcLogin(world, 'sub-user');
    const loggedInAt = world.gw.clock.now();
    // Make the access token due before the refresh token's end (as the provider's short access tokens would be).
    const store = world.gw.gateway.services.store;
    const [live] = await store.sessions.list({ userName: 'corp.alice' });
    const record = (await store.oidc.getSession(live!.handle))!;
    await store.oidc.putSession({ ...record, accessExpiresAt: loggedInAt + 60_000 });

    world.gw.clock.advance(90_000);
    const counted = refreshes();
    expect((await call(world.gw.url, '/orders/refreshing', { session })).status).toBe(200);
    expect(refreshes() - counted).toBe(1);
    const refreshedAt = world.gw.clock.now();
    expect(await newestRefreshExpiry()).toBe(refreshedAt + refreshLifetimeS * 1000);

    // Past the login's refresh token, before the refreshed one's end.
    world.gw.clock.set(loggedInAt + refreshLifetimeS * 1000 + 10_000);
    expect((await call(world.gw.url, '/orders/still', { session })).status).toBe(200);
    world.gw.clock.set(refreshedAt + refreshLifetimeS * 1000);
    const reply = await call(world.gw.url, '/orders/over', { session });
    expect(reply.status).toBe(401);
    expect(reply.json().error.code).toBe('session_expired');
    expect(refreshes() - counted).toBe(1);
  });
});
