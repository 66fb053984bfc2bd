import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { call } from '../helpers/http.js';
import { oidcLogin, startOidcWorld, type OidcWorld } from '../helpers/oidc-journey.js';

/**
 * Open redirect through the login's returnTo (OWASP Unvalidated Redirects and Forwards): a link
 * `/auth/oidc/login?provider=corp&returnTo=//evil.example` would send a freshly logged-in user to a
 * phishing site from a trusted origin. SPEC §9: returnTo must be a path on this origin, not under
 * /auth/; otherwise 400 invalid_return_to before anything is sent to the provider.
 */
const hostile = [
  '//evil.example', '/\\evil.example', '\\/evil.example', 'https://evil.example', 'http://localhost:8080.evil.example/',
  '%2F%2Fevil.example', '/%2F%2Fevil.example', '/%2F/evil.example', '/%5Cevil.example', '/%252F%252Fevil.example', '/%09/evil.example', '/\t/evil.example',
  'javascript:alert(document.domain)', 'evil.example',
  '/auth/logout', '/auth/oidc/login?provider=corp', '/AUTH/session', '/%61uth/password', '/app/../auth/logout',
];

describe('returnTo that leaves the site or points into /auth/', () => {
  let world: OidcWorld;
  beforeAll(async () => {
    world = await startOidcWorld();
  });
  afterAll(async () => {
    await world?.close();
  });

  test.each(hostile)('%s: 400 invalid_return_to, no redirect, no login cookie', async (returnTo) => {
    const reply = await call(world.gw.url, `/auth/oidc/login?provider=corp&returnTo=${encodeURIComponent(returnTo)}`, { csrf: false });
    expect(reply.status).toBe(400);
    expect(reply.json().error.code).toBe('invalid_return_to');
    expect(reply.headers.location).toBeUndefined();
    expect(reply.setCookie).toEqual([]);
  });

  test('a path on this site is where the login lands', async () => {
    const { reply } = await oidcLogin(world, 'sub-user', '/app/orders?id=7#top');
    expect(reply.headers.location).toBe('/app/orders?id=7#top');
  });
});
