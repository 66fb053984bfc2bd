import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { call } from '../helpers/http.js';
import { beginJourney, finishJourney, gatewayPath, startOidcWorld, type OidcWorld } from '../helpers/oidc-journey.js';

/**
 * Mix-up (RFC 9207; RFC 9700 §4.4): a response from one provider is passed off as another's. The
 * provider names itself in the `iss` parameter of its redirect; SPEC §9: an `iss` that is not the
 * configured issuer is 400 oidc_response_invalid, before the code is sent anywhere.
 */
describe('a callback whose iss is not the provider\'s issuer', () => {
  let world: OidcWorld;
  beforeAll(async () => {
    world = await startOidcWorld();
  });
  afterAll(async () => {
    await world?.close();
  });

  test.each(['https://evil.example', 'http://127.0.0.1:1', ''])('iss=%s: refused, the code never reaches the token endpoint', async (iss) => {
    const journey = await beginJourney(world);
    const url = new URL(journey.callback);
    url.searchParams.set('iss', iss);
    const before = world.provider.tokenRequests.length;
    const reply = await call(world.gw.url, gatewayPath(url.href), { csrf: false, headers: { cookie: journey.loginCookie } });
    expect([reply.status, reply.json().error.code]).toEqual([400, 'oidc_response_invalid']);
    expect(world.provider.tokenRequests.length).toBe(before);
  });

  test('iss missing from a provider that announces it sends it: refused', async () => {
    const journey = await beginJourney(world);
    const url = new URL(journey.callback);
    url.searchParams.delete('iss');
    const reply = await call(world.gw.url, gatewayPath(url.href), { csrf: false, headers: { cookie: journey.loginCookie } });
    expect([reply.status, reply.json().error.code]).toEqual([400, 'oidc_response_invalid']);
    expect((await finishJourney(world, journey)).status, 'the state was spent by the refused attempt').toBe(400);
  });
});
