import { describe, expect, test } from 'vitest';
import { logoutClaims, postLogoutToken, sessionServes, signLogoutToken, useBackchannelWorld } from '../helpers/logout-token.js';

/**
 * A logout token with `alg: none` and no signature (RFC 8725 §2.1, §3.1): an unsigned token is no
 * proof of anything, whatever its claims say. SPEC §9: 400 invalid_logout_token, nothing ends.
 */
describe('an unsigned logout token (alg: none)', () => {
  const backchannel = useBackchannelWorld();

  test('refused with 400 invalid_logout_token, the session still serves; a signed token is accepted', async () => {
    const { world, target } = backchannel;
    const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
    const claims = logoutClaims(world, target);
    for (const token of [`${part({ alg: 'none', typ: 'logout+jwt' })}.${part(claims)}.`, `${part({ alg: 'none' })}.${part(claims)}.`]) {
      const refused = await postLogoutToken(world, token);
      expect([refused.status, refused.json().error.code]).toEqual([400, 'invalid_logout_token']);
      expect(await sessionServes(world, target.cookie)).toBe(true);
    }
    const genuine = await postLogoutToken(world, await signLogoutToken(world, logoutClaims(world, target)));
    expect(genuine.status).toBe(200);
    expect(await sessionServes(world, target.cookie)).toBe(false);
  });
});
