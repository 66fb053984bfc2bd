import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useRedis } from '../../../test/helpers/redis.js';
import { BucketWindow, windowBuckets, windowFor } from '../../rules/bucket-window.js';
import { runChecks } from '../../rules/counter-checks.js';
import type { CheckResult, CounterCheck, TakeResult, WindowCount } from '../../rules/counter-store.js';
import { counterScript, counterScriptSha } from './counter-script.js';
import { createRedisClient, type RedisClient } from './create-redis-client.js';
import { RedisCounterStore } from './redis-counter-store.js';

/**
 * The Lua script is rules/bucket-window.ts written again: these tests run both side by side on
 * random schedules and require the same answer to every call and the same window stored after
 * every write, so a change to one that is not made to the other fails here.
 */
const redis = useRedis();
let client: RedisClient;

beforeAll(async () => {
  client = createRedisClient({ url: redis.server.url, timeoutMs: 5_000 });
  await client.connect();
});
afterAll(() => {
  client.destroy();
});

/** A deterministic generator (a linear congruential one), so a failing schedule can be replayed. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** The numbers a key's MessagePack string holds, unpacked by Redis's own cmsgpack; null when there is no key. */
async function storedWindow(key: string, from: RedisClient = client): Promise<number[] | null> {
  return from.eval("local v = redis.call('GET', KEYS[1]) if not v then return false end return cmsgpack.unpack(v)", { keys: [key] }) as Promise<number[] | null>;
}

/** BucketWindow driven as MemoryCounterStore drives it: the reference the script must match. */
class Reference {
  readonly #windows = new Map<string, BucketWindow>();

  take(key: string, now: number, windowMs: number, max: number): TakeResult {
    const window = windowFor(this.#windows.get(key) ?? null, windowMs, now);
    const count = window.countAt(now);
    if (count >= max) return { allowed: false, count, retryAt: window.retryAt(max, now) };
    window.advance(now);
    window.record();
    this.#windows.set(key, window);
    return { allowed: true, count: window.total, retryAt: null };
  }

  add(key: string, now: number, windowMs: number): number {
    const window = windowFor(this.#windows.get(key) ?? null, windowMs, now);
    window.advance(now);
    window.record();
    this.#windows.set(key, window);
    return window.total;
  }

  count(key: string, now: number, windowMs: number, max: number): WindowCount {
    const existing = this.#windows.get(key);
    if (!existing) return { count: 0, retryAt: null };
    const window = windowFor(existing, windowMs, now);
    return { count: window.countAt(now), retryAt: window.retryAt(max, now) };
  }

  reset(key: string): void {
    this.#windows.delete(key);
  }

  /** CounterStore.evaluate as MemoryCounterStore runs it: the verbs above, in turn (rules/counter-checks.ts). */
  evaluate(checks: readonly CounterCheck[], now: number): CheckResult[] {
    return runChecks(checks, now, { take: (...a) => this.take(...a), add: (...a) => this.add(...a), count: (...a) => this.count(...a) });
  }

  /** The window as the script stores it: [windowMs, head, age, count, …]. */
  stored(key: string): number[] | null {
    const window = this.#windows.get(key);
    if (!window) return null;
    return [window.windowMs, window.head, ...[...window.entries()].flatMap(([bucket, count]) => [window.head - bucket, count])];
  }

  expiresAt(key: string): number {
    return this.#windows.get(key)!.expiresAt;
  }
}

// Windows whose buckets are whole milliseconds and some whose are not (7 ms, 12,345 ms, a day and
// a bit), so the rounding of bucket starts is compared too.
const windows = [1, 7, 60, 1_000, 6_000, 12_345, 60_000, 300_000, 86_400_007];

describe('the counter script against BucketWindow', () => {
  it.each([
    { seed: 11, start: 0 },
    { seed: 12, start: 1_000 },
    { seed: 13, start: Date.UTC(2026, 11, 7, 23, 59, 59, 999) },
    { seed: 14, start: Date.UTC(2099, 0, 1) },
  ])('gives the same answers and stores the same windows on a random schedule (seed $seed)', async ({ seed, start }) => {
    const random = prng(seed);
    const prefix = `gh:drift${seed}:`;
    // Redis expires keys by its own clock: a long margin keeps every key for the whole run, while
    // the schedule's clock races ahead.
    const store = new RedisCounterStore({ client, prefix, expiryMarginMs: 600_000 });
    const reference = new Reference();
    const keys = ['a', 'b', 'c'];
    const windowOf = new Map(keys.map((k) => [k, windows[Math.floor(random() * windows.length)]!]));
    let now = start;
    const seen = { take: 0, refused: 0, add: 0, count: 0, carried: 0, back: 0, batch: 0, stopped: 0, first: 0 };
    for (let step = 0; step < 3_000; step += 1) {
      const key = keys[Math.floor(random() * keys.length)]!;
      // Now and then a key's rule changes its `per`: the hits are carried over.
      if (random() < 0.02) {
        windowOf.set(key, windows[Math.floor(random() * windows.length)]!);
        seen.carried += 1;
      }
      const windowMs = windowOf.get(key)!;
      const bucketMs = windowMs / windowBuckets;
      // Mostly forward, by a fraction of a bucket up to more than a window; sometimes back (a
      // worker that read the clock first and committed second).
      const roll = random();
      if (roll < 0.1) {
        now = Math.max(0, now - Math.floor(random() * 3 * bucketMs));
        seen.back += 1;
      } else if (roll < 0.7) now += Math.floor(random() * 2 * bucketMs);
      else if (roll < 0.95) now += Math.floor(random() * 20 * bucketMs);
      else now += Math.floor(random() * 1.5 * windowMs);
      const max = 1 + Math.floor(random() * 12);
      const verb = random();
      const at = `step ${step}: key ${key}, now ${now}, window ${windowMs}, max ${max}`;
      if (verb < 0.15) {
        // A batch of one to four checks on random keys (some twice), each with its key's window.
        const checks: CounterCheck[] = Array.from({ length: 1 + Math.floor(random() * 4) }, () => {
          const k = keys[Math.floor(random() * keys.length)]!;
          const kind = random();
          const w = windowOf.get(k)!;
          const m = 1 + Math.floor(random() * 12);
          if (kind < 0.6) return { verb: 'take', key: k, windowMs: w, max: m, ...(random() < 0.5 ? { marker: `${k}-marker` } : {}) };
          return kind < 0.8 ? { verb: 'add', key: k, windowMs: w } : { verb: 'count', key: k, windowMs: w, max: m };
        });
        const results = await store.evaluate(checks, now);
        expect(results, `${at}: ${JSON.stringify(checks)}`).toEqual(reference.evaluate(checks, now));
        seen.batch += 1;
        if (results.length < checks.length) seen.stopped += 1;
        if (results.some((r) => r.first)) seen.first += 1;
        for (const k of [...keys, ...keys.map((k) => `${k}-marker`)]) expect(await storedWindow(store.counterKey(k)), `${at}: ${k}`).toEqual(reference.stored(k));
      } else if (verb < 0.55) {
        const result = await store.take(key, now, windowMs, max);
        expect(result, at).toEqual(reference.take(key, now, windowMs, max));
        seen.take += 1;
        if (!result.allowed) seen.refused += 1;
      } else if (verb < 0.75) {
        expect(await store.add(key, now, windowMs), at).toBe(reference.add(key, now, windowMs));
        seen.add += 1;
      } else if (verb < 0.99) {
        expect(await store.count(key, now, windowMs, max), at).toEqual(reference.count(key, now, windowMs, max));
        seen.count += 1;
      } else {
        await store.reset(key);
        reference.reset(key);
      }
      expect(await storedWindow(store.counterKey(key)), at).toEqual(reference.stored(key));
    }
    // The schedule did exercise every path.
    expect(seen.refused).toBeGreaterThan(100);
    expect(seen.take - seen.refused).toBeGreaterThan(100);
    expect(Math.min(seen.add, seen.count, seen.carried, seen.back, seen.batch, seen.stopped, seen.first)).toBeGreaterThan(20);
  }, 120_000);

  it('sets a key to expire when BucketWindow says its last hit leaves the window, plus the margin', async () => {
    const store = new RedisCounterStore({ client, prefix: 'gh:ttl:', expiryMarginMs: 250 });
    const reference = new Reference();
    const now = Date.UTC(2026, 11, 7, 12, 0, 0, 5);
    for (const windowMs of [1_000, 12_345, 60_000]) {
      const key = `w${windowMs}`;
      await store.add(key, now, windowMs);
      reference.add(key, now, windowMs);
      const expected = reference.expiresAt(key) - now + 250;
      // Real time passes between the write and the read: a few milliseconds at most.
      const ttl = await client.pTTL(store.counterKey(key));
      expect(ttl).toBeLessThanOrEqual(expected);
      expect(ttl).toBeGreaterThan(expected - 200);
    }
  });

  it('is run by its SHA-1, and sent whole when Redis has forgotten it (NOSCRIPT), then cached again', async () => {
    const store = new RedisCounterStore({ client, prefix: 'gh:noscript:' });
    await client.scriptFlush();
    expect(await client.scriptExists(counterScriptSha)).toEqual([0]);
    expect(await store.add('k', 60_000, 6_000)).toBe(2 - 1);
    expect(await client.scriptExists(counterScriptSha)).toEqual([1]);
    await client.scriptFlush();
    await store.load();
    expect(await client.scriptExists(counterScriptSha)).toEqual([1]);
    expect(await store.add('k', 60_000, 6_000)).toBe(2);
    expect(counterScript).toContain(`local B = ${windowBuckets}`);
  });
});
