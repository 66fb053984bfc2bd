import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { useRedis } from '../../test/helpers/redis.js';
import { createRedisClient, type RedisClient } from '../storage/redis/create-redis-client.js';
import { RedisCounterStore } from '../storage/redis/redis-counter-store.js';
import type { CounterCheck } from './counter-store.js';
import { FallbackCounterStore } from './fallback-counter-store.js';

/**
 * SPEC §8's table, "Redis down or hung: rate rules are counted per node", on a real redis-server
 * that is stopped and frozen (SIGSTOP) under the store. Real time: Redis's expiries and the
 * client's timeout are real, so the store is given Date.now().
 */
const redis = useRedis();
const timeoutMs = 150;
/** SPEC §8: with Redis frozen no request waits more than 500 ms; a call is one part of a request. */
const marginMs = 350;
const windowMs = 60_000;
const max = 3;
const clients: RedisClient[] = [];
let observer: RedisCounterStore;
let prefixes = 0;

async function connected(timeout: number): Promise<RedisClient> {
  const client = createRedisClient({ url: redis.server.url, timeoutMs: timeout });
  clients.push(client);
  await client.connect();
  return client;
}

beforeAll(async () => {
  observer = new RedisCounterStore({ client: await connected(5_000), prefix: 'gh:fallback:' });
});
afterEach(async () => {
  redis.server.thaw();
  await redis.server.start();
});
afterAll(() => {
  for (const client of clients) if (client.isOpen) client.destroy();
});

/** A node's store on Redis, its degraded changes, and a timer that fails any call slower than the bound. */
async function node(): Promise<{ store: FallbackCounterStore; changes: boolean[]; timed: <T>(call: () => Promise<T>) => Promise<T>; slowest: () => number }> {
  const changes: boolean[] = [];
  const store = new FallbackCounterStore({
    shared: new RedisCounterStore({ client: await connected(timeoutMs), prefix: 'gh:fallback:' }),
    retryEveryMs: 200,
    onChange: (change) => changes.push(change.degraded),
  });
  let slowest = 0;
  return {
    store,
    changes,
    slowest: () => slowest,
    async timed(call) {
      const started = performance.now();
      try {
        return await call();
      } finally {
        const ms = performance.now() - started;
        slowest = Math.max(slowest, ms);
        expect(ms, 'a call waited past the timeout').toBeLessThan(timeoutMs + marginMs);
      }
    },
  };
}

/** Takes `times` times at max 3; returns how many were allowed. */
async function takes(timed: <T>(call: () => Promise<T>) => Promise<T>, store: FallbackCounterStore, key: string, times: number): Promise<number> {
  let allowed = 0;
  for (let i = 0; i < times; i += 1) if ((await timed(() => store.take(key, Date.now(), windowMs, max))).allowed) allowed += 1;
  return allowed;
}

describe('FallbackCounterStore on a real Redis', () => {
  it('counts in Redis while it is up, on this node alone while it is down, and in Redis again once it is back', async () => {
    const { store, changes, timed } = await node();
    const key = `down${(prefixes += 1)}`;
    expect(await takes(timed, store, key, 2)).toBe(2);
    expect(await observer.count(key, Date.now(), windowMs, max)).toMatchObject({ count: 2 });
    await timed(() => store.block('hold', Date.now() + 60_000));
    expect(store.degraded).toBe(false);

    await redis.server.stop();
    // Redis's two hits are out of reach: this node allows max on its own, and never more.
    expect(await takes(timed, store, key, 10)).toBe(max);
    expect(store.degraded).toBe(true);
    expect(changes).toEqual([true]);
    // The hold set through Redis is still known here (written locally too), and so is a new one.
    expect(await timed(() => store.blockedUntil('hold', Date.now()))).not.toBeNull();
    await timed(() => store.block('set-while-down', Date.now() + 60_000));

    await redis.server.start();
    const other = `up${prefixes}`;
    // Calls go back to Redis at the first retry after it answers again (the client reconnects by itself).
    await expect.poll(async () => {
      await timed(() => store.take(other, Date.now(), windowMs, max));
      return store.degraded;
    }, { timeout: 5_000, interval: 50 }).toBe(false);
    expect(changes).toEqual([true, false]);
    const before = (await observer.count(other, Date.now(), windowMs, max)).count;
    await timed(() => store.take(other, Date.now(), windowMs, max));
    expect(await observer.count(other, Date.now(), windowMs, max)).toMatchObject({ count: before + 1 });
    // A hold set while Redis was down still holds after it came back, though Redis never heard of it.
    expect(await timed(() => store.blockedUntil('set-while-down', Date.now()))).not.toBeNull();
  });

  it('while Redis is frozen (SIGSTOP), no call waits past the timeout, only one call per retry pays it, and Redis is used again once it thaws', async () => {
    const { store, changes, timed } = await node();
    const key = `frozen${(prefixes += 1)}`;
    expect(await takes(timed, store, key, 1)).toBe(1);

    redis.server.freeze();
    const started = performance.now();
    // The first call waits for the timeout, then is answered here.
    expect((await timed(() => store.take(key, Date.now(), windowMs, max))).allowed).toBe(true);
    expect(performance.now() - started).toBeGreaterThanOrEqual(timeoutMs - 5);
    expect(store.degraded).toBe(true);
    // The next ones, before the retry is due, do not wait at all.
    const quick = performance.now();
    expect(await takes(timed, store, key, 10)).toBe(max - 1);
    expect(performance.now() - quick).toBeLessThan(timeoutMs);
    // A retry while still frozen waits for the timeout once more, and the node stays degraded.
    await new Promise((r) => setTimeout(r, 250));
    await timed(() => store.take(key, Date.now(), windowMs, max));
    expect(store.degraded).toBe(true);

    redis.server.thaw();
    await expect.poll(async () => {
      await timed(() => store.count(key, Date.now(), windowMs, max));
      return store.degraded;
    }, { timeout: 5_000, interval: 50 }).toBe(false);
    expect(changes).toEqual([true, false]);
    // Back on Redis: its count is what reached it (the taken one, and perhaps the calls that timed
    // out, which a woken server may still run), not this node's local count.
    const shared = (await observer.count(key, Date.now(), windowMs, max)).count;
    expect(shared).toBeGreaterThanOrEqual(1);
    expect(await timed(() => store.count(key, Date.now(), windowMs, max))).toMatchObject({ count: shared });
  });

  it('answers a batch (evaluate) whole from this node while Redis is down, and from Redis again once it is back', async () => {
    const { store, changes, timed } = await node();
    const key = `batch${(prefixes += 1)}`;
    const checks: CounterCheck[] = [{ verb: 'take', key, windowMs, max, marker: `${key}-trigger` }, { verb: 'add', key: `${key}-after`, windowMs }];
    expect(await timed(() => store.evaluate(checks, Date.now()))).toHaveLength(2);
    expect(await observer.count(`${key}-after`, Date.now(), windowMs, max)).toMatchObject({ count: 1 });

    await redis.server.stop();
    // The first take here is this node's first: the batch runs on the local store, all of it.
    const local = [];
    for (let i = 0; i < max + 1; i += 1) local.push(await timed(() => store.evaluate(checks, Date.now())));
    expect(local.map((r) => r.length)).toEqual([2, 2, 2, 1]);
    expect(local[max]![0]).toMatchObject({ allowed: false, first: true });
    expect(store.degraded).toBe(true);

    await redis.server.start();
    await expect.poll(async () => {
      await timed(() => store.evaluate([{ verb: 'count', key, windowMs, max }], Date.now()));
      return store.degraded;
    }, { timeout: 5_000, interval: 50 }).toBe(false);
    expect(changes).toEqual([true, false]);
    // Back on Redis (restarted empty: it keeps nothing on disk here), not on this node's full local count.
    const before = (await observer.count(`${key}-after`, Date.now(), windowMs, max)).count;
    expect(await timed(() => store.evaluate(checks, Date.now()))).toMatchObject([{ allowed: true }, { count: before + 1 }]);
    expect(await observer.count(`${key}-after`, Date.now(), windowMs, max)).toMatchObject({ count: before + 1 });
  });

  it('throws a caller\'s mistake (RangeError) as it is, without going degraded', async () => {
    const { store } = await node();
    await expect(store.take('k', Date.now(), windowMs, 0)).rejects.toThrow(RangeError);
    await expect(store.evaluate([{ verb: 'take', key: 'k', windowMs, max: 0 }], Date.now())).rejects.toThrow(RangeError);
    expect(store.degraded).toBe(false);
  });
});
