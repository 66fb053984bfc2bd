import { ClientOfflineError, TimeoutReadError } from '@redis/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { useRedis } from '../../../test/helpers/redis.js';
import { createRedisClient, type RedisClient } from './create-redis-client.js';
import { RedisCounterStore, type RedisCommandSender } from './redis-counter-store.js';
import { elapsed } from '../../../test/helpers/elapsed.js';

/** What the contract suite cannot say about Redis: many nodes at once, keys, expiry, failure. */
const redis = useRedis();
const timeoutMs = 300;
/** The machine is shared: a command may be late by this much without the test calling it a hang. */
const slackMs = 400;
const clients: RedisClient[] = [];
let observer: RedisClient;

async function connected(timeout = 5_000): Promise<RedisClient> {
  const client = createRedisClient({ url: redis.server.url, timeoutMs: timeout });
  clients.push(client);
  await client.connect();
  return client;
}

beforeAll(async () => {
  observer = await connected();
});
afterEach(async () => {
  redis.server.thaw();
  await redis.server.start(); // one test that failed while it was down must not fail the next
  await expect.poll(() => observer.ping().catch(() => 'no'), { timeout: 5_000 }).toBe('PONG');
});
afterAll(() => {
  for (const client of clients) if (client.isOpen) client.destroy();
});

describe('RedisCounterStore across nodes', () => {
  it('lets exactly one of eight nodes through when they take at max - 1 at once (200 rounds)', async () => {
    const nodes = await Promise.all(Array.from({ length: 8 }, () => connected()));
    const stores = nodes.map((client) => new RedisCounterStore({ client, prefix: 'gh:race:' }));
    const now = Date.now();
    for (let round = 0; round < 200; round += 1) {
      const key = `k${round}`;
      const max = 1 + (round % 5);
      for (let i = 0; i < max - 1; i += 1) expect((await stores[i % 8]!.take(key, now, 60_000, max)).allowed).toBe(true);
      const results = await Promise.all(stores.map((s) => s.take(key, now + 1, 60_000, max)));
      expect(results.filter((r) => r.allowed), `round ${round}`).toEqual([{ allowed: true, count: max, retryAt: null }]);
      expect(await stores[0]!.count(key, now + 1, 60_000, max)).toMatchObject({ count: max });
    }
  });

  it('of holds set at once by many nodes, the latest end wins', async () => {
    const nodes = await Promise.all(Array.from({ length: 8 }, () => connected()));
    const stores = nodes.map((client) => new RedisCounterStore({ client, prefix: 'gh:holds:' }));
    const now = Date.now();
    for (let round = 0; round < 50; round += 1) {
      const ends = stores.map((_, i) => now + 1_000 + ((i * 7 + round) % 8) * 100);
      await Promise.all(stores.map((s, i) => s.block(`k${round}`, ends[i]!)));
      expect(await stores[0]!.blockedUntil(`k${round}`, now)).toBe(Math.max(...ends));
    }
  });

  it('takes, adds and counts in one round trip each', async () => {
    let sent = 0;
    const counting: RedisCommandSender = {
      sendCommand: <T>(args: readonly string[]) => {
        sent += 1;
        return observer.sendCommand<T>(args);
      },
    };
    const store = new RedisCounterStore({ client: counting, prefix: 'gh:trips:' });
    await store.load();
    sent = 0;
    const now = Date.now();
    for (let i = 0; i < 10; i += 1) await store.take('k', now + i, 60_000, 5);
    await store.add('k', now, 60_000);
    await store.count('k', now, 60_000, 5);
    await store.blockedUntil('k', now);
    expect(sent).toBe(13);
  });
});

describe('RedisCounterStore keys and expiry', () => {
  it('starts every key with the prefix, and holds only numbers in them', async () => {
    await observer.flushDb();
    const store = new RedisCounterStore({ client: observer, prefix: 'acme:gh:' });
    const now = Date.now();
    await store.take('rule:api:203.0.113.7', now, 60_000, 10);
    await store.add('login:ip:2001:db8::/64', now, 300_000);
    await store.block('login:acct:ab12', now + 5_000);
    expect((await observer.keys('*')).sort()).toEqual(['acme:gh:cnt:login:ip:2001:db8::/64', 'acme:gh:cnt:rule:api:203.0.113.7', 'acme:gh:hold:login:acct:ab12']);
    // A window is a MessagePack array of integers; a hold its end in decimal.
    for (const key of ['acme:gh:cnt:login:ip:2001:db8::/64', 'acme:gh:cnt:rule:api:203.0.113.7']) {
      const numbers = await observer.eval("return cmsgpack.unpack(redis.call('GET', KEYS[1]))", { keys: [key] }) as unknown[];
      expect(numbers.length).toBe(4);
      for (const n of numbers) expect(Number.isInteger(n)).toBe(true);
      expect(await observer.strLen(key)).toBeLessThan(16);
    }
    expect(await observer.get('acme:gh:hold:login:acct:ab12')).toBe(String(now + 5_000));
  });

  it('keeps a hold until its end plus the margin, relative to the latest time the store was given', async () => {
    const store = new RedisCounterStore({ client: observer, prefix: 'gh:holdttl:', expiryMarginMs: 500 });
    const now = Date.UTC(2026, 0, 1);
    await store.blockedUntil('k', now);
    await store.block('k', now + 4_000);
    const ttl = await observer.pTTL(store.holdKey('k'));
    expect(ttl).toBeLessThanOrEqual(4_500);
    expect(ttl).toBeGreaterThan(4_300);
    // Ended by the clock it was given, though Redis keeps it a little longer.
    expect(await store.blockedUntil('k', now + 4_000)).toBeNull();
  });

  it('lets Redis drop a key by itself once its window has emptied (real time, a 600 ms window)', async () => {
    const store = new RedisCounterStore({ client: observer, prefix: 'gh:expire:', expiryMarginMs: 0 });
    const started = Date.now();
    await store.add('k', started, 600);
    expect(await observer.exists(store.counterKey('k'))).toBe(1);
    // Its bucket [started, started + 10) leaves the 600 ms window 610 ms after the bucket's start.
    await expect.poll(() => observer.exists(store.counterKey('k')), { timeout: 3_000, interval: 20 }).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
  });
});

describe('RedisCounterStore when Redis fails', () => {
  it('fails a take at its timeout while Redis is frozen, and takes again once it thaws', async () => {
    const store = new RedisCounterStore({ client: await connected(timeoutMs), prefix: 'gh:frozen:' });
    const now = Date.now();
    await store.take('k', now, 60_000, 5);
    redis.server.freeze();
    const frozen = await elapsed(() => store.take('k', now, 60_000, 5));
    expect(frozen.error).toBeInstanceOf(TimeoutReadError);
    expect(frozen.ms).toBeGreaterThanOrEqual(timeoutMs - 5);
    expect(frozen.ms).toBeLessThan(timeoutMs + slackMs);
    redis.server.thaw();
    // The timed-out take may have run once Redis woke (the client only stopped waiting): 2 or 3.
    await expect.poll(async () => (await store.count('k', now, 60_000, 5).catch(() => ({ count: 0 }))).count, { timeout: 5_000 }).toBeGreaterThanOrEqual(2);
  });

  it('fails at once while Redis is down (no offline queue), and works after it restarts, the script sent again', async () => {
    const client = await connected(timeoutMs);
    const store = new RedisCounterStore({ client, prefix: 'gh:down:' });
    await store.load();
    await redis.server.stop();
    await expect.poll(() => client.isReady).toBe(false);
    const down = await elapsed(() => store.take('k', Date.now(), 60_000, 5));
    expect(down.error).toBeInstanceOf(ClientOfflineError);
    expect(down.ms).toBeLessThan(timeoutMs);
    await redis.server.start();
    // A restarted Redis has an empty script cache: the take meets NOSCRIPT and sends the script.
    await expect.poll(() => store.take('k', Date.now(), 60_000, 5).then((r) => r.count, () => 0), { timeout: 5_000 }).toBe(1);
  });
});
