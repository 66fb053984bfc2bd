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
