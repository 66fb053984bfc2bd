import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { beginJourney, finishJourney, gatewayPath, startOidcWorld, type OidcWorld } from '../helpers/oidc-journey.js';
import { call } from '../helpers/http.js';

/**
 * OIDC state replay: a callback URL (code, state) captured from a history, a log or a Referer is
 * sent again, after its 10 minutes, or with a state the gateway never issued. SPEC §9: the login
 * state is used once, kept 10 minutes; each is 400 oidc_state_invalid and no session is made.
 */
describe('OIDC state: used, expired, unknown or missing', () => {
  let world: OidcWorld;
  beforeAll(async () => {
    // ID tokens outlive the login state here, so the state's own expiry is what a late callback meets.
    world = await startOidcWorld({ provider: { ttl: { idToken: 900 } } });
  });
  afterAll(async () => {
    await world?.close();
  });

  const refused = (reply: { status: number; cookie: string | null | undefined; json(): any }): void => {
    expect(reply.status).toBe(400);
    expect(reply.json().error.code).toBe('oidc_state_invalid');
    expect(reply.cookie).toBeUndefined();
  };

  test('a callback replayed after it succeeded is refused', async () => {
    const journey = await beginJourney(world);
    expect((await finishJourney(world, journey)).status).toBe(303);
    refused(await finishJourney(world, journey));
  });

  test('a callback after the state expired (10 minutes) is refused, even before the provider saw the code twice', async () => {
    const journey = await beginJourney(world);
    world.gw.clock.advance(10 * 60_000);
    refused(await finishJourney(world, journey));
  });

  test('a callback just before expiry still works', async () => {
    const journey = await beginJourney(world);
    world.gw.clock.advance(10 * 60_000 - 1);
    expect((await finishJourney(world, journey)).status).toBe(303);
  });

  test('a state the gateway never issued, or a missing state is refused', async () => {
    const journey = await beginJourney(world);
    const url = new URL(journey.callback);
    url.searchParams.set('state', 'forged-state-value-that-was-never-issued-000');
    refused(await call(world.gw.url, gatewayPath(url.href), { csrf: false, headers: { cookie: journey.loginCookie } }));
    url.searchParams.delete('state');
    refused(await call(world.gw.url, gatewayPath(url.href), { csrf: false, headers: { cookie: journey.loginCookie } }));
    // The genuine state is still unspent by those attempts.
    expect((await finishJourney(world, journey)).status).toBe(303);
  });
});
