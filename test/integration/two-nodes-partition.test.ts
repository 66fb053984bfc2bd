import { createClient } from '@redis/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { clusterPassword as password, startCluster, type Cluster } from '../helpers/cluster.js';
import { call, login } from '../helpers/http.js';
import { usePostgres } from '../helpers/postgres.js';
import { gatehouse, poll } from '../helpers/processes.js';
import { useRedis } from '../helpers/redis.js';
import type { TcpRelay } from '../helpers/tcp-relay.js';

/**
 * SPEC §8 "Revocation stays immediate" and "Failures" when one node is partitioned: node a reaches
 * PostgreSQL and Redis only through TCP relays (test/helpers/tcp-relay.ts), node b and the CLI
 * directly. `cut()` is a partition as it usually looks (nothing forwarded, connections held open,
 * so only timeouts tell); `reset()` one that announces itself (connections reset, new ones
 * refused). Every process is real: PostgreSQL, redis-server, two `serve` processes, the built CLI.
 */

const postgres = usePostgres();
const redis = useRedis();
let cluster: Cluster;
let a: string;
let b: string;
let relays: { postgres: TcpRelay; redis: TcpRelay };
let observer: ReturnType<typeof createClient>;

beforeAll(async () => {
  cluster = await startCluster({
    postgres: postgres.server,
    redis: redis.server,
    users: ['alice', 'bob'],
    relayed: true,
    // A request that needs the store is answered 503 once this has passed (SPEC §8).
    storeTimeout: '1s',
    // A rule that blocks by session: every proxied request also asks the block memory.
    extra: ['limits: [{ name: fence, match: /api/fenced/**, by: session, max: 1, per: 1m, action: block, for: 15m }]'],
  });
  [a, b] = cluster.nodes.map((n) => n.base) as [string, string];
  relays = cluster.relays!;
  observer = createClient({ url: redis.server.url });
  observer.on('error', () => {});
  await observer.connect();
}, 120_000);
afterAll(async () => {
  observer?.destroy();
  await cluster?.stop();
});
afterEach(async () => {
  relays.postgres.restore();
  relays.redis.restore();
  relays.redis.delay(0);
});

const proxied = (base: string, cookie: string) => call(base, '/api/x', { session: cookie });
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A fresh session of `user`, made on b and already served from a's memory. */
async function knownToA(user = 'alice'): Promise<string> {
  const cookie = await login(b, user, password);
  expect((await proxied(a, cookie)).status).toBe(200);
  expect((await proxied(a, cookie)).status).toBe(200);
  return cookie;
}

/** Not 200, and not 401 either: a store failure never logs anyone out (SPEC §8 "Failures"). */
function expectUnavailable(reply: Awaited<ReturnType<typeof call>>, what: string): void {
  expect([reply.status, reply.status === 503 ? reply.json().error?.code : reply.text.slice(0, 200)], what).toEqual([503, 'store_unavailable']);
}

/**
 * Both nodes subscribed to the channel again (a's subscriber reconnects on its own backoff, up to a
 * second), and a beat for the follower's catch-up read that trust waits for after a drop.
 */
async function bothSubscribed(): Promise<void> {
  await poll(async () => {
    const channels = (await observer.pubSubChannels('*')).filter((name) => name.endsWith('nodes'));
    const counts = channels.length === 1 ? await observer.pubSubNumSub(channels) : {};
    if (Object.values(counts)[0] !== 2) throw new Error(`subscribers: ${JSON.stringify(counts)}`);
  });
  await pause(300);
}

/** After restore: the kept session works on a again (no restart), the revoked one is 401 there, never 200 on the way. */
async function recovered(kept: string, revoked: string[], label: string): Promise<void> {
  await poll(async () => {
    for (const cookie of revoked) {
      const status = (await proxied(a, cookie)).status;
      expect(status, `${label}: a revoked session while a recovers`).not.toBe(200);
      if (status !== 401) throw new Error(`revoked: ${status}`);
    }
    const status = (await proxied(a, kept)).status;
    if (status !== 200) throw new Error(`kept: ${status}`);
  });
}

describe('node a partitioned from PostgreSQL and Redis (SPEC §8)', () => {
  for (const mode of ['cut', 'reset'] as const) {
    it(`${mode}: a logout and a CLI revoke on node b are never answered 200 by node a's memory on its very next request; a known session stops being answered from memory after 1 s; after the link is back, no restart, the kept session works and the revoked ones are 401 (3 rounds)`, async () => {
      for (let round = 0; round < 3; round++) {
        const label = `${mode} round ${round}`;
        const kept = await knownToA();
        const loggedOut = await knownToA();
        const cliRevoked = await knownToA('bob');
        const cutAt = Date.now();
        relays.postgres[mode]();
        relays.redis[mode]();

        // Logout on b: b waits for a (its registry row and alive record are fresh) up to 1 s.
        expect((await call(b, '/auth/logout', { method: 'POST', session: loggedOut })).status, label).toBe(204);
        expectUnavailable(await proxied(a, loggedOut), `${label}: the logged-out session on a, next request`);

        // The CLI beside b (its configuration, direct links): `session revoke --user`.
        const revoked = gatehouse(['session', 'revoke', '--user', 'bob', '--config', cluster.nodes[1].configFile]);
        expect(revoked.code, `${label}: ${revoked.stderr}`).toBe(0);
        expectUnavailable(await proxied(a, cliRevoked), `${label}: the CLI-revoked session on a, next request`);

        // Heard from neither the channel nor the log for over 1 s: the unrevoked session is not
        // answered from memory either (a store read, which fails).
        await pause(Math.max(0, 1_100 - (Date.now() - cutAt)));
        expectUnavailable(await proxied(a, kept), `${label}: a session nobody revoked, 1 s after the cut`);
        // Node b is untouched.
        expect((await proxied(b, kept)).status, label).toBe(200);
        expect((await proxied(b, loggedOut)).status, label).toBe(401);

        relays.postgres.restore();
        relays.redis.restore();
        await recovered(kept, [loggedOut, cliRevoked], label);
        await bothSubscribed();
      }
    }, 180_000);
  }

  it('cut from both and no revocation anywhere: 1 s after the cut a known session is no longer answered from memory (heard from neither), by cut() and by reset(), 2 rounds each; back without a restart', async () => {
    for (const mode of ['cut', 'reset', 'cut', 'reset'] as const) {
      const kept = await knownToA();
      const cutAt = Date.now();
      relays.postgres[mode]();
      relays.redis[mode]();
      await pause(Math.max(0, 1_000 - (Date.now() - cutAt)));
      expectUnavailable(await proxied(a, kept), `${mode}: 1 s after the cut`);
      relays.postgres.restore();
      relays.redis.restore();
      await recovered(kept, [], mode);
      await bothSubscribed();
    }
  }, 180_000);

  it("cut from PostgreSQL only, its Redis link slow (300 ms towards it): a known session keeps working on a (the channel vouches), and after a logout on b a's very next request is not 200 (b waits for a, found in the channel's alive record, not in the registry): 5 rounds", async () => {
    await bothSubscribed();
    relays.redis.delay(300);
    for (let round = 0; round < 5; round++) {
      const label = `round ${round}`;
      relays.postgres.restore();
      const kept = await knownToA();
      relays.postgres.cut();
      // Past 1 s its heartbeat no longer counts in the registry: only the alive record names it.
      await pause(1_500);
      if (round === 0) expectUnavailable(await proxied(a, await login(b, 'alice', password)), `${label}: a session a has never seen`);
      expect((await proxied(a, kept)).status, `${label}: a known session, PostgreSQL cut off for a`).toBe(200);
      expect((await call(b, '/auth/logout', { method: 'POST', session: kept })).status).toBe(204);
      // Forgotten on the `revoked` message: a then asks the store, which it cannot reach.
      expectUnavailable(await proxied(a, kept), `${label}: the very next request on a after b's logout`);
    }
    relays.postgres.restore();
  }, 180_000);
});
