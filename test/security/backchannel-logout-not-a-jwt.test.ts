import { describe, expect, test } from 'vitest';
import { logoutClaims, postLogoutToken, sessionServes, signLogoutToken, useBackchannelWorld } from '../helpers/logout-token.js';

/**
 * What reaches the back-channel endpoint that is not one logout token in a form: no field, an empty
 * one, two of them, something that is not a JWT, a JWT that is not signed, a JSON body. Never a 500,
 * never a session ended. SPEC §9: 400 invalid_logout_token.
 */
describe('a back-channel logout post without a logout token', () => {
  const backchannel = useBackchannelWorld();

  test('refused with 400 invalid_logout_token in every form, the session still serves; a real token is accepted', async () => {
    const { world, target } = backchannel;
    const token = await signLogoutToken(world, logoutClaims(world, target));
    const posts: { token: string | null; body?: string; contentType?: string }[] = [
      { token: null },
      { token: '' },
      { token: null, body: 'token=abc' },
      { token: 'not-a-jwt' },
      { token: 'a.b.c' },
      { token: `${token}.${token}` },
      { token: null, body: `logout_token=${token}&logout_token=${token}` },
      { token: null, body: JSON.stringify({ logout_token: token }), contentType: 'application/json' },
      { token: null, body: `logout_token=${token}`, contentType: 'text/plain' },
    ];
    for (const post of posts) {
      const refused = await postLogoutToken(world, post.token, { ...(post.body !== undefined ? { body: post.body } : {}), ...(post.contentType ? { contentType: post.contentType } : {}) });
      expect([refused.status, refused.json().error.code]).toEqual([400, 'invalid_logout_token']);
      expect(await sessionServes(world, target.cookie)).toBe(true);
    }
    const genuine = await postLogoutToken(world, token);
    expect(genuine.status).toBe(200);
    expect(await sessionServes(world, target.cookie)).toBe(false);
  });
});
