import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { call, login } from '../helpers/http.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/**
 * The once-a-minute housekeeping deletes blocks that have ended, so the blocks table does not grow
 * with every address ever blocked, and leases whose holders died (cluster/lease-store.ts). The test moves the gateway's clock and runs one round itself.
 */

let upstream: TestUpstream;
let gw: TestGateway;

beforeAll(async () => {
  upstream = await startUpstream();
  gw = await startGateway({
    upstreamUrl: upstream.url,
    config: {
      routes: [{ path: '/api/**', methods: ['GET'], upstream: 'api', stripPrefix: '/api' }],
      limits: [{ name: 'per-user', match: '/api/**', by: 'user', max: 1, per: '1m', action: 'block', for: '5m' }],
    },
  });
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

describe('housekeeping', () => {
  it('purges a block once it has ended, and not before', async () => {
    const cookie = await login(gw.url, 'alice');
    expect((await call(gw.url, '/api/x', { session: cookie })).status).toBe(200);
    expect((await call(gw.url, '/api/x', { session: cookie })).status).toBe(403);
    const stored = (): Promise<unknown[]> => gw.gateway.services.store.blocks.list(0);
    expect(await stored()).toHaveLength(1);

    gw.clock.advance(5 * 60_000 - 1);
    await gw.gateway.housekeep();
    expect(await stored()).toHaveLength(1);

    gw.clock.advance(1);
    await gw.gateway.housekeep();
    expect(await stored()).toEqual([]);
  });

  it("purges the lease of a holder that died once it has expired, and a live one not", async () => {
    const leases = gw.gateway.services.store.leases;
    const now = gw.clock.now();
    await leases.acquire('refresh:died', 'died', 10_000, now);
    await leases.acquire('refresh:live', 'live', 60_000, now);
    gw.clock.advance(10_000);
    await gw.gateway.housekeep();
    // What is left for the next purge: only the live lease.
    expect(await leases.purge(gw.clock.now() + 60_000)).toBe(1);
  });
});
