import { describe, expect, test } from 'vitest';
import { logoutClaims, postLogoutToken, sessionServes, signLogoutToken, useBackchannelWorld } from '../helpers/logout-token.js';

/**
 * A token without `events`, or whose `events` lacks the member
 * http://schemas.openid.net/event/backchannel-logout (or has it as something other than an object):
 * OpenID Connect Back-Channel Logout 1.0 §2.4, §2.6 step 4. Another JWT of the provider's (an ID
 * token, a token for another purpose) must not pass for a logout token. SPEC §9: 400.
 */
describe('a logout token without the back-channel logout event', () => {
  const backchannel = useBackchannelWorld();

  test('refused with 400 invalid_logout_token in every form, the session still serves; with the event it is accepted', async () => {
    const { world, target } = backchannel;
    const variants: Record<string, unknown>[] = [
      { events: undefined },
      { events: {} },
      { events: { 'http://schemas.openid.net/event/other': {} } },
      { events: { 'http://schemas.openid.net/event/backchannel-logout': true } },
      { events: { 'http://schemas.openid.net/event/backchannel-logout': [] } },
      { events: ['http://schemas.openid.net/event/backchannel-logout'] },
    ];
    for (const overrides of variants) {
      const refused = await postLogoutToken(world, await signLogoutToken(world, logoutClaims(world, target, overrides)));
      expect([refused.status, refused.json().error.code]).toEqual([400, 'invalid_logout_token']);
      expect(await sessionServes(world, target.cookie)).toBe(true);
    }
    const genuine = await postLogoutToken(world, await signLogoutToken(world, logoutClaims(world, target)));
    expect(genuine.status).toBe(200);
    expect(await sessionServes(world, target.cookie)).toBe(false);
  });
});
