import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { call } from '../helpers/http.js';
import { beginJourney, finishJourney, gatewayPath, startOidcWorld, type OidcWorld } from '../helpers/oidc-journey.js';

/**
 * Authorization code replay and injection (RFC 6749 §10.5, §10.6; RFC 9700 §4.5): a code that was
 * already redeemed, or one issued for another login, is spliced into a fresh callback that carries a
 * valid state of the browser. The provider refuses a used code (invalid_grant), and PKCE ties a code
 * to the verifier of the login it was issued to (RFC 7636 §1). SPEC §9: 400 oidc_response_invalid.
 */
describe('a replayed or injected authorization code', () => {
  let world: OidcWorld;
  beforeAll(async () => {
    world = await startOidcWorld();
  });
  afterAll(async () => {
    await world?.close();
  });

  const splice = (callback: string, code: string): string => {
    const url = new URL(callback);
    url.searchParams.set('code', code);
    return gatewayPath(url.href);
  };

  test('a code already redeemed, under a new valid state: refused, no session', async () => {
    const first = await beginJourney(world);
    expect((await finishJourney(world, first)).status).toBe(303);
    const usedCode = new URL(first.callback).searchParams.get('code')!;
    const second = await beginJourney(world);
    const reply = await call(world.gw.url, splice(second.callback, usedCode), { csrf: false, headers: { cookie: second.loginCookie } });
    expect(reply.status).toBe(400);
    expect(reply.json().error.code).toBe('oidc_response_invalid');
    expect(reply.cookie).toBeUndefined();
  });

  test('an unused code of another login (another PKCE verifier) spliced into this one: refused', async () => {
    const victim = await beginJourney(world, { login: 'sub-admin' });
    const attacker = await beginJourney(world, { login: 'sub-user' });
    const stolenCode = new URL(victim.callback).searchParams.get('code')!;
    const reply = await call(world.gw.url, splice(attacker.callback, stolenCode), { csrf: false, headers: { cookie: attacker.loginCookie } });
    expect([reply.status, reply.json().error.code]).toEqual([400, 'oidc_response_invalid']);
  });

  test('a code the provider never issued: refused', async () => {
    const journey = await beginJourney(world);
    const reply = await call(world.gw.url, splice(journey.callback, 'made-up-code'), { csrf: false, headers: { cookie: journey.loginCookie } });
    expect([reply.status, reply.json().error.code]).toEqual([400, 'oidc_response_invalid']);
  });
});
