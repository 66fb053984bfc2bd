import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { call, type Reply } from '../helpers/http.js';
import { heldTokens, providerSession, refreshAtProvider, sessionServes } from '../helpers/logout-token.js';
import { startOidcWorld, type OidcWorld } from '../helpers/oidc-journey.js';
import type { TestProviderOptions } from '../helpers/oidc-provider.js';

/** Past the fixture's 60 s access token lifetime, on the gateway's clock. */
const pastAccessExpiry = 61_000;

/**
 * The provider's answer to the next refresh, held until the test releases it: the refresh token it
 * issued is read from the answer itself, since the gateway must not keep it anywhere.
 */
class HeldRefresh {
  issued: string | null = null;
  #arrived: (() => void) | null = null;
  #release: (() => void) | null = null;
  #armed = false;

  readonly hook: NonNullable<TestProviderOptions['holdRefreshAnswer']> = async (answer) => {
    if (!this.#armed) return;
    this.#armed = false;
    this.issued = answer.refresh_token ?? null;
    this.#arrived?.();
    await new Promise<void>((resolve) => {
      this.#release = resolve;
    });
  };

  /** Holds the next refresh answer; resolves once the provider has issued its tokens and is holding them. */
  arm(): Promise<void> {
    this.#armed = true;
    this.issued = null;
    return new Promise<void>((resolve) => {
      this.#arrived = resolve;
    });
  }

  release(): void {
    this.#release?.();
  }
}

/**
 * A refresh already on its way to the provider when the session ends (the user logs out, an admin
 * revokes it): the provider rotates the refresh token and answers after the end. Decision 0011: the
 * gateway keeps nothing of that answer (no record outlives the session) and the refresh token
 * issued in it is dead at the provider, so no live credential of an ended session is left behind,
 * in our store or at the provider.
 */
describe('a refresh that finishes after the session ended leaves no live refresh token', () => {
  const held = new HeldRefresh();
  let world: OidcWorld;
  afterEach(() => held.release());
  afterAll(async () => {
    await world?.close();
  });

  async function expectNothingLeft(handle: string, reply: Reply): Promise<void> {
    expect(held.issued).toBeTruthy();
    // The provider's own answer: the token it issued in that refresh no longer refreshes.
    expect(await refreshAtProvider(world, held.issued!)).toEqual({ status: 400, error: 'invalid_grant' });
    expect(await world.gw.gateway.services.store.oidc.getSession(handle)).toBeNull();
    // The request that triggered the refresh belonged to a session that ended under it.
    expect(reply.status).toBe(401);
    expect(world.gw.logs()).not.toContain(held.issued!);
  }

  describe('logout, at a provider whose revocation revokes only the presented token (RFC 7009 §2.1)', () => {
    beforeAll(async () => {
      world = await startOidcWorld({ orders: true, provider: { ttl: { accessToken: 60, idToken: 3600 }, revocation: 'token', holdRefreshAnswer: held.hook } });
    });

    test('POST /auth/logout while the refresh answer is held: after its release, the refresh token issued in it is invalid_grant and no OIDC record remains', async () => {
      const target = await providerSession(world);
      const before = await heldTokens(world, target.handle);
      world.gw.clock.advance(pastAccessExpiry);
      const arrived = held.arm();
      const request = call(world.gw.url, '/orders/during-logout', { session: target.cookie });
      await arrived;
      expect(held.issued).not.toBe(before.refreshToken);

      const logout = await call(world.gw.url, '/auth/logout', { method: 'POST', session: target.cookie });
      expect(logout.status).toBe(200);
      expect(await sessionServes(world, target.cookie)).toBe(false);
      held.release();

      await expectNothingLeft(target.handle, await request);
      // The token the logout read (the one the held refresh consumed) is dead too.
      expect(await refreshAtProvider(world, before.refreshToken!)).toEqual({ status: 400, error: 'invalid_grant' });
    });

    test('a refresh that stores its tokens after logout read the record and before the session ended: the logout revokes the rotated refresh token, not only the one it read', async () => {
      const target = await providerSession(world);
      const before = await heldTokens(world, target.handle);
      world.gw.clock.advance(pastAccessExpiry);
      // The interleaving, forced: logout has read the record (the old refresh token); just before
      // its session row is deleted, another request of the session refreshes and stores new tokens.
      const sessions = world.gw.gateway.services.store.sessions;
      const remove = sessions.delete.bind(sessions);
      let during: Reply | null = null;
      sessions.delete = async (idHash) => {
        sessions.delete = remove;
        during = await call(world.gw.url, '/orders/between-read-and-end', { session: target.cookie });
        return remove(idHash);
      };
      try {
        const logout = await call(world.gw.url, '/auth/logout', { method: 'POST', session: target.cookie });
        expect(logout.status).toBe(200);
      } finally {
        sessions.delete = remove;
      }
      expect(during!.status).toBe(200);
      const rotated = await heldTokens(world, target.handle);
      expect(rotated.refreshToken).not.toBe(before.refreshToken);
      expect(await refreshAtProvider(world, rotated.refreshToken!)).toEqual({ status: 400, error: 'invalid_grant' });
      expect(world.gw.logs()).not.toContain(rotated.refreshToken!);
    });
  });
});

describe('a refresh that finishes after an admin revoked the session leaves no live refresh token', () => {
  const held = new HeldRefresh();
  let world: OidcWorld;
  beforeAll(async () => {
    world = await startOidcWorld({ orders: true, provider: { ttl: { accessToken: 60, idToken: 3600 }, holdRefreshAnswer: held.hook } });
  });
  afterEach(() => held.release());
  afterAll(async () => {
    await world?.close();
  });

  test('revoked by handle (as `gatehouse sessions revoke` does) while the refresh answer is held: the issued refresh token is invalid_grant, no OIDC record remains', async () => {
    const target = await providerSession(world);
    world.gw.clock.advance(pastAccessExpiry);
    const arrived = held.arm();
    const request = call(world.gw.url, '/orders/during-revoke', { session: target.cookie });
    await arrived;

    const revoked = await world.gw.gateway.services.sessions.revokeByHandle(target.handle, { user: 'admin', ip: null, requestId: null }, 'admin');
    expect(revoked?.handle).toBe(target.handle);
    held.release();

    const reply = await request;
    expect(held.issued).toBeTruthy();
    expect(await refreshAtProvider(world, held.issued!)).toEqual({ status: 400, error: 'invalid_grant' });
    expect(await world.gw.gateway.services.store.oidc.getSession(target.handle)).toBeNull();
    expect(reply.status).toBe(401);
    expect(world.gw.logs()).not.toContain(held.issued!);
  });
});
