import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PASSWORD } from '../helpers/gateway.js';
import { call, login } from '../helpers/http.js';
import { oidcLogin, startOidcWorld, type OidcWorld } from '../helpers/oidc-journey.js';

/**
 * Account takeover by matching e-mail or name (the "nOAuth" class of flaws: a relying party that
 * joins a provider's user to a local account by a mutable, provider-asserted claim). Anyone who can
 * set their e-mail or username at the provider would become the local user. SPEC §9: the user is
 * identified by (issuer, sub), never by e-mail; a local user logs in through a provider only after
 * `gatehouse user link-oidc`.
 */
describe('a provider user whose e-mail and names match local users', () => {
  let world: OidcWorld;
  beforeAll(async () => {
    world = await startOidcWorld({
      provider: {
        accounts: [{ sub: 'sub-impostor', email: 'alice@corp.example', email_verified: true, preferred_username: 'alice', groups: ['gatehouse-admins'] }],
      },
    });
    // Local users named like the provider's claims would make them: "alice" and even "corp.alice".
    await world.gw.gateway.services.accounts.add({ name: 'corp.alice', roles: ['user'], password: PASSWORD, requireReset: false }, { user: 'test' });
  });
  afterAll(async () => {
    await world?.close();
  });

  test('does not become any of them: a new user of its own, and the local users are untouched', async () => {
    const { session } = await oidcLogin(world, 'sub-impostor');
    const me = (await call(world.gw.url, '/auth/session', { session })).json().user;
    expect(['alice', 'corp.alice']).not.toContain(me.name);
    // The name it would get (corp.alice) is taken: it gets another, never the local user.
    expect(me.name).toBe('corp.alice-2');
    for (const name of ['alice', 'corp.alice']) {
      const local = await world.gw.gateway.services.store.users.get(name);
      expect(local?.roles).toEqual(['user']);
      expect((await call(world.gw.url, '/auth/session', { session: await login(world.gw.url, name) })).json().user.name).toBe(name);
      expect(await world.gw.gateway.services.store.oidc.identitiesOf(name)).toEqual([]);
    }
  });
});

/**
 * A removed user's name given to someone else (`user remove alice`, later `user add alice`): an
 * identity once linked to the old alice must not log in as the new one.
 */
describe('a provider identity of a removed user', () => {
  test('is removed with the user: the same name created again is not reached through the provider', async () => {
    const world = await startOidcWorld();
    try {
      const { services } = world.gw.gateway;
      expect(await services.store.oidc.link({ issuer: world.provider.issuer, subject: 'sub-admin', userName: 'alice', createdAt: 0 })).toBe(true);
      expect(await services.accounts.remove('alice', { user: 'test' })).toBe(true);
      await services.accounts.add({ name: 'alice', roles: ['user'], password: PASSWORD, requireReset: false }, { user: 'test' });
      const { session } = await oidcLogin(world, 'sub-admin');
      expect((await call(world.gw.url, '/auth/session', { session })).json().user.name).toBe('corp.ada');
      expect(await services.store.oidc.identitiesOf('alice')).toEqual([]);
    } finally {
      await world.close();
    }
  });
});
