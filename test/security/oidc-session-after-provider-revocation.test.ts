import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { open } from '../../src/secrets/envelope.js';
import { oidcTokensAad } from '../../src/secrets/sealed-values.js';
import { call } from '../helpers/http.js';
import { CLIENT_ID, CLIENT_SECRET, oidcLogin, startOidcWorld, type OidcWorld } from '../helpers/oidc-journey.js';

/**
 * A user cut off at the provider (the grant revoked: account disabled, "sign out everywhere", a
 * stolen device removed) keeps using the gateway through the session it already has, with a burst
 * of parallel requests hoping one slips through while the refresh fails. SPEC §9: the provider's
 * invalid_grant ends the session; every request of the burst is refused (401), none reaches the
 * upstream, and the cookie opens nothing afterwards, on any route.
 */
describe('a session whose grant the provider revoked cannot go on', () => {
  let world: OidcWorld;
  beforeAll(async () => {
    world = await startOidcWorld({ orders: true, provider: { ttl: { accessToken: 60, idToken: 3600 } } });
  });
  afterAll(async () => {
    await world?.close();
  });

  test('revoked at the provider, then a 20-request burst once the access token is due: all 401, nothing upstream, the session gone', async () => {
    const { session } = await oidcLogin(world, 'sub-user');
    expect((await call(world.gw.url, '/orders/before', { session })).status).toBe(200);
    const store = world.gw.gateway.services.store;
    const [live] = await store.sessions.list({ userName: 'corp.alice' });
    const record = (await store.oidc.getSession(live!.handle))!;
    const { refreshToken } = JSON.parse(open(world.gw.gateway.services.keyring, oidcTokensAad(record.handle), record.sealedTokens).toString('utf8')) as { refreshToken: string };
    const discovery = await (await fetch(`${world.provider.issuer}/.well-known/openid-configuration`)).json() as { revocation_endpoint: string };
    const revoked = await fetch(discovery.revocation_endpoint, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: refreshToken, token_type_hint: 'refresh_token' }).toString(),
    });
    expect(revoked.status).toBe(200);

    world.gw.clock.advance(61_000);
    const seenFrom = world.orders!.seen.length;
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => call(world.gw.url, `/orders/burst/${i}`, { session })));
    expect(replies.map((r) => r.status)).toEqual(Array(20).fill(401));
    // Those that shared the refused refresh say why; any that arrived after the session ended get the plain 401.
    expect(replies.every((r) => ['session_expired', 'unauthenticated'].includes(r.json().error.code))).toBe(true);
    expect(replies.some((r) => r.json().error.code === 'session_expired')).toBe(true);
    expect(replies.every((r) => r.cookie === null)).toBe(true);
    expect(world.orders!.seen.length).toBe(seenFrom);
    expect(await store.sessions.list({ userName: 'corp.alice' })).toEqual([]);
    world.gw.clock.advance(2_000);
    expect((await call(world.gw.url, '/orders/after', { session })).status).toBe(401);
    expect((await call(world.gw.url, '/api/x', { session })).status).toBe(401);
  });
});
