import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { beginJourney, finishJourney, startOidcWorld, type OidcWorld } from '../helpers/oidc-journey.js';

/**
 * ID token injection through the nonce (OpenID Connect Core 1.0 §3.1.3.7 step 11, §15.5.2): an
 * attacker gets an ID token issued for a nonce of their choosing (here: by changing the nonce in
 * the authorization request on its way to the provider) and has it accepted in a login that
 * expected another. SPEC §9: 400 oidc_response_invalid, no session.
 */
describe('an ID token whose nonce is not the login\'s', () => {
  let world: OidcWorld;
  beforeAll(async () => {
    world = await startOidcWorld();
  });
  afterAll(async () => {
    await world?.close();
  });

  test('a changed nonce: the provider signs it, the gateway refuses the token', async () => {
    const journey = await beginJourney(world, { rewrite: (url) => url.searchParams.set('nonce', 'attacker-chosen-nonce-0123456789abcdef0123') });
    const reply = await finishJourney(world, journey);
    expect(reply.status).toBe(400);
    expect(reply.json().error.code).toBe('oidc_response_invalid');
    expect(reply.cookie).toBeUndefined();
    // The token endpoint was reached (the refusal is the gateway's own ID token check).
    expect(world.provider.tokenRequests).toContain('authorization_code');
  });

  test('no nonce at all in the request: the token has none, and is refused', async () => {
    const journey = await beginJourney(world, { rewrite: (url) => url.searchParams.delete('nonce') });
    const reply = await finishJourney(world, journey);
    expect([reply.status, reply.json().error.code]).toEqual([400, 'oidc_response_invalid']);
  });
});
