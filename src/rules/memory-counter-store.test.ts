import { describe, expect, test } from 'vitest';
import { describeCounterStoreContract } from '../storage/contract/counter-store.contract.js';
import { MemoryCounterStore } from './memory-counter-store.js';

// In-process by definition: `peer` is the same instance (a second one would be a separate counter).
describeCounterStoreContract('memory', async () => {
  const store = new MemoryCounterStore();
  return { store, peer: store, async cleanup() {} };
});

const t0 = 10_000;
const windowMs = 1_000;

describe('MemoryCounterStore', () => {
  test('two instances share nothing', async () => {
    const one = new MemoryCounterStore();
    const two = new MemoryCounterStore();
    await one.take('k', t0, windowMs, 1);
    expect(await two.take('k', t0, windowMs, 1)).toMatchObject({ allowed: true, count: 1 });
  });

  test('at maxKeys a new key evicts one unused since the hand last passed, not a busy one', async () => {
    const store = new MemoryCounterStore({ maxKeys: 3 });
    await store.add('busy', t0, windowMs);
    await store.add('idle-1', t0, windowMs);
    await store.add('idle-2', t0, windowMs);
    await store.add('busy', t0 + 1, windowMs);
    await store.add('new', t0 + 2, windowMs);
    expect(store.size).toBe(3);
    expect(await store.count('busy', t0 + 2, windowMs)).toMatchObject({ count: 2 });
    expect(await store.count('idle-1', t0 + 2, windowMs)).toMatchObject({ count: 0 });
    expect(await store.count('idle-2', t0 + 2, windowMs)).toMatchObject({ count: 1 });
  });

  test('eviction takes a key with nothing left to count before a recently used one', async () => {
    const store = new MemoryCounterStore({ maxKeys: 2 });
    await store.add('expired', t0, windowMs);
    await store.add('expired', t0, windowMs);
    await store.add('fresh', t0 + 5_000, windowMs);
    await store.add('new', t0 + 5_001, windowMs);
    expect(await store.count('fresh', t0 + 5_001, windowMs)).toMatchObject({ count: 1 });
    expect(store.size).toBe(2);
  });

  test('a flood of new keys cannot evict a key that keeps being used', async () => {
    const store = new MemoryCounterStore({ maxKeys: 10 });
    await store.add('attacker', t0, windowMs);
    for (let i = 0; i < 1_000; i += 1) {
      await store.add(`spray-${i}`, t0, windowMs);
      expect(await store.count('attacker', t0, windowMs)).toMatchObject({ count: 1 });
    }
    expect(store.size).toBe(10);
  });

  test('an add key keeps at most maxAddHits: counts saturate at the cap and stay exact below it', async () => {
    const store = new MemoryCounterStore({ maxAddHits: 4 });
    const counts = [];
    for (let i = 0; i < 10; i += 1) counts.push(await store.add('k', t0 + i, windowMs));
    expect(counts).toEqual([1, 2, 3, 4, 4, 4, 4, 4, 4, 4]);
    expect(await store.count('k', t0 + 9, windowMs)).toEqual({ count: 4, oldest: t0 + 6, newest: t0 + 9 });
    // Truly 3 hits in (t0 + 6, t0 + 1006]: below the cap the count is exact again.
    expect(await store.count('k', t0 + 1_006, windowMs)).toEqual({ count: 3, oldest: t0 + 7, newest: t0 + 9 });
  });

  test('a take key with max above maxAddHits is not capped by it', async () => {
    const store = new MemoryCounterStore({ maxAddHits: 4 });
    for (let i = 1; i <= 10; i += 1) expect(await store.take('k', t0, windowMs, 10)).toMatchObject({ allowed: true, count: i });
    expect((await store.take('k', t0, windowMs, 10)).allowed).toBe(false);
  });

  test('sweeps expired hits by itself every sweepEveryMs, without purge', async () => {
    const store = new MemoryCounterStore({ sweepEveryMs: 10_000 });
    await store.add('k', t0, windowMs);
    await store.add('j', t0 + 500, windowMs);
    await store.count('other', t0 + 9_999, windowMs);
    expect(store.size).toBe(2);
    await store.count('other', t0 + 10_000, windowMs);
    expect(store.size).toBe(0);
  });

  test('the lazy sweep runs in slices of 1,000 keys, one slice per call, so no call pays for all', async () => {
    const store = new MemoryCounterStore({ sweepEveryMs: 10_000 });
    for (let i = 0; i < 2_500; i += 1) await store.add(`k${i}`, t0, windowMs);
    const sizes = [];
    for (let call = 0; call < 4; call += 1) {
      await store.count('other', t0 + 10_000, windowMs);
      sizes.push(store.size);
    }
    expect(sizes).toEqual([1_500, 500, 0, 0]);
  });

  test('purge sweeps every key however many slices it takes', async () => {
    const store = new MemoryCounterStore();
    for (let i = 0; i < 2_500; i += 1) await store.add(`k${i}`, t0, windowMs);
    await store.purge(t0 + 5_000, windowMs);
    expect(store.size).toBe(0);
  });

  test('the lazy sweep keeps hits that the largest window used so far still sees', async () => {
    const store = new MemoryCounterStore({ sweepEveryMs: 10_000 });
    await store.add('long', t0, 60_000);
    await store.add('short', t0, windowMs);
    await store.count('other', t0 + 10_000, windowMs);
    expect(await store.count('long', t0 + 10_000, 60_000)).toMatchObject({ count: 1 });
  });

  test('purge and reset free the keys they empty', async () => {
    const store = new MemoryCounterStore();
    await store.add('a', t0, windowMs);
    await store.add('b', t0, windowMs);
    await store.add('c', t0 + 100, windowMs);
    await store.reset('a');
    expect(store.size).toBe(2);
    await store.purge(t0 + 2_000, windowMs);
    expect(store.size).toBe(0);
  });

  test('rejects options that are not whole numbers of at least 1', () => {
    expect(() => new MemoryCounterStore({ maxKeys: 0 })).toThrow(RangeError);
    expect(() => new MemoryCounterStore({ maxAddHits: 1.5 })).toThrow(RangeError);
    expect(() => new MemoryCounterStore({ sweepEveryMs: -1 })).toThrow(RangeError);
  });
});
