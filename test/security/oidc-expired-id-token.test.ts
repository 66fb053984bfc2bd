import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { beginJourney, finishJourney, startOidcWorld, type OidcWorld } from '../helpers/oidc-journey.js';

/**
 * An expired ID token accepted (OpenID Connect Core 1.0 §3.1.3.7 step 9): a token captured earlier,
 * or one held back by a slow or hostile hop, logs someone in after its lifetime. SPEC §9: an ID token
 * past its `exp` is 400 oidc_response_invalid. The provider issues 60-second ID tokens; the
 * gateway's clock (injected, and the one openid-client judges `exp` by) moves past that, while the
 * login state (10 minutes) is still good.
 */
describe('an ID token past its expiry', () => {
  let world: OidcWorld;
  beforeAll(async () => {
    world = await startOidcWorld({ provider: { ttl: { idToken: 60 } } });
  });
  afterAll(async () => {
    await world?.close();
  });

  test('two minutes later than issued: refused, no session', async () => {
    const journey = await beginJourney(world);
    world.gw.clock.advance(2 * 60_000);
    const reply = await finishJourney(world, journey);
    expect([reply.status, reply.json().error.code]).toEqual([400, 'oidc_response_invalid']);
    expect(reply.cookie).toBeUndefined();
  });

  test('within its lifetime (and the 30 s tolerance) on the same moved clock basis: accepted', async () => {
    const journey = await beginJourney(world);
    world.gw.clock.advance(20_000);
    expect((await finishJourney(world, journey)).status).toBe(303);
  });
});
