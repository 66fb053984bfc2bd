import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { call } from '../helpers/http.js';
import { accounts, oidcLogin, startOidcWorld, type OidcWorld } from '../helpers/oidc-journey.js';

/**
 * A user the provider no longer grants anything (`requireRole: true`: a login that maps to no role
 * is refused) keeps using the session from before. SPEC §9 computes roles "at every login and
 * refresh": the refresh that maps to no role ends the session as a refused refresh does — 401
 * session_expired, the cookie cleared, nothing upstream, audited with the reason — rather than
 * leaving a session with no role (a 403 would keep a dead cookie in use).
 */
describe('a session whose user lost every role at the provider cannot go on (requireRole)', () => {
  let world: OidcWorld;
  beforeAll(async () => {
    world = await startOidcWorld({ orders: true, corp: { requireRole: true }, provider: { ttl: { accessToken: 60, idToken: 3600 } } });
  });
  afterAll(async () => {
    await world?.close();
  });

  test('the refresh after the provider took the last role away: 401 session_expired, nothing upstream, the session ended and audited', async () => {
    const alice = accounts.find((a) => a.sub === 'sub-user')!;
    const { session } = await oidcLogin(world, 'sub-user');
    expect((await call(world.gw.url, '/orders/before', { session })).status).toBe(200);
    const store = world.gw.gateway.services.store;
    try {
      alice.email_verified = false;
      world.gw.clock.advance(61_000);
      const seenFrom = world.orders!.seen.length;
      const replies = await Promise.all(Array.from({ length: 5 }, (_, i) => call(world.gw.url, `/orders/burst/${i}`, { session })));
      expect(replies.map((r) => r.status)).toEqual(Array(5).fill(401));
      expect(replies.some((r) => r.json().error.code === 'session_expired')).toBe(true);
      expect(replies.every((r) => ['session_expired', 'unauthenticated'].includes(r.json().error.code))).toBe(true);
      expect(replies.every((r) => r.cookie === null)).toBe(true);
      expect(world.orders!.seen.length).toBe(seenFrom);
      expect(await store.sessions.list({ userName: 'corp.alice' })).toEqual([]);
      const events = await store.audit.recent(20);
      expect(events.find((e) => e.type === 'session_revoked' && e.detail.reason === 'no_role_mapped')).toMatchObject({ user: 'corp.alice' });
      expect((await call(world.gw.url, '/api/x', { session })).status).toBe(401);
    } finally {
      alice.email_verified = true;
    }
  });
});
