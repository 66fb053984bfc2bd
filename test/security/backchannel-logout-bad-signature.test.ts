import { generateKeyPair } from 'jose';
import { describe, expect, test } from 'vitest';
import { logoutClaims, postLogoutToken, sessionServes, signLogoutToken, useBackchannelWorld } from '../helpers/logout-token.js';

/**
 * A logout token signed with a key that is not the provider's (OpenID Connect Back-Channel Logout
 * 1.0 §2.6 step 3: validate the signature as for an ID token), even one that claims the provider's
 * `kid`: anyone could otherwise log any user out. SPEC §9: 400 invalid_logout_token, nothing ends.
 */
describe('a logout token signed with another key', () => {
  const backchannel = useBackchannelWorld();

  test('refused with 400 invalid_logout_token, the session still serves; the same claims signed by the provider are accepted', async () => {
    const { world, target } = backchannel;
    const { privateKey } = await generateKeyPair('RS256');
    const claims = logoutClaims(world, target);
    const forged = await postLogoutToken(world, await signLogoutToken(world, claims, { key: privateKey }));
    expect([forged.status, forged.json().error.code]).toEqual([400, 'invalid_logout_token']);
    expect(await sessionServes(world, target.cookie)).toBe(true);

    const genuine = await postLogoutToken(world, await signLogoutToken(world, claims));
    expect(genuine.status).toBe(200);
    expect(genuine.headers['cache-control']).toBe('no-store');
    expect(await sessionServes(world, target.cookie)).toBe(false);
  });
});
