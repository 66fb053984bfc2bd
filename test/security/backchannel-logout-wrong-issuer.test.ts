import { describe, expect, test } from 'vitest';
import { logoutClaims, postLogoutToken, sessionServes, signLogoutToken, useBackchannelWorld } from '../helpers/logout-token.js';

/**
 * A logout token whose `iss` is not the provider's (OpenID Connect Back-Channel Logout 1.0 §2.6 step
 * 3), though signed with the provider's key: the posting provider's path decides which keys and
 * issuer apply, and another issuer's token names sessions that are not its to end. SPEC §9: 400.
 */
describe('a logout token from another issuer', () => {
  const backchannel = useBackchannelWorld();

  test('refused with 400 invalid_logout_token, the session still serves; with the provider\'s issuer it is accepted', async () => {
    const { world, target } = backchannel;
    for (const iss of [`${world.provider.issuer}/`, 'https://idp.example', undefined]) {
      const refused = await postLogoutToken(world, await signLogoutToken(world, logoutClaims(world, target, { iss })));
      expect([refused.status, refused.json().error.code]).toEqual([400, 'invalid_logout_token']);
      expect(await sessionServes(world, target.cookie)).toBe(true);
    }
    const genuine = await postLogoutToken(world, await signLogoutToken(world, logoutClaims(world, target)));
    expect(genuine.status).toBe(200);
    expect(await sessionServes(world, target.cookie)).toBe(false);
  });
});
