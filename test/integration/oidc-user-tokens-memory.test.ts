import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createGateway, type Gateway } from '../../src/app/create-gateway.js';
import { loadConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/log/logger.js';
import { open } from '../../src/secrets/envelope.js';
import { oidcTokensAad } from '../../src/secrets/sealed-values.js';
import { openSqliteStore } from '../../src/storage/sqlite/open-sqlite-store.js';
import type { Store } from '../../src/storage/store.js';
import { runRaw } from '../cli/harness.js';
import { call, login } from '../helpers/http.js';
import { CLIENT_ID, CLIENT_SECRET, oidcLogin, startOidcWorld, type OidcWorld } from '../helpers/oidc-journey.js';
import { poll } from '../helpers/processes.js';
import { startSecondGateway, type SecondGateway } from '../helpers/second-gateway.js';

/** The fixture's access token lifetime (s): its refresh margin is half of it, 10 s. */
const accessLifetime = 20;
/** Past the refresh margin, but well inside the session memory's 30 s age bound. */
const intoMargin = 11_000;

/**
 * Issue 13 item 9, decision 0012: a proxied request with a valid user token costs no provider
 * round trip and no more store work than a local session's, because the session's OIDC tokens are
 * held beside its entry in the session memory. And what that must not break (SPEC §8, §9): a due
 * token is refreshed with the store's tokens, not the memory's (another gateway may have rotated
 * them), and every revocation drops the held tokens with the session.
 *
 * Three gateways on one SQLite file and one clock, each with its own store connection, memory,
 * follower and single flight, as `serve` processes on one store are (minus the process boundary,
 * so that the clock can be moved): A (the world's), B (second-gateway.ts) and C, whose store is
 * wrapped to count every call the request path makes.
 */
describe('user tokens held in the session memory (issue 13 item 9)', () => {
  let world: OidcWorld;
  let b: SecondGateway;
  let c: { gateway: Gateway; store: Store };
  let revocationEndpoint: string;
  /** The request path's store calls on C, as `part.method`. */
  let calls: string[];
  const refreshes = (): number => world.provider.tokenRequests.filter((t) => t === 'refresh_token').length;

  /**
   * Counts the calls made to each part of a real store; the background work every serving process
   * does whatever its requests (the follower's log reads and heartbeats, the channel, the
   * write-behind activity flush, the block memory's re-read) is left out, as it is the same for
   * every session.
   */
  function counting(store: Store): Store {
    const background = new Set(['revocations', 'nodes', 'channel', 'sessions.touchAll', 'blocks.list']);
    return new Proxy(store, {
      get(target, part, receiver) {
        const value = Reflect.get(target, part, receiver) as unknown;
        if (typeof value !== 'object' || value === null || background.has(String(part))) return value;
        return new Proxy(value, {
          get(inner, name, innerReceiver) {
            const method = Reflect.get(inner, name, innerReceiver) as unknown;
            if (typeof method !== 'function') return method;
            return (...args: unknown[]) => {
              if (!background.has(`${String(part)}.${String(name)}`)) calls.push(`${String(part)}.${String(name)}`);
              return (method as (...a: unknown[]) => unknown).apply(inner, args);
            };
          },
        });
      },
    });
  }

  beforeAll(async () => {
    world = await startOidcWorld({ orders: true, provider: { ttl: { accessToken: accessLifetime, idToken: 3600 } } });
    b = await startSecondGateway(world.gw);
    const { config } = loadConfig(join(world.gw.dir, 'gatehouse.yaml'));
    const store = openSqliteStore(join(world.gw.dir, 'gatehouse.db'));
    calls = [];
    const gateway = await createGateway({ config, clock: world.gw.clock, logger: silentLogger(), store: counting(store) });
    await gateway.start();
    c = { gateway, store };
    const discovery = await (await fetch(`${world.provider.issuer}/.well-known/openid-configuration`)).json() as { revocation_endpoint: string };
    revocationEndpoint = discovery.revocation_endpoint;
  });
  afterAll(async () => {
    await c?.gateway.stop();
    await c?.store.close();
    await b?.close();
    await world?.close();
  });

  const memoryOf = (gateway: Gateway) => gateway.services.sessionMemory!.memory;

  /** Every gateway's memory answers (its follower read the log since the clock last moved). */
  async function allTrusted(): Promise<void> {
    await poll(async () => {
      for (const g of [world.gw.gateway, b.gateway, c.gateway]) if (!memoryOf(g).trusted) throw new Error('a memory is not trusted yet');
    });
  }

  /** The newest session of `userName` (the one a test just logged in). */
  async function newestHandle(userName = 'corp.alice'): Promise<string> {
    const [newest] = (await world.gw.gateway.services.store.sessions.list({ userName })).sort((x, y) => y.createdAt - x.createdAt);
    return newest!.handle;
  }

  /** The access token a gateway's memory holds for the session, if any. */
  function heldToken(gateway: Gateway, handle: string): string | null | undefined {
    const held = memoryOf(gateway).oidcOf(handle);
    return held === undefined || held === null ? held : held.tokens.accessToken;
  }

  function lastBearer(): string {
    return String(world.orders!.seen.at(-1)!.headers.authorization);
  }

  test('a user-token request with a fresh access token makes the same store calls as a local session\'s request with a static secret: none once remembered, and no provider call', async () => {
    const local = await login(world.gw.url);
    const { session } = await oidcLogin(world, 'sub-user');
    await allTrusted();
    const tokenGrants = world.provider.tokenRequests.length;

    calls = [];
    expect((await call(c.gateway.url, '/api/first', { session: local })).status).toBe(200);
    const localFirst = calls;
    calls = [];
    expect((await call(c.gateway.url, '/orders/first', { session })).status).toBe(200);
    const oidcFirst = calls;
    // The first request of each reads the session and, once per memory admission, whether it has an OIDC record.
    expect(oidcFirst).toEqual(localFirst);
    expect(localFirst).toEqual(['sessions.getWithUser', 'oidc.getSession']);

    calls = [];
    for (let i = 0; i < 5; i++) expect((await call(c.gateway.url, `/api/again/${i}`, { session: local })).status).toBe(200);
    expect(calls).toEqual([]);
    for (let i = 0; i < 5; i++) expect((await call(c.gateway.url, `/orders/again/${i}`, { session })).status).toBe(200);
    expect(calls).toEqual([]);
    expect(world.provider.tokenRequests.length).toBe(tokenGrants);
    expect(lastBearer()).toBe(`Bearer ${heldToken(c.gateway, await newestHandle())}`);
  });

  test('worker A refreshes (rotating the refresh token); B, whose memory still holds the old, now due tokens, uses the store\'s new ones: one refresh in all, 200 on both', async () => {
    const { session } = await oidcLogin(world, 'sub-user');
    const handle = await newestHandle();
    await allTrusted();
    expect((await call(b.url, '/orders/one', { session })).status).toBe(200);
    const first = lastBearer();
    expect((await call(world.gw.url, '/orders/one', { session })).status).toBe(200);
    expect(lastBearer()).toBe(first);
    expect(`Bearer ${heldToken(b.gateway, handle)}`).toBe(first);

    world.gw.clock.advance(intoMargin);
    await allTrusted();
    const counted = refreshes();
    expect((await call(world.gw.url, '/orders/two', { session })).status).toBe(200);
    expect(refreshes() - counted).toBe(1);
    const second = lastBearer();
    expect(second).not.toBe(first);
    expect(`Bearer ${heldToken(world.gw.gateway, handle)}`).toBe(second);
    // B still holds the first tokens, due now, with the refresh token A's refresh consumed.
    expect(`Bearer ${heldToken(b.gateway, handle)}`).toBe(first);

    const reply = await call(b.url, '/orders/three', { session });
    expect(reply.status, reply.text).toBe(200);
    expect(lastBearer()).toBe(second);
    expect(refreshes() - counted).toBe(1);
    // And B's memory now holds the store's tokens: the next request asks neither store nor provider for them.
    expect(`Bearer ${heldToken(b.gateway, handle)}`).toBe(second);
    expect((await call(b.url, '/orders/four', { session })).status).toBe(200);
    expect(lastBearer()).toBe(second);
    expect(refreshes() - counted).toBe(1);
  });

  test('an OIDC session refreshes on a request to a static-secret route too; reading the session and logging out do not refresh', async () => {
    const { session } = await oidcLogin(world, 'sub-user');
    world.gw.clock.advance(intoMargin);
    await allTrusted();
    const counted = refreshes();
    expect((await call(world.gw.url, '/auth/session', { session })).status).toBe(200);
    expect(refreshes() - counted).toBe(0);
    expect((await call(world.gw.url, '/api/x', { session })).status).toBe(200);
    expect(refreshes() - counted).toBe(1);

    const other = await oidcLogin(world, 'sub-user');
    world.gw.clock.advance(intoMargin);
    await allTrusted();
    const before = refreshes();
    expect((await call(world.gw.url, '/auth/logout', { method: 'POST', session: other.session })).status).toBe(200); // 200 {logoutUrl}: an OIDC session's logout (SPEC §9)
    expect(refreshes() - before).toBe(0);
  });

  test('the provider refused the refresh token: the next request to any route ends the session (401 session_expired, cookie cleared, nothing upstream)', async () => {
    const { session } = await oidcLogin(world, 'sub-user');
    const handle = await newestHandle();
    expect((await call(b.url, '/orders/held', { session })).status).toBe(200);
    const record = (await world.gw.gateway.services.store.oidc.getSession(handle))!;
    const { refreshToken } = JSON.parse(open(world.gw.gateway.services.keyring, oidcTokensAad(handle), record.sealedTokens).toString('utf8')) as { refreshToken: string };
    const revoked = await fetch(revocationEndpoint, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: refreshToken, token_type_hint: 'refresh_token' }).toString(),
    });
    expect(revoked.status).toBe(200);

    world.gw.clock.advance(intoMargin);
    await allTrusted();
    const seen = world.upstream.seen.length;
    const reply = await call(b.url, '/api/x', { session });
    expect(reply.status).toBe(401);
    expect(reply.json().error.code).toBe('session_expired');
    expect(reply.setCookie.some((line) => line.startsWith('gatehouse=;'))).toBe(true);
    expect(world.upstream.seen.length).toBe(seen);
    expect(heldToken(b.gateway, handle)).toBeUndefined();
    // Ended everywhere, not merely refused once.
    expect((await call(world.gw.url, '/orders/mine', { session })).status).toBe(401);
  });

  test('the provider cannot be reached when the token is due: a user-token route answers 503 idp_unavailable, a static-secret route goes on, the session stays', async () => {
    const { session } = await oidcLogin(world, 'sub-user');
    world.gw.clock.advance(intoMargin);
    await allTrusted();
    await world.provider.pause();
    try {
      const own = await call(b.url, '/orders/mine', { session });
      expect(own.status).toBe(503);
      expect(own.json().error.code).toBe('idp_unavailable');
      expect(Number(own.headers['retry-after'])).toBeGreaterThan(0);
      const other = await call(b.url, '/api/x', { session });
      expect(other.status).toBe(200);
      expect(other.setCookie).toEqual([]);
    } finally {
      await world.provider.resume();
    }
    // The failure is shared for a second (decision 0011), then the next request refreshes.
    world.gw.clock.advance(2_000);
    await allTrusted();
    const counted = refreshes();
    expect((await call(b.url, '/orders/mine', { session })).status).toBe(200);
    expect(refreshes() - counted).toBe(1);
  });

  const revocations: [string, (session: string, handle: string) => Promise<void>][] = [
    ['logout on A', async (session) => {
      expect((await call(world.gw.url, '/auth/logout', { method: 'POST', session })).status).toBe(200);
    }],
    ['gatehouse session revoke ID', async (_session, handle) => {
      expect((await cli('session', 'revoke', handle)).code).toBe(0);
    }],
    ['gatehouse session revoke --user', async () => {
      expect((await cli('session', 'revoke', '--user', 'corp.alice')).code).toBe(0);
    }],
    ['gatehouse session revoke --all', async () => {
      expect((await cli('session', 'revoke', '--all')).code).toBe(0);
    }],
    ['the user\'s own revoke on A, from another session', async (_session, handle) => {
      const other = await oidcLogin(world, 'sub-user');
      expect((await call(world.gw.url, `/auth/sessions/${handle}`, { method: 'DELETE', session: other.session })).status).toBe(204);
    }],
    ['gatehouse user lock', async () => {
      const run = await cli('user', 'lock', 'corp.alice');
      expect(run.code, run.stderr).toBe(0);
    }],
  ];

  function cli(...args: string[]) {
    return runRaw([...args, '--config', join(world.gw.dir, 'gatehouse.yaml')]);
  }

  for (const [name, revoke] of revocations) {
    test(`${name}: the other gateways' memories drop the held tokens with the session; its next request there is 401 and the upstream sees nothing`, async () => {
      const { session } = await oidcLogin(world, 'sub-user');
      const handle = await newestHandle();
      await allTrusted();
      for (const g of [b.url, c.gateway.url]) expect((await call(g, '/orders/held', { session })).status).toBe(200);
      expect(heldToken(b.gateway, handle)).toBeTruthy();
      expect(heldToken(c.gateway, handle)).toBeTruthy();

      try {
        await revoke(session, handle);
        expect(heldToken(b.gateway, handle)).toBeUndefined();
        expect(heldToken(c.gateway, handle)).toBeUndefined();
        const seen = world.orders!.seen.length;
        for (const g of [b.url, c.gateway.url]) expect((await call(g, '/orders/after', { session })).status).toBe(401);
        expect(world.orders!.seen.length).toBe(seen);
      } finally {
        if (name === 'gatehouse user lock') expect((await cli('user', 'unlock', 'corp.alice')).code).toBe(0);
      }
    });
  }
});
