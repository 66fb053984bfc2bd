import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { call } from '../helpers/http.js';
import { beginJourney, gatewayPath, startOidcWorld, type OidcWorld } from '../helpers/oidc-journey.js';

/**
 * SPEC §9: "Navigation errors on the callback may answer with a page; fetch calls always get JSON."
 * The browser that comes back from a declined sign-in is shown a page it can act on, with the
 * same status and code; anything that is not a navigation keeps the JSON body.
 */

let world: OidcWorld;

beforeAll(async () => {
  world = await startOidcWorld();
});

afterAll(async () => {
  await world?.close();
});

async function declinedCallback(headers: Record<string, string>): Promise<Awaited<ReturnType<typeof call>>> {
  const journey = await beginJourney(world, { deny: true, returnTo: '/' });
  return call(world.gw.url, gatewayPath(journey.callback), { csrf: false, headers: { cookie: journey.loginCookie, ...headers } });
}

describe('the OIDC callback answers a navigation with a page', () => {
  test('a declined sign-in, navigated to: 403, an HTML page with the message, the code and a way back; nothing may run on it', async () => {
    const reply = await declinedCallback({ 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document', accept: 'text/html,application/xhtml+xml,*/*;q=0.8' });
    expect(reply.status).toBe(403);
    expect(reply.headers['content-type']).toBe('text/html; charset=utf-8');
    // No script at all; the one style block is admitted by its hash only.
    expect(reply.headers['content-security-policy']).toMatch(/^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/]{43}='; base-uri 'none'; form-action 'none'; frame-ancestors 'none'$/);
    expect(reply.headers['cache-control']).toBe('no-store');
    expect(reply.text).toContain('The sign-in was declined at the identity provider.');
    expect(reply.text).toContain('<code id="error-code">oidc_access_denied</code>');
    expect(reply.text).toContain('<a id="error-back" href="/">');
    expect(reply.text).not.toMatch(/<script| on[a-z]+=| style=/i);
    expect(reply.cookie).toBeUndefined();
  });

  test('an older browser without Fetch Metadata, asking for HTML first, gets the page too', async () => {
    const reply = await declinedCallback({ accept: 'text/html,*/*;q=0.8' });
    expect([reply.status, reply.headers['content-type']]).toEqual([403, 'text/html; charset=utf-8']);
  });

  test('a fetch, or a client asking for anything, keeps the JSON error', async () => {
    const clients: Record<string, string>[] = [{ 'sec-fetch-mode': 'cors', accept: 'text/html' }, { accept: '*/*' }, {}];
    for (const headers of clients) {
      const reply = await declinedCallback(headers);
      expect(reply.status).toBe(403);
      expect(reply.json()).toEqual({ error: { code: 'oidc_access_denied', message: 'The sign-in was declined at the identity provider.' } });
    }
  });

  test('an unknown state, navigated to, is a 400 page with its own code, never the state itself', async () => {
    const journey = await beginJourney(world, { returnTo: '/' });
    const reply = await call(world.gw.url, gatewayPath(journey.callback), { csrf: false, headers: { 'sec-fetch-mode': 'navigate' } });
    expect(reply.status).toBe(400);
    expect(reply.text).toContain('<code id="error-code">oidc_state_invalid</code>');
    const url = new URL(journey.callback);
    expect(reply.text).not.toContain(url.searchParams.get('state')!);
    expect(reply.text).not.toContain(url.searchParams.get('code')!);
  });
});
