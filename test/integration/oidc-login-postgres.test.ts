import { describe, expect, test } from 'vitest';
import { call } from '../helpers/http.js';
import { beginJourney, finishJourney, oidcLogin, startOidcWorld } from '../helpers/oidc-journey.js';
import { usePostgres } from '../helpers/postgres.js';
import { useRedis } from '../helpers/redis.js';

const postgres = usePostgres();
const redis = useRedis();

/** SPEC §9 on the PostgreSQL store (SPEC §8): the same round trip, identities and login states in PostgreSQL. */
describe('OIDC login round trip on PostgreSQL', () => {
  test('a login creates the user by (issuer, sub), the session works, the state is used once', async () => {
    const world = await startOidcWorld({ config: { store: { postgres: await postgres.server.createDatabase() }, cache: { redis: redis.server.url } } });
    try {
      const { session, journey } = await oidcLogin(world, 'sub-admin', '/app');
      expect((await call(world.gw.url, '/auth/session', { session })).json().user).toEqual({ name: 'corp.ada', roles: ['admin', 'user'] });
      const replay = await finishJourney(world, journey);
      expect([replay.status, replay.json().error.code]).toEqual([400, 'oidc_state_invalid']);
      const other = await beginJourney(world);
      expect((await finishJourney(world, other, '')).status).toBe(400);
      const [live] = await world.gw.gateway.services.store.sessions.list({ userName: 'corp.ada' });
      expect(await world.gw.gateway.services.store.oidc.getSession(live!.handle)).toMatchObject({ subject: 'sub-admin', amr: ['pwd', 'otp'] });
    } finally {
      await world.close();
    }
  });
});
