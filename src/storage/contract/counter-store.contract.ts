import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { windowBuckets } from '../../rules/bucket-window.js';
import type { CounterCheck, CounterStore, TakeResult } from '../../rules/counter-store.js';
import { race, type ContractSubject } from './contract-subject.js';

/**
 * A six-second window, so a bucket is 100 ms (with 60 buckets), from t0, a multiple of both: round
 * numbers, so each edge case reads as arithmetic.
 */
const windowMs = 6_000;
const bucketMs = windowMs / windowBuckets;
const t0 = 10 * windowMs;
/** Callers in the concurrency cases: more than `racers`, to press the point. */
const crowd = 50;

const allowedCounts = (results: TakeResult[]): number[] => results.filter((r) => r.allowed).map((r) => r.count);
const ascending = (values: number[]): number[] => [...values].sort((a, b) => a - b);
const oneTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);
const none = { count: 0, retryAt: null };

/** A counter backend under test, and what it holds for one key (its own measure, in bytes). */
export interface CounterSubject extends ContractSubject<CounterStore> {
  footprint(key: string): Promise<number>;
}

/** A deterministic generator (a linear congruential one), so a failing schedule can be replayed. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** How many of `times` (ascending) are in (from, to]. */
function inWindow(times: readonly number[], from: number, to: number): number {
  let n = 0;
  for (let i = times.length - 1; i >= 0 && times[i]! > from; i -= 1) if (times[i]! <= to) n += 1;
  return n;
}

/** The largest number of `times` (ascending) in any window (t - windowMs, t]. */
function busiestWindow(times: readonly number[]): number {
  let busiest = 0;
  let first = 0;
  for (let last = 0; last < times.length; last += 1) {
    while (times[first]! <= times[last]! - windowMs) first += 1;
    busiest = Math.max(busiest, last - first + 1);
  }
  return busiest;
}

/**
 * The behaviour every CounterStore adapter must have (rules/counter-store.ts). For an in-process
 * store, `peer` is the very same instance as `store`: a second instance would be a separate
 * counter by design, and one process has no second connection to share state through.
 */
export function describeCounterStoreContract(name: string, factory: () => Promise<CounterSubject>, options: { heavyTakes?: number } = {}): void {
  // The constant-memory case's busy key: 100,000 takes, fewer for an engine whose take is several
  // round trips (PostgreSQL's five); a tenth as many still shows a key's size does not follow its traffic.
  const heavyTakes = options.heavyTakes ?? 100_000;
  describe(`${name}: CounterStore contract`, () => {
    let subject: CounterSubject;
    let store: CounterStore;
    let peer: CounterStore;

    beforeEach(async () => {
      subject = await factory();
      ({ store, peer } = subject);
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    test('take allows up to max, counting each hit across both connections, then refuses', async () => {
      expect(await store.take('k', t0, windowMs, 3)).toEqual({ allowed: true, count: 1, retryAt: null });
      expect(await peer.take('k', t0 + 1, windowMs, 3)).toEqual({ allowed: true, count: 2, retryAt: null });
      expect(await store.take('k', t0 + 2, windowMs, 3)).toEqual({ allowed: true, count: 3, retryAt: null });
      // All three are in the bucket [t0, t0 + 100): they are forgotten when it leaves the window.
      expect(await peer.take('k', t0 + 3, windowMs, 3)).toEqual({ allowed: false, count: 3, retryAt: t0 + bucketMs + windowMs });
      expect(await store.count('k', t0 + 3, windowMs, 3)).toEqual({ count: 3, retryAt: t0 + bucketMs + windowMs });
      expect(await store.count('k', t0 + 3, windowMs, 4)).toEqual({ count: 3, retryAt: null });
    });

    test('add records unconditionally and returns the count, this hit included', async () => {
      for (let i = 1; i <= 5; i += 1) expect(await (i % 2 ? store : peer).add('k', t0 + i * bucketMs, windowMs)).toBe(i);
      expect(await peer.count('k', t0 + 5 * bucketMs, windowMs, 10)).toEqual({ count: 5, retryAt: null });
    });

    test('count of an unknown key is zero, and records nothing', async () => {
      expect(await store.count('k', t0, windowMs, 1)).toEqual(none);
      expect(await store.take('k', t0, windowMs, 1)).toMatchObject({ allowed: true, count: 1 });
    });

    test('the window edge: a hit is counted until its whole bucket has left the window, and no longer', async () => {
      const at = t0 + 50;
      await store.add('k', at, windowMs);
      // An exact window would forget it at at + windowMs; its bucket [t0, t0 + 100) leaves at t0 + 100 + windowMs.
      expect(await peer.count('k', at + windowMs - 1, windowMs, 1)).toEqual({ count: 1, retryAt: t0 + bucketMs + windowMs });
      expect(await peer.count('k', t0 + bucketMs + windowMs - 1, windowMs, 1)).toEqual({ count: 1, retryAt: t0 + bucketMs + windowMs });
      expect(await peer.count('k', t0 + bucketMs + windowMs, windowMs, 1)).toEqual(none);
      expect(await store.take('k', t0 + bucketMs + windowMs - 1, windowMs, 1)).toEqual({ allowed: false, count: 1, retryAt: t0 + bucketMs + windowMs });
      expect(await store.take('k', t0 + bucketMs + windowMs, windowMs, 1)).toEqual({ allowed: true, count: 1, retryAt: null });
    });

    test('no double burst: max at the end of one window and max at the start of the next refuses the excess', async () => {
      const late = Array.from({ length: 5 }, (_, i) => t0 + windowMs - bucketMs + i);
      const early = Array.from({ length: 5 }, (_, i) => t0 + windowMs + i);
      for (const now of late) expect((await store.take('k', now, windowMs, 5)).allowed).toBe(true);
      for (const now of early) expect(await peer.take('k', now, windowMs, 5)).toEqual({ allowed: false, count: 5, retryAt: t0 + 2 * windowMs });
      // The five share a bucket: all five slots free when it leaves, not before.
      expect((await store.take('k', t0 + 2 * windowMs - 1, windowMs, 5)).allowed).toBe(false);
      for (let i = 1; i <= 5; i += 1) expect(await peer.take('k', t0 + 2 * windowMs, windowMs, 5)).toEqual({ allowed: true, count: i, retryAt: null });
    });

    test('retryAt is when the bucket of the oldest hit that must go has left the window', async () => {
      for (const at of [1_000, 3_000, 5_000]) await store.take('k', t0 + at, windowMs, 3);
      expect(await peer.take('k', t0 + 5_500, windowMs, 3)).toEqual({ allowed: false, count: 3, retryAt: t0 + 1_000 + bucketMs + windowMs });
      expect(await peer.take('k', t0 + 1_000 + bucketMs + windowMs - 1, windowMs, 3)).toEqual({ allowed: false, count: 3, retryAt: t0 + 1_000 + bucketMs + windowMs });
      expect(await store.take('k', t0 + 1_000 + bucketMs + windowMs, windowMs, 3)).toEqual({ allowed: true, count: 3, retryAt: null });
      expect(await store.take('k', t0 + 1_000 + bucketMs + windowMs, windowMs, 3)).toEqual({ allowed: false, count: 3, retryAt: t0 + 3_000 + bucketMs + windowMs });
    });

    test('over max (adds count unconditionally), retryAt waits for as many buckets as must go', async () => {
      for (const at of [0, 1_000, 2_000, 3_000, 4_000]) await store.add('k', t0 + at, windowMs);
      // Five counted, a take of max 3 needs three of them gone: the one at t0 + 2,000 is the last.
      expect(await peer.take('k', t0 + 4_500, windowMs, 3)).toEqual({ allowed: false, count: 5, retryAt: t0 + 2_000 + bucketMs + windowMs });
      expect(await peer.count('k', t0 + 4_500, windowMs, 5)).toEqual({ count: 5, retryAt: t0 + bucketMs + windowMs });
      expect((await store.take('k', t0 + 2_000 + bucketMs + windowMs - 1, windowMs, 3)).allowed).toBe(false);
      expect(await store.take('k', t0 + 2_000 + bucketMs + windowMs, windowMs, 3)).toEqual({ allowed: true, count: 3, retryAt: null });
    });

    test('refused takes are not counted: a client that slows down regains access as the window slides', async () => {
      await store.take('k', t0, windowMs, 2);
      await store.take('k', t0, windowMs, 2);
      for (let i = 1; i <= 10; i += 1) expect((await peer.take('k', t0 + i * 500, windowMs, 2)).allowed).toBe(false);
      expect(await store.count('k', t0 + 5_000, windowMs, 2)).toEqual({ count: 2, retryAt: t0 + bucketMs + windowMs });
      expect(await peer.take('k', t0 + bucketMs + windowMs, windowMs, 2)).toEqual({ allowed: true, count: 1, retryAt: null });
    });

    test('reset forgets every hit of that key only, and leaves its block', async () => {
      for (let i = 0; i < 3; i += 1) await store.add('a', t0 + i, windowMs);
      await store.add('b', t0, windowMs);
      await store.block('a', t0 + 5_000);
      await peer.reset('a');
      expect(await store.count('a', t0 + 10, windowMs, 1)).toEqual(none);
      expect(await store.count('b', t0 + 10, windowMs, 1)).toMatchObject({ count: 1 });
      expect(await store.take('a', t0 + 10, windowMs, 1)).toMatchObject({ allowed: true, count: 1 });
      expect(await store.blockedUntil('a', t0 + 10)).toBe(t0 + 5_000);
      await store.reset('never-seen');
    });

    test('blockedUntil is the end of the block until it ends, then null', async () => {
      expect(await store.blockedUntil('k', t0)).toBeNull();
      await store.block('k', t0 + 5_000);
      expect(await peer.blockedUntil('k', t0)).toBe(t0 + 5_000);
      expect(await peer.blockedUntil('k', t0 + 4_999)).toBe(t0 + 5_000);
      expect(await store.blockedUntil('k', t0 + 5_000)).toBeNull();
      expect(await store.blockedUntil('k', t0 + 6_000)).toBeNull();
    });

    test('of two blocks the later end wins, whichever comes first', async () => {
      await store.block('k', t0 + 5_000);
      await peer.block('k', t0 + 3_000);
      expect(await store.blockedUntil('k', t0)).toBe(t0 + 5_000);
      await peer.block('k', t0 + 8_000);
      expect(await store.blockedUntil('k', t0)).toBe(t0 + 8_000);
    });

    test('blocks and hits are independent: a block counts no hit, hits block nothing', async () => {
      await store.block('k', t0 + 5_000);
      expect(await store.count('k', t0, windowMs, 1)).toEqual(none);
      await store.add('other', t0, windowMs);
      expect(await store.blockedUntil('other', t0)).toBeNull();
    });

    test('purge drops the keys whose window has emptied and ended blocks, and keeps the rest', async () => {
      await store.add('gone', t0, windowMs);
      await store.add('kept', t0 + bucketMs, windowMs);
      const now = t0 + bucketMs + windowMs;
      await store.block('ended', now - 1);
      await store.block('ends-now', now);
      await store.block('running', now + 1);
      const held = await subject.footprint('kept');
      await peer.purge(now);
      expect(await subject.footprint('gone')).toBe(0);
      expect(await subject.footprint('kept')).toBe(held);
      expect(await store.count('kept', now, windowMs, 1)).toEqual({ count: 1, retryAt: t0 + 2 * bucketMs + windowMs });
      expect(await store.blockedUntil('ended', t0)).toBeNull();
      expect(await store.blockedUntil('ends-now', t0)).toBeNull();
      expect(await store.blockedUntil('running', t0)).toBe(now + 1);
    });

    test('keys are independent', async () => {
      expect((await store.take('a', t0, windowMs, 1)).allowed).toBe(true);
      expect((await store.take('a', t0, windowMs, 1)).allowed).toBe(false);
      expect(await peer.take('b', t0, windowMs, 1)).toEqual({ allowed: true, count: 1, retryAt: null });
      expect(await peer.add('c', t0, windowMs)).toBe(1);
      await store.block('a', t0 + 5_000);
      expect(await peer.blockedUntil('b', t0)).toBeNull();
      expect(await store.count('a', t0, windowMs, 1)).toMatchObject({ count: 1 });
    });

    test('a hit stamped before the key\'s newest bucket is counted in that bucket: kept longer, never shorter', async () => {
      expect(await store.add('k', t0 + 5 * bucketMs, windowMs)).toBe(1);
      expect(await peer.add('k', t0 + 2 * bucketMs, windowMs)).toBe(2);
      // Its own bucket left at t0 + 3 buckets + window; it is still counted, with the newest.
      expect(await peer.count('k', t0 + 3 * bucketMs + windowMs, windowMs, 1)).toEqual({ count: 2, retryAt: t0 + 6 * bucketMs + windowMs });
      expect(await peer.count('k', t0 + 6 * bucketMs + windowMs, windowMs, 1)).toEqual(none);
    });

    test('a hit later than now still counts, so clock order between workers cannot let an extra request in', async () => {
      expect((await store.take('k', t0 + 2 * bucketMs + 5, windowMs, 1)).allowed).toBe(true);
      expect(await peer.take('k', t0 + 3, windowMs, 1)).toEqual({ allowed: false, count: 1, retryAt: t0 + 3 * bucketMs + windowMs });
    });

    test('a key whose window changes keeps its hits, as if they had all come at the newest of them', async () => {
      await store.add('k', t0, windowMs);
      await store.add('k', t0 + 10 * bucketMs, windowMs);
      // The rule's per halved: both hits now count from t0 + 1,000 in 3 s buckets of 50 ms.
      expect(await peer.take('k', t0 + 1_000, windowMs / 2, 3)).toEqual({ allowed: true, count: 3, retryAt: null });
      expect(await peer.count('k', t0 + 1_000, windowMs / 2, 3)).toEqual({ count: 3, retryAt: t0 + 1_000 + windowMs / 2 / windowBuckets + windowMs / 2 });
    });

    test('rejects a window that is not a whole positive number of ms, and a max that is not a whole number of at least 1', async () => {
      await expect(store.take('k', t0, windowMs, 0)).rejects.toThrow(RangeError);
      await expect(store.take('k', t0, windowMs, 1.5)).rejects.toThrow(RangeError);
      await expect(store.take('k', t0, 0, 1)).rejects.toThrow(RangeError);
      await expect(store.take('k', t0, 1.5, 1)).rejects.toThrow(RangeError);
      await expect(store.add('k', t0, -1)).rejects.toThrow(RangeError);
      await expect(store.count('k', t0, Number.NaN, 1)).rejects.toThrow(RangeError);
      await expect(store.count('k', t0, windowMs, 0)).rejects.toThrow(RangeError);
      expect(await store.count('k', t0, windowMs, 1)).toEqual(none);
    });

    test(`${crowd} concurrent adds across both connections get exactly the counts 1..${crowd}`, async () => {
      const counts = await race(subject, (s) => s.add('k', t0, windowMs), crowd);
      expect(ascending(counts)).toEqual(oneTo(crowd));
      expect(await store.count('k', t0, windowMs, crowd + 1)).toEqual({ count: crowd, retryAt: null });
    });

    test(`${crowd} concurrent takes with max 20 across both connections: exactly 20 allowed, counts 1..20`, async () => {
      const results = await race(subject, (s) => s.take('k', t0, windowMs, 20), crowd);
      expect(ascending(allowedCounts(results))).toEqual(oneTo(20));
      const refused = results.filter((r) => !r.allowed);
      expect(refused).toHaveLength(crowd - 20);
      for (const r of refused) expect(r).toEqual({ allowed: false, count: 20, retryAt: t0 + bucketMs + windowMs });
      expect(await peer.count('k', t0, windowMs, 20)).toMatchObject({ count: 20 });
    });

    test('evaluate answers each check as its own verb would, in order, on both connections', async () => {
      await store.take('t', t0, windowMs, 5);
      await store.add('c', t0, windowMs);
      const checks: CounterCheck[] = [
        { verb: 'take', key: 't', windowMs, max: 5, marker: 'm' },
        { verb: 'add', key: 'a', windowMs },
        { verb: 'count', key: 'c', windowMs, max: 2 },
        { verb: 'take', key: 't', windowMs, max: 5 },
      ];
      expect(await peer.evaluate(checks, t0 + 1)).toEqual([
        { allowed: true, count: 2, retryAt: null, first: false },
        { allowed: true, count: 1, retryAt: null, first: false },
        { allowed: true, count: 1, retryAt: null, first: false },
        { allowed: true, count: 3, retryAt: null, first: false },
      ]);
      expect(await store.count('t', t0 + 1, windowMs, 5)).toEqual({ count: 3, retryAt: null });
      expect(await store.count('a', t0 + 1, windowMs, 5)).toEqual({ count: 1, retryAt: null });
      // The marker is taken only when its take is refused.
      expect(await store.count('m', t0 + 1, windowMs, 1)).toEqual(none);
      expect(await store.evaluate([], t0)).toEqual([]);
    });

    test('evaluate stops after the first refusal: later checks are not run, and a refused take records nothing', async () => {
      await store.take('full', t0, windowMs, 1);
      const checks: CounterCheck[] = [
        { verb: 'take', key: 'before', windowMs, max: 10 },
        { verb: 'take', key: 'full', windowMs, max: 1 },
        { verb: 'take', key: 'after', windowMs, max: 10 },
        { verb: 'add', key: 'after-add', windowMs },
      ];
      expect(await store.evaluate(checks, t0 + 1)).toEqual([
        { allowed: true, count: 1, retryAt: null, first: false },
        { allowed: false, count: 1, retryAt: t0 + bucketMs + windowMs, first: false },
      ]);
      expect(await peer.count('full', t0 + 1, windowMs, 1)).toMatchObject({ count: 1 });
      expect(await peer.count('after', t0 + 1, windowMs, 1)).toEqual(none);
      expect(await peer.count('after-add', t0 + 1, windowMs, 1)).toEqual(none);
      // A count refuses at max or more, with the time it falls below max.
      await store.add('seen', t0, windowMs);
      expect(await peer.evaluate([{ verb: 'count', key: 'seen', windowMs, max: 1 }, { verb: 'add', key: 'after-add', windowMs }], t0 + 1)).toEqual([
        { allowed: false, count: 1, retryAt: t0 + bucketMs + windowMs, first: false },
      ]);
      expect(await peer.count('after-add', t0 + 1, windowMs, 1)).toEqual(none);
    });

    test('evaluate takes a refused take\'s marker with max 1: first is true once per window of the marker', async () => {
      const check: CounterCheck = { verb: 'take', key: 'k', windowMs, max: 1, marker: 'trigger' };
      expect((await store.evaluate([check], t0))[0]).toEqual({ allowed: true, count: 1, retryAt: null, first: false });
      expect((await peer.evaluate([check], t0 + 1))[0]).toEqual({ allowed: false, count: 1, retryAt: t0 + bucketMs + windowMs, first: true });
      expect((await store.evaluate([check], t0 + 2))[0]).toEqual({ allowed: false, count: 1, retryAt: t0 + bucketMs + windowMs, first: false });
      expect(await store.count('trigger', t0 + 2, windowMs, 1)).toMatchObject({ count: 1 });
      // Both have left the window: the next refusal is a new trigger.
      const later = t0 + bucketMs + windowMs;
      expect((await peer.evaluate([check], later))[0]).toMatchObject({ allowed: true, first: false });
      expect((await store.evaluate([check], later + 1))[0]).toMatchObject({ allowed: false, first: true });
    });

    test('evaluate validates every check before running any', async () => {
      await expect(store.evaluate([{ verb: 'add', key: 'a', windowMs }, { verb: 'take', key: 'b', windowMs, max: 0 }], t0)).rejects.toThrow(RangeError);
      await expect(store.evaluate([{ verb: 'add', key: 'a', windowMs }, { verb: 'count', key: 'b', windowMs: 1.5, max: 1 }], t0)).rejects.toThrow(RangeError);
      expect(await store.count('a', t0, windowMs, 1)).toEqual(none);
    });

    test(`${crowd} concurrent evaluates across both connections are each atomic: the second take runs exactly as often as the first allows`, async () => {
      const checks: CounterCheck[] = [
        { verb: 'take', key: 'first', windowMs, max: 20, marker: 'first-trigger' },
        { verb: 'take', key: 'second', windowMs, max: 1_000 },
      ];
      const results = await race(subject, (s) => s.evaluate(checks, t0), crowd);
      expect(ascending(results.filter((r) => r[0]!.allowed).map((r) => r[0]!.count))).toEqual(oneTo(20));
      expect(ascending(results.filter((r) => r.length === 2).map((r) => r[1]!.count))).toEqual(oneTo(20));
      expect(results.filter((r) => r[0]!.first)).toHaveLength(1);
      expect(await peer.count('second', t0, windowMs, 1_000)).toMatchObject({ count: 20 });
    });

    /**
     * SPEC §5's bound, against an exact reference: every take of a long adversarial schedule (bursts,
     * hits on both sides of bucket edges, a steady pace, pauses, clients retrying exactly at the
     * Retry-After they were given) is checked against the exact log of the takes allowed so far.
     */
    test.each([
      { max: 1, seed: 1 },
      { max: 3, seed: 2 },
      { max: 10, seed: 3 },
      { max: 50, seed: 4 },
    ])('never more than max ($max) in any window, refusing at most one bucket early, with an honest retryAt (seed $seed)', async ({ max, seed }) => {
      const random = prng(seed);
      const allowed: number[] = [];
      let now = t0;
      let retried = 0;
      let early = 0;
      const takeAt = async (at: number): Promise<TakeResult> => {
        const result = await (allowed.length % 2 ? peer : store).take('k', at, windowMs, max);
        // Safety: a window (at - windowMs, at] already holding max refuses.
        if (inWindow(allowed, at - windowMs, at) >= max) expect(result.allowed, `take at ${at}`).toBe(false);
        // Liveness: one bucket more than the window holding fewer than max allows.
        if (inWindow(allowed, at - windowMs - bucketMs, at) < max) expect(result.allowed, `take at ${at}`).toBe(true);
        if (result.allowed) {
          allowed.push(at);
        } else {
          // Never before an exact window would free a slot, and at most one bucket after: when the
          // exact window is full, the moment its (n - max + 1)-th oldest hit leaves; else (refused
          // early, within the margin) now.
          const inside = allowed.filter((t) => t > at - windowMs);
          const exactFree = inside.length >= max ? inside[inside.length - max]! + windowMs : at;
          if (inside.length < max) early += 1;
          expect(result.retryAt!, `retryAt of a take at ${at}`).toBeGreaterThan(exactFree);
          expect(result.retryAt!, `retryAt of a take at ${at}`).toBeLessThanOrEqual(exactFree + bucketMs);
        }
        return result;
      };
      // Segments of 1 to 3 × max takes, each in one manner: a burst (0-2 ms apart), on both sides
      // of bucket edges, at about the pace max allows, or a single pause of most of a window.
      let manner = 0;
      let left = 0;
      for (let step = 0; step < 2_000; step += 1) {
        if (left === 0) {
          manner = Math.floor(random() * 4);
          left = manner === 3 ? 1 : 1 + Math.floor(random() * 3 * max);
        }
        left -= 1;
        if (manner === 0) now += Math.floor(random() * 3);
        else if (manner === 1) now = Math.ceil((now + 1) / bucketMs) * bucketMs - 1 + Math.floor(random() * 3);
        else if (manner === 2) now += Math.floor((windowMs / max) * (0.3 + random()));
        else now += Math.floor(windowMs * (0.2 + random()));
        const result = await takeAt(now);
        if (!result.allowed && random() < 0.5) {
          // The client obeys: one ms before retryAt it is still refused, at retryAt it gets in.
          expect((await takeAt(result.retryAt! - 1)).allowed).toBe(false);
          expect((await takeAt(result.retryAt!)).allowed).toBe(true);
          now = result.retryAt!;
          retried += 1;
        }
      }
      expect(busiestWindow(allowed)).toBeLessThanOrEqual(max);
      // The schedule did press the limit, and clients did come back at their retryAt.
      expect(busiestWindow(allowed)).toBe(max);
      expect(retried).toBeGreaterThan(10);
      // Some refusals came early (the exact window was not full), so the margin was exercised.
      expect(early).toBeGreaterThan(10);
    });

    test(`a key holds the same whatever its max and its traffic (${heavyTakes.toLocaleString('en')} takes at max 1,000,000)`, async () => {
      /** `takes` takes spread evenly over two windows from `start`, all allowed. */
      const spread = async (key: string, start: number, takes: number, max: number): Promise<void> => {
        for (let i = 0; i < takes; i += 1) {
          const at = start + Math.floor((i * 2 * windowMs) / takes);
          expect((await (i % 2 ? peer : store).take(key, at, windowMs, max)).allowed).toBe(true);
        }
      };
      // Each is measured right after its last write: an engine whose keys expire by its own clock
      // (Redis) would drop `light` while `heavy` is written, the test's clock standing still.
      await spread('light', t0, 1_000, 1_000);
      const light = await subject.footprint('light');
      await spread('heavy', t0, heavyTakes, 1_000_000);
      const heavy = await subject.footprint('heavy');
      expect(light).toBeGreaterThan(0);
      // Every bucket of both windows holds hits; ten to a hundred times the traffic and a thousand times
      // the max may widen a count's encoding, not add to what is kept.
      expect(heavy).toBeLessThanOrEqual(2 * light);
      // More traffic on the same key (two more windows) adds nothing either.
      await spread('heavy', t0 + 2 * windowMs, heavyTakes / 10, 1_000_000);
      expect(await subject.footprint('heavy')).toBeLessThanOrEqual(heavy);
    }, 60_000);
  });
}
