import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { CounterStore, TakeResult } from '../../rules/counter-store.js';
import { race, type ContractFactory, type ContractSubject } from './contract-subject.js';

/** A one-second window from t0: round numbers so each edge case reads as arithmetic. */
const t0 = 10_000;
const windowMs = 1_000;
/** Callers in the concurrency cases: more than `racers`, to press the point. */
const crowd = 50;

const allowedCounts = (results: TakeResult[]): number[] => results.filter((r) => r.allowed).map((r) => r.count);
const ascending = (values: number[]): number[] => [...values].sort((a, b) => a - b);
const oneTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

/**
 * The behaviour every CounterStore adapter must have (rules/counter-store.ts). For an in-process
 * store, `peer` is the very same instance as `store`: a second instance would be a separate
 * counter by design, and one process has no second connection to share state through.
 */
export function describeCounterStoreContract(name: string, factory: ContractFactory<CounterStore>): void {
  describe(`${name}: CounterStore contract`, () => {
    let subject: ContractSubject<CounterStore>;
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
      expect(await peer.take('k', t0 + 3, windowMs, 3)).toEqual({ allowed: false, count: 3, retryAt: t0 + windowMs });
      expect(await store.count('k', t0 + 3, windowMs)).toEqual({ count: 3, oldest: t0, newest: t0 + 2 });
    });

    test('add records unconditionally and returns the count, this hit included', async () => {
      for (let i = 1; i <= 5; i += 1) expect(await (i % 2 ? store : peer).add('k', t0 + i, windowMs)).toBe(i);
      expect(await peer.count('k', t0 + 5, windowMs)).toEqual({ count: 5, oldest: t0 + 1, newest: t0 + 5 });
    });

    test('count of an unknown key is zero with no times, and records nothing', async () => {
      expect(await store.count('k', t0, windowMs)).toEqual({ count: 0, oldest: null, newest: null });
      expect(await store.take('k', t0, windowMs, 1)).toMatchObject({ allowed: true, count: 1 });
    });

    test('the window edge: a hit at t is counted at t + window - 1 and not at t + window', async () => {
      await store.add('k', t0, windowMs);
      expect(await peer.count('k', t0 + windowMs - 1, windowMs)).toEqual({ count: 1, oldest: t0, newest: t0 });
      expect(await peer.count('k', t0 + windowMs, windowMs)).toEqual({ count: 0, oldest: null, newest: null });
      expect(await store.take('k', t0 + windowMs - 1, windowMs, 1)).toEqual({ allowed: false, count: 1, retryAt: t0 + windowMs });
      expect(await store.take('k', t0 + windowMs, windowMs, 1)).toEqual({ allowed: true, count: 1, retryAt: null });
    });

    test('no double burst: max at the end of one window and max at the start of the next refuses the excess', async () => {
      const late = Array.from({ length: 5 }, (_, i) => t0 + 990 + i);
      const early = Array.from({ length: 5 }, (_, i) => t0 + 1_000 + i);
      for (const now of late) expect((await store.take('k', now, windowMs, 5)).allowed).toBe(true);
      for (const now of early) expect(await peer.take('k', now, windowMs, 5)).toEqual({ allowed: false, count: 5, retryAt: t0 + 990 + windowMs });
      // One slot frees when the first hit leaves, and only one.
      expect(await store.take('k', t0 + 990 + windowMs, windowMs, 5)).toEqual({ allowed: true, count: 5, retryAt: null });
      expect(await peer.take('k', t0 + 990 + windowMs, windowMs, 5)).toEqual({ allowed: false, count: 5, retryAt: t0 + 991 + windowMs });
    });

    test('retryAt is when the oldest counted hit leaves the window', async () => {
      for (const at of [100, 400, 700]) await store.take('k', t0 + at, windowMs, 3);
      expect(await peer.take('k', t0 + 900, windowMs, 3)).toEqual({ allowed: false, count: 3, retryAt: t0 + 1_100 });
      expect(await peer.take('k', t0 + 1_099, windowMs, 3)).toEqual({ allowed: false, count: 3, retryAt: t0 + 1_100 });
      expect(await store.take('k', t0 + 1_100, windowMs, 3)).toEqual({ allowed: true, count: 3, retryAt: null });
      expect(await store.take('k', t0 + 1_100, windowMs, 3)).toEqual({ allowed: false, count: 3, retryAt: t0 + 1_400 });
    });

    test('refused takes are not counted: a client that slows down regains access as the window slides', async () => {
      await store.take('k', t0, windowMs, 2);
      await store.take('k', t0, windowMs, 2);
      for (let i = 1; i <= 10; i += 1) expect((await peer.take('k', t0 + i * 50, windowMs, 2)).allowed).toBe(false);
      expect(await store.count('k', t0 + 500, windowMs)).toMatchObject({ count: 2, newest: t0 });
      expect(await peer.take('k', t0 + windowMs, windowMs, 2)).toEqual({ allowed: true, count: 1, retryAt: null });
    });

    test('reset forgets every hit of that key only', async () => {
      for (let i = 0; i < 3; i += 1) await store.add('a', t0 + i, windowMs);
      await store.add('b', t0, windowMs);
      await peer.reset('a');
      expect(await store.count('a', t0 + 10, windowMs)).toEqual({ count: 0, oldest: null, newest: null });
      expect(await store.count('b', t0 + 10, windowMs)).toMatchObject({ count: 1 });
      expect(await store.take('a', t0 + 10, windowMs, 1)).toMatchObject({ allowed: true, count: 1 });
      await store.reset('never-seen');
    });

    test('purge deletes hits older than now - maxWindow, and keeps the rest', async () => {
      const now = t0 + 1_500;
      for (const at of [t0 + 100, t0 + 499, t0 + 500, t0 + 1_000]) await store.add('k', at, windowMs);
      await peer.purge(now, 1_000);
      // A window wider than maxWindow shows what is left: the hit at exactly now - maxWindow is
      // not older than it, so it stays.
      expect(await store.count('k', now, 10_000)).toEqual({ count: 2, oldest: t0 + 500, newest: t0 + 1_000 });
    });

    test('keys are independent', async () => {
      expect((await store.take('a', t0, windowMs, 1)).allowed).toBe(true);
      expect((await store.take('a', t0, windowMs, 1)).allowed).toBe(false);
      expect(await peer.take('b', t0, windowMs, 1)).toEqual({ allowed: true, count: 1, retryAt: null });
      expect(await peer.add('c', t0, windowMs)).toBe(1);
      expect(await store.count('a', t0, windowMs)).toMatchObject({ count: 1 });
    });

    test('hits recorded out of time order all count, and oldest is the earliest', async () => {
      expect(await store.add('k', t0 + 500, windowMs)).toBe(1);
      expect(await peer.add('k', t0 + 300, windowMs)).toBe(2);
      expect(await store.add('k', t0 + 400, windowMs)).toBe(3);
      expect(await peer.count('k', t0 + 1_000, windowMs)).toEqual({ count: 3, oldest: t0 + 300, newest: t0 + 500 });
      expect(await peer.count('k', t0 + 1_300, windowMs)).toEqual({ count: 2, oldest: t0 + 400, newest: t0 + 500 });
    });

    test('a hit later than now still counts, so clock order between workers cannot let an extra request in', async () => {
      expect((await store.take('k', t0 + 5, windowMs, 1)).allowed).toBe(true);
      expect(await peer.take('k', t0 + 3, windowMs, 1)).toEqual({ allowed: false, count: 1, retryAt: t0 + 5 + windowMs });
    });

    test('rejects a window that is not positive and a max that is not a whole number of at least 1', async () => {
      await expect(store.take('k', t0, windowMs, 0)).rejects.toThrow(RangeError);
      await expect(store.take('k', t0, windowMs, 1.5)).rejects.toThrow(RangeError);
      await expect(store.take('k', t0, 0, 1)).rejects.toThrow(RangeError);
      await expect(store.add('k', t0, -1)).rejects.toThrow(RangeError);
      await expect(store.count('k', t0, Number.NaN)).rejects.toThrow(RangeError);
      expect(await store.count('k', t0, windowMs)).toMatchObject({ count: 0 });
    });

    test(`${crowd} concurrent adds across both connections get exactly the counts 1..${crowd}`, async () => {
      const counts = await race(subject, (s) => s.add('k', t0, windowMs), crowd);
      expect(ascending(counts)).toEqual(oneTo(crowd));
      expect(await store.count('k', t0, windowMs)).toMatchObject({ count: crowd });
    });

    test(`${crowd} concurrent takes with max 20 across both connections: exactly 20 allowed, counts 1..20`, async () => {
      const results = await race(subject, (s) => s.take('k', t0, windowMs, 20), crowd);
      expect(ascending(allowedCounts(results))).toEqual(oneTo(20));
      const refused = results.filter((r) => !r.allowed);
      expect(refused).toHaveLength(crowd - 20);
      for (const r of refused) expect(r).toEqual({ allowed: false, count: 20, retryAt: t0 + windowMs });
      expect(await peer.count('k', t0, windowMs)).toMatchObject({ count: 20 });
    });
  });
}
