import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SECRET } from '../helpers/gateway.js';
import { call, login } from '../helpers/http.js';
import { oidcLogin, startOidcWorld, type OidcWorld } from '../helpers/oidc-journey.js';

/**
 * SPEC §9 `credential: { type: user-token, provider: corp }`: the upstream `orders` receives the
 * session's own access token as a bearer token. The test upstream presents that bearer to the
 * provider's userinfo endpoint, so what is proven is that the provider accepts it and whose it is,
 * not merely that some header arrived.
 */
describe('user-token credential (SPEC §9) with a real provider and upstream', () => {
  let world: OidcWorld;
  let userinfoEndpoint: string;
  beforeAll(async () => {
    world = await startOidcWorld({ orders: true });
    const discovery = await (await fetch(`${world.provider.issuer}/.well-known/openid-configuration`)).json() as { userinfo_endpoint: string };
    userinfoEndpoint = discovery.userinfo_endpoint;
    world.orders!.handle((req, res) => {
      void (async () => {
        const authorization = String(req.headers.authorization ?? '');
        const info = await fetch(userinfoEndpoint, { headers: { authorization } });
        const claims = info.ok ? await info.json() as { sub: string; email?: string } : null;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ userinfoStatus: info.status, sub: claims?.sub ?? null, email: claims?.email ?? null, cookie: req.headers.cookie ?? null }));
      })();
    });
  });
  afterAll(async () => {
    await world?.close();
  });

  test('an OIDC session: the upstream gets "Authorization: Bearer <access token>", a token the provider accepts as this user\'s', async () => {
    const { session } = await oidcLogin(world, 'sub-user');
    const reply = await call(world.gw.url, '/orders/mine', { session });
    expect(reply.status).toBe(200);
    expect(reply.json()).toEqual({ userinfoStatus: 200, sub: 'sub-user', email: 'alice@corp.example', cookie: null });
    const seen = world.orders!.seen.at(-1)!;
    expect(seen.url).toBe('/mine');
    expect(String(seen.headers.authorization)).toMatch(/^Bearer [\x21-\x7e]{20,}$/);
    // Another user's session sends that user's token, not the first one's.
    const other = await oidcLogin(world, 'sub-admin');
    const second = await call(world.gw.url, '/orders/mine', { session: other.session });
    expect(second.json()).toMatchObject({ userinfoStatus: 200, sub: 'sub-admin' });
    expect(world.orders!.seen.at(-1)!.headers.authorization).not.toBe(seen.headers.authorization);
  });

  test('the client\'s own Authorization header never reaches the upstream: the user\'s token replaces it', async () => {
    const { session } = await oidcLogin(world, 'sub-user');
    const reply = await call(world.gw.url, '/orders/mine', { session, headers: { authorization: 'Bearer forged-by-the-client' } });
    expect(reply.json()).toMatchObject({ userinfoStatus: 200, sub: 'sub-user' });
    expect(world.orders!.seen.at(-1)!.headers.authorization).not.toContain('forged-by-the-client');
  });

  test('a local session on the same route: 403 idp_login_required, and nothing reaches the upstream', async () => {
    const local = await login(world.gw.url);
    const before = world.orders!.seen.length;
    const reply = await call(world.gw.url, '/orders/mine', { session: local });
    expect(reply.status).toBe(403);
    expect(reply.json().error.code).toBe('idp_login_required');
    expect(world.orders!.seen.length).toBe(before);
    // The same local session still reaches an upstream with a static secret.
    expect((await call(world.gw.url, '/api/x', { session: local })).status).toBe(200);
  });

  test('a session of another provider: 403 idp_login_required', async () => {
    const { session } = await oidcLogin(world, 'sub-user');
    const store = world.gw.gateway.services.store;
    const newest = (await store.sessions.list({ userName: 'corp.alice' })).sort((a, b) => b.createdAt - a.createdAt);
    // Which session is the cookie's is not exposed; make every one of this user's another provider's.
    for (const s of newest) {
      const record = (await store.oidc.getSession(s.handle))!;
      await store.oidc.putSession({ ...record, provider: 'partner' });
    }
    const reply = await call(world.gw.url, '/orders/mine', { session });
    expect(reply.status).toBe(403);
    expect(reply.json().error.code).toBe('idp_login_required');
  });

  test('a route whose upstream has a static secret still gets the secret, for an OIDC session too', async () => {
    const { session } = await oidcLogin(world, 'sub-admin');
    const reply = await call(world.gw.url, '/api/x', { session });
    expect(reply.status).toBe(200);
    expect(world.upstream.seen.at(-1)!.headers.authorization).toBe(`Bearer ${SECRET}`);
  });
});
