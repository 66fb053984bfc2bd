import { describe, expect, test } from 'vitest';
import { logoutClaims, postLogoutToken, sessionServes, signLogoutToken, useBackchannelWorld } from '../helpers/logout-token.js';

/**
 * A logout token with neither `sid` nor `sub` (OpenID Connect Back-Channel Logout 1.0 §2.4: one of
 * them is REQUIRED; §2.6 step 5), or with them not as strings. It names nothing to end, and must not
 * be read as "everything". SPEC §9: 400 invalid_logout_token.
 */
describe('a logout token that names no session', () => {
  const backchannel = useBackchannelWorld();

  test('refused with 400 invalid_logout_token, the session still serves; with them it is accepted', async () => {
    const { world, target } = backchannel;
    for (const overrides of [{ sid: undefined, sub: undefined }, { sid: 7, sub: undefined }, { sid: undefined, sub: ['sub-user'] }, { sid: '', sub: '' }]) {
      const refused = await postLogoutToken(world, await signLogoutToken(world, logoutClaims(world, target, overrides)));
      expect([refused.status, refused.json().error.code]).toEqual([400, 'invalid_logout_token']);
      expect(await sessionServes(world, target.cookie)).toBe(true);
    }
    const genuine = await postLogoutToken(world, await signLogoutToken(world, logoutClaims(world, target)));
    expect(genuine.status).toBe(200);
    expect(await sessionServes(world, target.cookie)).toBe(false);
  });
});
