import { describe, expect, test } from 'vitest';
import { logoutClaims, postLogoutToken, sessionServes, signLogoutToken, useBackchannelWorld } from '../helpers/logout-token.js';

/**
 * A logout token that carries a `nonce` (OpenID Connect Back-Channel Logout 1.0 §2.4: PROHIBITED, so
 * that an ID token, which has one, can never be replayed as a logout token). Signed by the provider's
 * own key, every other claim right. SPEC §9: 400 invalid_logout_token, nothing ends.
 */
describe('a logout token with a nonce', () => {
  const backchannel = useBackchannelWorld();

  test('refused with 400 invalid_logout_token, the session still serves; without the nonce it is accepted', async () => {
    const { world, target } = backchannel;
    const refused = await postLogoutToken(world, await signLogoutToken(world, logoutClaims(world, target, { nonce: 'n-0S6_WzA2Mj' })));
    expect([refused.status, refused.json().error.code]).toEqual([400, 'invalid_logout_token']);
    expect(await sessionServes(world, target.cookie)).toBe(true);
    const genuine = await postLogoutToken(world, await signLogoutToken(world, logoutClaims(world, target)));
    expect(genuine.status).toBe(200);
    expect(await sessionServes(world, target.cookie)).toBe(false);
  });
});
