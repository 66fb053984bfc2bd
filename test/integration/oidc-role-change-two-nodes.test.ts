import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../helpers/http.js';
import { accounts } from '../helpers/oidc-journey.js';
import { at, loginThrough, startOidcNodes, type OidcNodes } from '../helpers/oidc-processes.js';
import { type ProviderAccount } from '../helpers/oidc-provider.js';
import { usePostgres } from '../helpers/postgres.js';
import { useRedis } from '../helpers/redis.js';

/**
 * oidc-role-change-workers.test.ts over two `serve` nodes sharing one PostgreSQL and one Redis:
 * each node remembers the session (user and roles) it served; a refresh on node A whose claims no
 * longer give `admin` makes the admin-only route answer 403 on node B at its very next request,
 * because the role change is announced and confirmed as a revocation is (SPEC §8). The nodes run on
 * the real clock, so the access token is made due by writing its recorded expiry into the past,
 * which only a node that does not hold the session's tokens in memory (decision 0012) reads.
 */

const postgres = usePostgres();
const redis = useRedis();
let world: OidcNodes;
/** The provider's own copy of the accounts: the test takes a group away from one. */
const own: ProviderAccount[] = accounts.map((a) => ({ ...a, groups: [...(a.groups ?? [])] }));
const ada = own.find((a) => a.sub === 'sub-admin')!;

beforeAll(async () => {
  world = await startOidcNodes({ name: 'role-change-two-nodes', provider: { accounts: own, ttl: { accessToken: 60, idToken: 3600 } }, yaml: { admin: true }, postgres, redis, redisPrefix: 'rc:' });
}, 120_000);

afterAll(async () => {
  await world?.close();
});

describe('a role change reaches every node at once (SPEC §8, §9; issue 13 items 3 and 6)', () => {
  it('a refresh on node A that removes admin: the admin-only route answers 403 on node B, which remembered the session as admin, at its very next request', async () => {
    const { provider } = world;
    const [a, b] = [world.nodes[0].base, world.nodes[1].base];
    const session = await loginThrough(provider, 'sub-admin', at(a));
    // Logging in remembers nothing, so only node B remembers the session, as admin, with its tokens.
    expect((await call(b, '/admin/before', { session })).status).toBe(200);

    ada.groups = [];
    const client = new pg.Client({ connectionString: world.databaseUrl });
    await client.connect();
    try {
      expect((await client.query('UPDATE oidc_sessions SET access_expires_at = $1', [Date.now() - 1_000])).rowCount).toBe(1);
    } finally {
      await client.end();
    }
    const counted = provider.tokenRequests.filter((t) => t === 'refresh_token').length;
    // Node A has not remembered the session: it reads the store, finds the access token due and refreshes.
    expect((await call(a, '/orders/refresh', { session })).status).toBe(200);
    expect(provider.tokenRequests.filter((t) => t === 'refresh_token').length - counted).toBe(1);

    expect((await call(b, '/admin/after', { session })).status).toBe(403);
    expect((await call(a, '/admin/after', { session })).status).toBe(403);
    // Forgotten, not ended: the session goes on, on either node, with the roles it has now.
    expect((await call(b, '/orders/still', { session })).status).toBe(200);
  }, 60_000);
});
