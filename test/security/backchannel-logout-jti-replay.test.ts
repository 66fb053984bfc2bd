import { describe, expect, test } from 'vitest';
import { logoutClaims, postLogoutToken, providerSession, sessionServes, signLogoutToken, useBackchannelWorld } from '../helpers/logout-token.js';

/**
 * A logout token posted again (OpenID Connect Back-Channel Logout 1.0 §2.6 step 7: a `jti` seen
 * before may be refused; SPEC §9: each `jti` once). Captured once, a token naming only a `sub` would
 * otherwise log that user out of every new session for as long as it is accepted. SPEC §9: 400.
 */
describe('a logout token posted twice', () => {
  const backchannel = useBackchannelWorld({ target: false });

  test('accepted once; the replay is refused with 400 invalid_logout_token and the user\'s new session still serves', async () => {
    const { world } = backchannel;
    const first = await providerSession(world);
    const token = await signLogoutToken(world, logoutClaims(world, first, { sid: undefined }));
    expect((await postLogoutToken(world, token)).status).toBe(200);
    expect(await sessionServes(world, first.cookie)).toBe(false);

    const second = await providerSession(world);
    const replay = await postLogoutToken(world, token);
    expect([replay.status, replay.json().error.code]).toEqual([400, 'invalid_logout_token']);
    expect(await sessionServes(world, second.cookie)).toBe(true);
    // A housekeeping round within the token's lifetime keeps its id.
    await world.gw.gateway.housekeep();
    expect((await postLogoutToken(world, token)).status).toBe(400);
    expect(await sessionServes(world, second.cookie)).toBe(true);
  });
});
