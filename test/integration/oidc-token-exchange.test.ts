import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { sha256Hex } from '../../src/security/hash.js';
import { open } from '../../src/secrets/envelope.js';
import { oidcTokensAad } from '../../src/secrets/sealed-values.js';
import { call } from '../helpers/http.js';
import { oidcLogin, startOidcWorld, type OidcWorld } from '../helpers/oidc-journey.js';

const audience = 'https://orders.api';

/**
 * SPEC §9 `credential: { type: user-token, provider: corp, exchange: { audience, scope } }` (RFC
 * 8693): the upstream gets a token the provider issued for its audience in exchange for the
 * session's access token, never the session's own. The test upstream asks the provider's own store
 * what the bearer it received is (whose, for which audience and scope), so what is proven is the
 * provider's view of the token, not merely that some header arrived.
 */
describe('RFC 8693 token exchange per audience (SPEC §9) with a real provider and upstream', () => {
  let world: OidcWorld;
  beforeAll(async () => {
    world = await startOidcWorld({
      orders: true,
      ordersExchange: { audience, scope: 'orders.read' },
      provider: { tokenExchange: { audiences: { [audience]: ['orders.read', 'orders.write'] } } },
    });
    world.orders!.handle((req, res) => {
      void (async () => {
        const bearer = String(req.headers.authorization ?? '').replace(/^Bearer /, '');
        const issued = await world.provider.inspect(bearer);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ issued }));
      })();
    });
  });
  afterAll(async () => {
    await world?.close();
  });

  const exchanges = (): number => world.provider.exchanges.length;
  const refreshes = (): number => world.provider.tokenRequests.filter((t) => t === 'refresh_token').length;
  const bearerSeen = (): string => String(world.orders!.seen.at(-1)!.headers.authorization);

  async function sessionOf(cookie: string): Promise<{ handle: string; accessToken: string }> {
    const { gateway } = world.gw;
    const record = (await gateway.services.store.sessions.get(sha256Hex(cookie)))!;
    const oidc = (await gateway.services.store.oidc.getSession(record.handle))!;
    const tokens = JSON.parse(open(gateway.services.keyring, oidcTokensAad(record.handle), oidc.sealedTokens).toString('utf8')) as { accessToken: string };
    return { handle: record.handle, accessToken: tokens.accessToken };
  }

  test('the upstream receives a token issued for its audience and scope, for this user: not the session\'s access token', async () => {
    const { session } = await oidcLogin(world, 'sub-user');
    const before = exchanges();
    const reply = await call(world.gw.url, '/orders/mine', { session });
    expect(reply.status).toBe(200);
    expect(reply.json()).toEqual({ issued: { sub: 'sub-user', clientId: 'gatehouse', aud: audience, scope: 'orders.read', exchanged: true } });
    expect(exchanges() - before).toBe(1);
    expect(world.provider.exchanges.at(-1)).toEqual({ subject: 'sub-user', clientId: 'gatehouse', audience, scope: 'orders.read' });
    const { accessToken } = await sessionOf(session);
    expect(bearerSeen()).not.toBe(`Bearer ${accessToken}`);
    expect(bearerSeen()).not.toContain(accessToken);
  });

  test('20 parallel requests of a new session: exactly one exchange at the provider, and all 20 send its token', async () => {
    const { session } = await oidcLogin(world, 'sub-admin');
    const before = exchanges();
    const seenBefore = world.orders!.seen.length;
    const replies = await Promise.all(Array.from({ length: 20 }, () => call(world.gw.url, '/orders/mine', { session })));
    expect(replies.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(exchanges() - before).toBe(1);
    const bearers = new Set(world.orders!.seen.slice(seenBefore).map((s) => s.headers.authorization));
    expect(bearers.size).toBe(1);
    for (const reply of replies) expect(reply.json().issued).toMatchObject({ sub: 'sub-admin', aud: audience, exchanged: true });
  });

  test('two users\' new sessions in parallel: every request carries a token exchanged for its own user, never the other\'s', async () => {
    const alice = await oidcLogin(world, 'sub-user');
    const ada = await oidcLogin(world, 'sub-admin');
    const before = exchanges();
    const sessions = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? { sub: 'sub-user', session: alice.session } : { sub: 'sub-admin', session: ada.session }));
    const replies = await Promise.all(sessions.map(({ session }) => call(world.gw.url, '/orders/mine', { session })));
    replies.forEach((reply, i) => expect(reply.json().issued, `request ${i}`).toMatchObject({ sub: sessions[i]!.sub, aud: audience, exchanged: true }));
    expect(exchanges() - before).toBe(2);
  });

  test('a request later (before the exchanged token is due) reuses it: no exchange', async () => {
    const { session } = await oidcLogin(world, 'sub-user');
    await call(world.gw.url, '/orders/mine', { session });
    const first = bearerSeen();
    const before = exchanges();
    world.gw.clock.advance(20_000);
    const reply = await call(world.gw.url, '/orders/mine', { session });
    expect(reply.status).toBe(200);
    expect(exchanges()).toBe(before);
    expect(bearerSeen()).toBe(first);
  });

  test('after the session\'s access token is refreshed, a new exchange is made from the new one (the old exchanged token, still valid, is not reused)', async () => {
    const { session } = await oidcLogin(world, 'sub-user');
    await call(world.gw.url, '/orders/mine', { session });
    const first = bearerSeen();
    const before = { exchanges: exchanges(), refreshes: refreshes() };
    // The access token (60 s) is due 30 s before its expiry; the exchanged one (600 s) is not.
    world.gw.clock.advance(31_000);
    const reply = await call(world.gw.url, '/orders/mine', { session });
    expect(reply.status).toBe(200);
    expect(refreshes() - before.refreshes).toBe(1);
    expect(exchanges() - before.exchanges).toBe(1);
    expect(bearerSeen()).not.toBe(first);
    expect(reply.json().issued).toMatchObject({ sub: 'sub-user', aud: audience, exchanged: true });
    // And the new one is kept: the next request exchanges nothing.
    await call(world.gw.url, '/orders/mine', { session });
    expect(exchanges() - before.exchanges).toBe(1);
  });

  test('logout: this process keeps nothing exchanged for the session any more', async () => {
    const { session } = await oidcLogin(world, 'sub-user');
    await call(world.gw.url, '/orders/mine', { session });
    const { handle } = await sessionOf(session);
    const { exchanger } = world.gw.gateway;
    expect(exchanger.keptFor(handle)).toBe(1);
    const logout = await call(world.gw.url, '/auth/logout', { method: 'POST', session });
    // 204 today; 200 with a logoutUrl once OIDC logout lands (SPEC §9): either ends the session.
    expect([200, 204]).toContain(logout.status);
    expect(exchanger.keptFor(handle)).toBe(0);
  });

  test('every session of a user revoked (a user-wide path): nothing kept for any of them', async () => {
    const one = await oidcLogin(world, 'sub-admin');
    const two = await oidcLogin(world, 'sub-admin');
    await call(world.gw.url, '/orders/mine', { session: one.session });
    await call(world.gw.url, '/orders/mine', { session: two.session });
    const handles = [(await sessionOf(one.session)).handle, (await sessionOf(two.session)).handle];
    const { exchanger, services } = world.gw.gateway;
    expect(handles.map((h) => exchanger.keptFor(h))).toEqual([1, 1]);
    await services.sessions.revokeUser('corp.ada', { user: 'test', ip: null, requestId: null }, 'test');
    expect(handles.map((h) => exchanger.keptFor(h))).toEqual([0, 0]);
    expect((await call(world.gw.url, '/orders/mine', { session: one.session })).status).toBe(401);
  });

  test('a revocation of the session while its exchange is in flight: that exchange\'s token is not kept', async () => {
    const { session } = await oidcLogin(world, 'sub-user');
    const { handle, accessToken } = await sessionOf(session);
    const { exchanger } = world.gw.gateway;
    const request = { handle, user: 'corp.alice', provider: 'corp', accessToken, exchange: { audience, scope: 'orders.read' } };
    const inFlight = exchanger.exchanged(request);
    exchanger.forget('session', handle);
    expect(await world.provider.inspect(await inFlight)).toMatchObject({ exchanged: true, aud: audience });
    expect(exchanger.keptFor(handle)).toBe(0);
    // Another session's revocation does not stop this one's from being kept.
    const again = exchanger.exchanged(request);
    exchanger.forget('session', 'another-handle');
    exchanger.forget('user', 'corp.ada');
    await again;
    expect(exchanger.keptFor(handle)).toBe(1);
  });

  test('the test provider\'s grant is a real policy point: it refuses what RFC 8693 §2.2.2 says to refuse', async () => {
    const { session } = await oidcLogin(world, 'sub-user');
    const { accessToken } = await sessionOf(session);
    const discovery = await (await fetch(`${world.provider.issuer}/.well-known/openid-configuration`)).json() as { token_endpoint: string; grant_types_supported: string[] };
    expect(discovery.grant_types_supported).toContain('urn:ietf:params:oauth:grant-type:token-exchange');
    const exchange = async (params: Record<string, string>, client = 'gatehouse:oidc-client-secret-5d1f0b7e3a9c'): Promise<{ status: number; error?: string; access_token?: string }> => {
      const res = await fetch(discovery.token_endpoint, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(client).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token_type: 'urn:ietf:params:oauth:token-type:access_token', audience, ...params }),
      });
      return { status: res.status, ...await res.json() as { error?: string; access_token?: string } };
    };
    const before = exchanges();
    expect(await exchange({ subject_token: 'not-a-token-it-issued' })).toMatchObject({ status: 400, error: 'invalid_grant' });
    expect(await exchange({ subject_token: accessToken, subject_token_type: 'urn:ietf:params:oauth:token-type:id_token' })).toMatchObject({ status: 400, error: 'invalid_request' });
    expect(await exchange({ subject_token: accessToken, audience: 'https://elsewhere.api' })).toMatchObject({ status: 400, error: 'invalid_target' });
    expect(await exchange({ subject_token: accessToken, scope: 'orders.delete' })).toMatchObject({ status: 400, error: 'invalid_scope' });
    expect(await exchange({ subject_token: accessToken }, 'other-app:other-app-secret-0c1d2e3f4a5b')).toMatchObject({ status: 400, error: 'invalid_grant' });
    expect(exchanges()).toBe(before);
    const granted = await exchange({ subject_token: accessToken, scope: 'orders.write' });
    expect(granted.status).toBe(200);
    expect(await world.provider.inspect(granted.access_token!)).toMatchObject({ sub: 'sub-user', aud: audience, scope: 'orders.write', exchanged: true });
    // An exchanged token is not itself a subject token.
    expect(await exchange({ subject_token: granted.access_token! })).toMatchObject({ status: 400, error: 'invalid_grant' });
  });

  test('the provider unreachable at exchange time: 503 idp_unavailable with Retry-After, nothing upstream, the session kept', async () => {
    const { session } = await oidcLogin(world, 'sub-user');
    const seen = world.orders!.seen.length;
    await world.provider.pause();
    try {
      const reply = await call(world.gw.url, '/orders/mine', { session });
      expect(reply.status).toBe(503);
      expect(reply.json().error.code).toBe('idp_unavailable');
      expect(reply.headers['retry-after']).toBe('5');
      expect(world.orders!.seen.length).toBe(seen);
    } finally {
      await world.provider.resume();
    }
    expect((await call(world.gw.url, '/orders/mine', { session })).status).toBe(200);
  });
});

describe('the provider refuses the exchange', () => {
  let world: OidcWorld;
  beforeAll(async () => {
    world = await startOidcWorld({
      orders: true,
      // The gateway asks for an audience the provider does not serve to this client.
      ordersExchange: { audience: 'https://ledger.api', scope: 'ledger.read' },
      provider: { tokenExchange: { audiences: { [audience]: ['orders.read'] } } },
    });
  });
  afterAll(async () => {
    await world?.close();
  });

  test('403 forbidden, nothing reaches the upstream, the session goes on (its other routes work)', async () => {
    const { session } = await oidcLogin(world, 'sub-user');
    const seen = world.orders!.seen.length;
    const reply = await call(world.gw.url, '/orders/mine', { session });
    expect(reply.status).toBe(403);
    expect(reply.json().error.code).toBe('forbidden');
    expect(world.orders!.seen.length).toBe(seen);
    expect(world.provider.exchanges).toEqual([]);
    // The refusal is logged with the provider's error code, for the operator.
    expect(world.gw.logs()).toContain('invalid_target');
    const [live] = await world.gw.gateway.services.store.sessions.list({ userName: 'corp.alice' });
    const record = (await world.gw.gateway.services.store.oidc.getSession(live!.handle))!;
    const { accessToken } = JSON.parse(open(world.gw.gateway.services.keyring, oidcTokensAad(live!.handle), record.sealedTokens).toString('utf8')) as { accessToken: string };
    expect(world.gw.logs()).not.toContain(accessToken.slice(0, 12));
    expect((await call(world.gw.url, '/api/x', { session })).status).toBe(200);
    expect((await call(world.gw.url, '/auth/session', { session })).status).toBe(200);
  });
});

describe('an exchanged token shorter-lived than the session\'s', () => {
  let world: OidcWorld;
  beforeAll(async () => {
    world = await startOidcWorld({
      orders: true,
      ordersExchange: { audience },
      // 20 s: kept until 10 s before its expiry (half its lifetime, under the 30 s margin).
      provider: { tokenExchange: { audiences: { [audience]: [] }, ttl: 20 } },
    });
  });
  afterAll(async () => {
    await world?.close();
  });

  test('is kept until shortly before it expires, then exchanged again (no refresh needed for that)', async () => {
    const { session } = await oidcLogin(world, 'sub-user');
    const exchanges = (): number => world.provider.exchanges.length;
    await call(world.gw.url, '/orders/mine', { session });
    expect(exchanges()).toBe(1);
    world.gw.clock.advance(9_000);
    await call(world.gw.url, '/orders/mine', { session });
    expect(exchanges()).toBe(1);
    world.gw.clock.advance(2_000);
    expect((await call(world.gw.url, '/orders/mine', { session })).status).toBe(200);
    expect(exchanges()).toBe(2);
    expect(world.provider.tokenRequests.filter((t) => t === 'refresh_token')).toEqual([]);
    // No scope asked for: none sent, none granted.
    expect(world.provider.exchanges.at(-1)).toEqual({ subject: 'sub-user', clientId: 'gatehouse', audience, scope: '' });
  });
});
