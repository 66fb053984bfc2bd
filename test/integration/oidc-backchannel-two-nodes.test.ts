import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, type Reply } from '../helpers/http.js';
import { realTimeLogoutClaims, signLogoutToken } from '../helpers/logout-token.js';
import { at, loginThrough, startOidcNodes, type OidcNodes } from '../helpers/oidc-processes.js';
import { usePostgres } from '../helpers/postgres.js';
import { useRedis } from '../helpers/redis.js';

/**
 * SPEC §9 back-channel logout "on the very next request (every worker and node)": two `serve` nodes
 * sharing one PostgreSQL and one Redis, each remembering the session; the logout token reaches node
 * A, and the very next request at node B is refused. A replay of the token at node B is refused too
 * (the jti is recorded in the shared store).
 */

const postgres = usePostgres();
const redis = useRedis();
let world: OidcNodes;

beforeAll(async () => {
  // The provider puts `sid` in the ID token of a client registered for back-channel logout (at node A).
  world = await startOidcNodes({ name: 'backchannel-two-nodes', backchannelLogout: true, postgres, redis, redisPrefix: 'bl:' });
}, 120_000);

afterAll(async () => {
  await world?.close();
});

describe('back-channel logout over two nodes on PostgreSQL (SPEC §9, issue 13 item 7)', () => {
  it('a logout token received by node A: the very next request at node B is refused; its replay at node B too', async () => {
    const { provider } = world;
    const [a, b] = [world.nodes[0].base, world.nodes[1].base];
    const session = await loginThrough(provider, 'sub-user', at(a), at(b));
    // Both nodes know the session (and remember it).
    for (const base of [a, b, a, b]) expect((await call(base, '/auth/session', { session })).status).toBe(200);

    const client = new pg.Client({ connectionString: world.databaseUrl });
    await client.connect();
    let target: { sid: string | null; sub: string; issuer: string };
    try {
      const row = (await client.query<{ sid: string | null; subject: string; issuer: string }>('SELECT sid, subject, issuer FROM oidc_sessions')).rows[0]!;
      target = { sid: row.sid, sub: row.subject, issuer: row.issuer };
    } finally {
      await client.end();
    }
    expect(target.sid).toBeTruthy();

    const form = new URLSearchParams({ logout_token: await signLogoutToken({ provider }, realTimeLogoutClaims(target.issuer, target)) }).toString();
    const post = (base: string): Promise<Reply> => call(base, '/auth/oidc/backchannel-logout/corp', { method: 'POST', csrf: false, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form });
    expect((await post(a)).status).toBe(200);
    expect((await call(b, '/auth/session', { session })).status).toBe(401);
    expect((await call(a, '/auth/session', { session })).status).toBe(401);
    const replay = await post(b);
    expect([replay.status, replay.json().error.code]).toEqual([400, 'invalid_logout_token']);
  }, 60_000);
});
