import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loginThrough, startOidcWorkers, type OidcWorkers } from '../helpers/oidc-processes.js';

/**
 * Token exchange (RFC 8693, decision 0013) over the two workers of `serve` (SQLite): each worker
 * keeps its own exchanged tokens, so a burst spread over both costs at most one exchange per worker
 * (a second one is harmless: an exchange consumes nothing), and later requests cost none. A new
 * exchange after a refresh is proven in one process with a moved clock
 * (oidc-token-exchange.test.ts): the workers run on the real clock, and the tests do not wait for it.
 */

const audience = 'https://orders.api';
let world: OidcWorkers;

beforeAll(async () => {
  world = await startOidcWorkers({
    name: 'exchange-workers',
    provider: { ttl: { accessToken: 600, idToken: 3600 }, tokenExchange: { audiences: { [audience]: ['orders.read'] } } },
    yaml: { exchange: `{ audience: "${audience}", scope: orders.read }` },
  });
}, 120_000);

afterAll(async () => {
  await world?.close();
});

describe('token exchange with server.workers: 2', () => {
  it('a burst over both workers: at most one exchange per worker, then none', async () => {
    const { provider, orders, fresh } = world;
    const session = await loginThrough(provider, 'sub-user', fresh);

    const burst = async (tag: string): Promise<string[]> => {
      const from = orders.seen.length;
      const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => fresh(`/orders/${tag}/${i}`, { session })));
      expect(replies.map((r) => r.status)).toEqual(Array(20).fill(200));
      return orders.seen.slice(from).map((s) => String(s.headers.authorization).slice('Bearer '.length));
    };

    const first = await burst('first');
    expect(provider.exchanges.length).toBeGreaterThanOrEqual(1);
    expect(provider.exchanges.length).toBeLessThanOrEqual(2);
    for (const token of new Set(first)) expect(await provider.inspect(token)).toMatchObject({ sub: 'sub-user', aud: audience, scope: 'orders.read', exchanged: true });

    const exchangedBefore = provider.exchanges.length;
    const second = await burst('second');
    expect(provider.exchanges.length).toBe(exchangedBefore);
    for (const token of second) expect(first).toContain(token);
  }, 60_000);
});
