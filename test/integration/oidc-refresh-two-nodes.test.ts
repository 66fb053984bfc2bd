import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../helpers/http.js';
import { at, loginThrough, startOidcNodes, type OidcNodes } from '../helpers/oidc-processes.js';
import { usePostgres } from '../helpers/postgres.js';
import { gatehouse } from '../helpers/processes.js';
import { useRedis } from '../helpers/redis.js';

/**
 * SPEC §9 "exactly one refresh at the provider, across processes and nodes too": the 50-request
 * burst of oidc-refresh.test.ts over two `serve` nodes sharing one PostgreSQL and one Redis, the
 * requests alternating between them. Only the lease in PostgreSQL (decision 0011) keeps the second
 * node from refreshing with the refresh token the first one's refresh consumed. The nodes run on
 * the real clock, so the access token is made due by writing its recorded expiry into the past.
 */

const postgres = usePostgres();
const redis = useRedis();
let world: OidcNodes;

beforeAll(async () => {
  world = await startOidcNodes({ name: 'refresh-two-nodes', provider: { ttl: { accessToken: 60, idToken: 3600 } }, postgres, redis, redisPrefix: 'rn:' });
}, 120_000);

afterAll(async () => {
  await world?.close();
});

describe('refresh over two nodes on PostgreSQL (SPEC §9, issue 13 item 6)', () => {
  it('50 parallel requests of one session with an expired access token, alternating between the nodes: one refresh at the provider, all 200, one new token upstream', async () => {
    const { provider, orders } = world;
    const [a, b] = [world.nodes[0].base, world.nodes[1].base];
    // Login begun on one node and finished on the other: the login state is in the shared store.
    const session = await loginThrough(provider, 'sub-user', at(a), at(b));

    const client = new pg.Client({ connectionString: world.databaseUrl });
    await client.connect();
    try {
      const updated = await client.query('UPDATE oidc_sessions SET access_expires_at = $1', [Date.now() - 1_000]);
      expect(updated.rowCount).toBe(1);
    } finally {
      await client.end();
    }

    const counted = provider.tokenRequests.filter((t) => t === 'refresh_token').length;
    const seenFrom = orders.seen.length;
    const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => call(i % 2 === 0 ? a : b, `/orders/burst/${i}`, { session })));

    expect(replies.map((r) => r.status)).toEqual(Array(50).fill(200));
    expect(provider.tokenRequests.filter((t) => t === 'refresh_token').length - counted).toBe(1);
    expect(new Set(orders.seen.slice(seenFrom).map((s) => String(s.headers.authorization))).size).toBe(1);
  }, 60_000);

  it('the tokens each node holds beside the session (decision 0012) go with it: after a logout on a, or `gatehouse session revoke --user` beside the nodes, the next user-token request on either node is 401 and the upstream sees nothing', async () => {
    const { provider, orders } = world;
    const [a, b] = [world.nodes[0].base, world.nodes[1].base];
    for (const how of ['logout on a', 'CLI revoke'] as const) {
      const session = await loginThrough(provider, 'sub-user', at(a));
      // Twice on each node, so that each holds the session and its tokens in memory.
      for (const node of [a, b, a, b]) expect((await call(node, '/orders/held', { session })).status, how).toBe(200);

      const seen = orders.seen.length;
      if (how === 'logout on a') expect((await call(a, '/auth/logout', { method: 'POST', session })).status).toBe(200);
      else expect(gatehouse(['session', 'revoke', '--user', 'corp.alice', '--config', world.nodes[0].configFile])).toMatchObject({ code: 0 });
      for (const node of [b, a]) expect((await call(node, '/orders/after', { session })).status, how).toBe(401);
      expect(orders.seen.length, how).toBe(seen);
    }
  }, 60_000);
});
