import { decodeJwt, decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { open } from '../../src/secrets/envelope.js';
import { oidcTokensAad } from '../../src/secrets/sealed-values.js';
import { call } from '../helpers/http.js';
import { beginJourney, finishJourney, oidcLogin, startOidcWorld, type OidcWorld } from '../helpers/oidc-journey.js';
import { startProviderMiddlebox, type ProviderMiddlebox } from '../helpers/provider-middlebox.js';

/** Past the fixture's 60 s access token lifetime, on the gateway's clock. */
const pastAccessExpiry = 61_000;

/**
 * ID token forgery on the way from the provider (OpenID Connect Core 1.0 §3.1.3.7 step 6, §16.3):
 * something between the gateway and the provider (a TLS-intercepting middlebox, or anyone on the
 * path of an `allowInsecureHttp` issuer) replaces the token endpoint's ID token with one of its own
 * making, under the provider's `kid` but signed with a key the provider never published. Here a real
 * proxy at the issuer's address does it, forwarding all else unchanged. The gateway must refuse it:
 * at login 400 oidc_response_invalid and no session (SPEC §9); at refresh its claims (the roles) are
 * never used, the session is kept with 503 idp_unavailable (src/oidc/token-refresher.ts says why).
 */
describe('an ID token signed with a key the provider did not publish', () => {
  let world: OidcWorld;
  let box: ProviderMiddlebox;
  let tokenPath: string;
  const attacker = generateKeyPair('RS256');

  /** The same token re-signed: its header and claims (with `changes`) under `key`. */
  async function resign(idToken: string, key: CryptoKey, changes: Record<string, unknown> = {}): Promise<string> {
    const header = decodeProtectedHeader(idToken);
    expect(header.kid).toBe(world.provider.signingKey.kid);
    return new SignJWT({ ...decodeJwt(idToken), ...changes }).setProtectedHeader({ ...header, alg: 'RS256' }).sign(key);
  }

  beforeAll(async () => {
    box = await startProviderMiddlebox();
    // ID tokens outlive the clock jump, so a refreshed one is judged on its signature, not its age.
    world = await startOidcWorld({ orders: true, provider: { issuer: box.url, ttl: { accessToken: 60, idToken: 3600 } } });
    box.target = `http://127.0.0.1:${world.provider.port}`;
    const discovery = await (await fetch(`${box.url}/.well-known/openid-configuration`)).json() as { issuer: string; token_endpoint: string };
    expect(discovery.issuer).toBe(box.url);
    tokenPath = new URL(discovery.token_endpoint).pathname;
  });
  afterAll(async () => {
    await world?.close();
    await box?.close();
  });

  test('the same claims re-signed with the provider\'s own key pass the middlebox and log in (the proxy changes nothing else)', async () => {
    box.rewrite = { path: tokenPath, idToken: (t) => resign(t, world.provider.signingKey.privateKey) };
    try {
      const { reply } = await oidcLogin(world, 'sub-user');
      expect(reply.status).toBe(303);
    } finally {
      box.rewrite = null;
    }
  });

  test('at login: the same claims under the attacker\'s key → 400 oidc_response_invalid, no session', async () => {
    const { privateKey } = await attacker;
    let forged = 0;
    box.rewrite = { path: tokenPath, idToken: async (t) => (forged += 1, resign(t, privateKey)) };
    try {
      const journey = await beginJourney(world, { login: 'sub-admin' });
      const reply = await finishJourney(world, journey);
      expect(forged).toBe(1);
      expect(reply.status).toBe(400);
      expect(reply.json().error.code).toBe('oidc_response_invalid');
      expect(reply.cookie).toBeUndefined();
      expect(await world.gw.gateway.services.store.sessions.list({ userName: 'corp.ada' })).toEqual([]);
    } finally {
      box.rewrite = null;
    }
  });

  test('at refresh: a forged ID token granting the admin group is not believed; 503 idp_unavailable, the roles and stored tokens unchanged', async () => {
    const { privateKey } = await attacker;
    const { session } = await oidcLogin(world, 'sub-user');
    const store = world.gw.gateway.services.store;
    const [held] = await store.sessions.list({ userName: 'corp.alice' });
    const before = (await store.oidc.getSession(held!.handle))!;
    const rolesBefore = (await store.users.get('corp.alice'))!.roles;
    expect(rolesBefore).not.toContain('admin');

    world.gw.clock.advance(pastAccessExpiry);
    let forged = 0;
    box.rewrite = { path: tokenPath, idToken: async (t) => (forged += 1, resign(t, privateKey, { groups: ['gatehouse-admins'] })) };
    const seenFrom = world.orders!.seen.length;
    try {
      const reply = await call(world.gw.url, '/orders/mine', { session });
      expect(forged).toBe(1);
      expect(reply.status).toBe(503);
      expect(reply.json().error.code).toBe('idp_unavailable');
      expect(Number(reply.headers['retry-after'])).toBeGreaterThan(0);
      expect(reply.setCookie).toEqual([]);
    } finally {
      box.rewrite = null;
    }
    expect(world.orders!.seen.length).toBe(seenFrom);
    expect((await store.users.get('corp.alice'))!.roles).toEqual(rolesBefore);
    const after = (await store.oidc.getSession(held!.handle))!;
    expect(after.sealedTokens).toBe(before.sealedTokens);
    const kept = JSON.parse(open(world.gw.gateway.services.keyring, oidcTokensAad(after.handle), after.sealedTokens).toString('utf8')) as { idToken: string };
    expect(decodeJwt(kept.idToken).groups).not.toEqual(['gatehouse-admins']);
    // The provider rotated (consumed) the refresh token in the answer the middlebox changed: the next
    // attempt is refused with invalid_grant, and the session ends as SPEC §9 says.
    world.gw.clock.advance(2_000);
    expect((await call(world.gw.url, '/orders/mine', { session })).status).toBe(401);
  });
});
