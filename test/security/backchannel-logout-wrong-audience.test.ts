import { describe, expect, test } from 'vitest';
import { logoutClaims, postLogoutToken, sessionServes, signLogoutToken, useBackchannelWorld } from '../helpers/logout-token.js';

/**
 * A logout token the provider issued to another relying party (`aud` is not our client id: OpenID
 * Connect Back-Channel Logout 1.0 §2.6 step 3, as for an ID token), signed by the provider's own key:
 * another client's logout cannot end our sessions. SPEC §9: 400 invalid_logout_token.
 */
describe('a logout token for another client', () => {
  const backchannel = useBackchannelWorld();

  test('refused with 400 invalid_logout_token, the session still serves; with our audience it is accepted', async () => {
    const { world, target } = backchannel;
    for (const aud of ['other-app', ['other-app'], undefined]) {
      const refused = await postLogoutToken(world, await signLogoutToken(world, logoutClaims(world, target, { aud })));
      expect([refused.status, refused.json().error.code]).toEqual([400, 'invalid_logout_token']);
      expect(await sessionServes(world, target.cookie)).toBe(true);
    }
    const genuine = await postLogoutToken(world, await signLogoutToken(world, logoutClaims(world, target)));
    expect(genuine.status).toBe(200);
    expect(await sessionServes(world, target.cookie)).toBe(false);
  });
});
