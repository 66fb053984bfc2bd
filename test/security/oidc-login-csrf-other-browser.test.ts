import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { call } from '../helpers/http.js';
import { beginJourney, finishJourney, loginCookieOf, startOidcWorld, type OidcWorld } from '../helpers/oidc-journey.js';

/**
 * Login CSRF across browsers (OWASP "Login CSRF"; RFC 6749 §10.12): the attacker begins a login
 * with their own account, stops at the provider's redirect back, and makes the victim's browser
 * follow it, so the victim works in the attacker's account. SPEC §9: the login state is bound to
 * the browser that began it: in any other browser (with its own login cookie, or none) the callback
 * is 400 oidc_state_invalid, and the attempt does not even spend the attacker's state.
 */
describe('a login begun in one browser and finished in another', () => {
  let world: OidcWorld;
  beforeAll(async () => {
    world = await startOidcWorld();
  });
  afterAll(async () => {
    await world?.close();
  });

  test('the victim browser without a login cookie, with its own, or with a forged one: refused; the beginning browser still finishes', async () => {
    const attacker = await beginJourney(world, { login: 'sub-admin' });
    const victimOwn = loginCookieOf(await call(world.gw.url, '/auth/oidc/login?provider=corp', { csrf: false }));
    for (const cookie of ['', victimOwn, 'gatehouse-oidc=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'gatehouse-oidc=not-a-token']) {
      const reply = await finishJourney(world, attacker, cookie);
      expect(reply.status, cookie).toBe(400);
      expect(reply.json().error.code).toBe('oidc_state_invalid');
      expect(reply.cookie).toBeUndefined();
    }
    expect((await finishJourney(world, attacker)).status).toBe(303);
  });

  test('two login cookies (one planted beside the real one) bind to neither', async () => {
    const journey = await beginJourney(world);
    const planted = loginCookieOf(await call(world.gw.url, '/auth/oidc/login?provider=corp', { csrf: false }));
    const reply = await finishJourney(world, journey, `${planted}; ${journey.loginCookie}`);
    expect(reply.status).toBe(400);
    expect(reply.json().error.code).toBe('oidc_state_invalid');
  });
});
