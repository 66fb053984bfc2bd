import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../src/storage/sqlite/open-sqlite-store.js';
import { loginThrough, startOidcWorkers, type OidcWorkers } from '../helpers/oidc-processes.js';
import { poll } from '../helpers/processes.js';

/**
 * SPEC §9 "concurrent requests of one session cause exactly one refresh at the provider, across
 * processes": the 50-request burst of oidc-refresh.test.ts, each request on a connection of its
 * own, handed out in turn to the two workers of `serve` (server.workers: 2, SQLite). The workers
 * share nothing but the store, so only the lease (decision 0011) keeps the second from refreshing
 * with the refresh token the first one's refresh consumed. The workers run on the real clock, so
 * the test makes the session's access token expire by writing its recorded expiry into the past,
 * through the store file the workers use.
 */

let world: OidcWorkers;

beforeAll(async () => {
  world = await startOidcWorkers({ name: 'refresh-workers', provider: { ttl: { accessToken: 60, idToken: 3600 } } });
}, 120_000);

afterAll(async () => {
  await world?.close();
});

describe('refresh with server.workers: 2 (SPEC §9, issue 13 item 6)', () => {
  it('50 parallel requests of one session with an expired access token, spread over both workers: one refresh at the provider, all 200, one new token upstream', async () => {
    const { dir, provider, orders, serve, fresh } = world;
    const session = await loginThrough(provider, 'sub-user', fresh);

    const store = openSqliteStore(join(dir, 'gatehouse.db'));
    try {
      const [record] = await store.sessions.list({ userName: 'corp.alice' });
      const oidc = (await store.oidc.getSession(record!.handle))!;
      await store.oidc.putSession({ ...oidc, accessExpiresAt: Date.now() - 1_000 });
    } finally {
      await store.close();
    }

    const counted = provider.tokenRequests.filter((t) => t === 'refresh_token').length;
    const seenFrom = orders.seen.length;
    const logFrom = serve.output().length;
    const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => fresh(`/orders/burst/${i}`, { session })));

    expect(replies.map((r) => r.status)).toEqual(Array(50).fill(200));
    expect(provider.tokenRequests.filter((t) => t === 'refresh_token').length - counted).toBe(1);
    expect(new Set(orders.seen.slice(seenFrom).map((s) => String(s.headers.authorization))).size).toBe(1);
    // Both workers answered part of the burst (their access log lines arrive when each flushes).
    const burstLines = (): string[] => serve.output().slice(logFrom).split('\n').filter((l) => l.includes('/orders/burst/'));
    await poll(async () => {
      if (burstLines().length < 50) throw new Error('access log lines still on their way');
    });
    expect(new Set(burstLines().map((l) => (JSON.parse(l) as { pid?: number }).pid)).size).toBe(2);
  }, 60_000);
});
