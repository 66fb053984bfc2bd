import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { beginJourney, finishJourney, startOidcWorld, type OidcWorld } from '../helpers/oidc-journey.js';

/**
 * A response meant for another relying party (OpenID Connect Core 1.0 §3.1.3.7 step 3: the ID
 * token's `aud` must hold our client_id): the authorization request is rewritten to another client
 * of the same provider, whose code and ID token are then offered to us. SPEC §9: 400
 * oidc_response_invalid. (With a confidential client the provider already refuses the other
 * client's code at the token endpoint; openid-client's aud check is the second line, which this
 * test cannot reach through a conforming provider.)
 */
describe('a code and ID token issued to another client', () => {
  let world: OidcWorld;
  beforeAll(async () => {
    world = await startOidcWorld();
  });
  afterAll(async () => {
    await world?.close();
  });

  test('refused, no session', async () => {
    const journey = await beginJourney(world, { rewrite: (url) => url.searchParams.set('client_id', 'other-app') });
    const reply = await finishJourney(world, journey);
    expect([reply.status, reply.json().error.code]).toEqual([400, 'oidc_response_invalid']);
    expect(reply.cookie).toBeUndefined();
  });
});
