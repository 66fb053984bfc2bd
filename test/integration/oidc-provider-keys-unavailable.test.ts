import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { beginJourney, finishJourney, oidcLogin, startOidcWorld, type OidcWorld } from '../helpers/oidc-journey.js';
import { startProviderMiddlebox, type ProviderMiddlebox } from '../helpers/provider-middlebox.js';

/**
 * The ID token's signature is checked against the provider's published keys (src/oidc/
 * provider-clients.ts): when those keys cannot be had, the provider is as good as down, and the
 * login answers 503 idp_unavailable (SPEC §9), not 400. Once fetched, the keys are cached: one
 * request to the provider's jwks_uri serves many logins.
 */
describe('the provider\'s signing keys', () => {
  let world: OidcWorld;
  let box: ProviderMiddlebox;
  let jwksPath: string;
  const jwksFetches = (): number => box.paths.filter((p) => p === jwksPath).length;

  beforeAll(async () => {
    box = await startProviderMiddlebox();
    world = await startOidcWorld({ provider: { issuer: box.url } });
    box.target = `http://127.0.0.1:${world.provider.port}`;
    const discovery = await (await fetch(`${box.url}/.well-known/openid-configuration`)).json() as { jwks_uri: string };
    jwksPath = new URL(discovery.jwks_uri).pathname;
  });
  afterAll(async () => {
    await world?.close();
    await box?.close();
  });

  // Before any login fetched the keys (afterwards they are cached for 5 minutes).
  for (const status of [503, 404]) {
    test(`the jwks_uri answers ${status}: the callback answers 503 idp_unavailable, no session`, async () => {
      box.fail = { path: jwksPath, status };
      const from = jwksFetches();
      try {
        const journey = await beginJourney(world);
        const reply = await finishJourney(world, journey);
        expect(jwksFetches() - from).toBeGreaterThanOrEqual(1);
        expect(reply.status).toBe(503);
        expect(reply.json().error.code).toBe('idp_unavailable');
        expect(reply.cookie).toBeUndefined();
      } finally {
        box.fail = null;
      }
    });
  }

  test('once they can be fetched, logins succeed, and three logins fetch them once', async () => {
    const from = jwksFetches();
    for (const login of ['sub-user', 'sub-admin', 'sub-user']) expect((await oidcLogin(world, login)).reply.status).toBe(303);
    expect(jwksFetches() - from).toBe(1);
  });
});
