import { describe, expect, test } from 'vitest';
import { describeCounterStoreContract } from '../storage/contract/counter-store.contract.js';
import { MemoryCounterStore } from './memory-counter-store.js';

// In-process by definition: `peer` is the same instance (a second one would be a separate counter).
describeCounterStoreContract('memory', async () => {
  const store = new MemoryCounterStore();
  return { store, peer: store, footprint: async (key) => store.countBytes(key), async cleanup() {} };
});

const t0 = 10_000;
const windowMs = 1_000;

describe('MemoryCounterStore', () => {
  test('two instances share nothing', async () => {
    const one = new MemoryCounterStore();
    const two = new MemoryCounterStore();
    await one.take('k', t0, windowMs, 1);
    await one.block('k', t0 + 5_000);
    expect(await two.take('k', t0, windowMs, 1)).toMatchObject({ allowed: true, count: 1 });
    expect(await two.blockedUntil('k', t0)).toBeNull();
  });

  test('at maxKeys a new key evicts one unused since the hand last passed, not a busy one', async () => {
    const store = new MemoryCounterStore({ maxKeys: 3 });
    await store.add('busy', t0, windowMs);
    await store.add('idle-1', t0, windowMs);
    await store.add('idle-2', t0, windowMs);
    await store.add('busy', t0 + 1, windowMs);
    await store.add('new', t0 + 2, windowMs);
    expect(store.size).toBe(3);
    expect(await store.count('busy', t0 + 2, windowMs, 1)).toMatchObject({ count: 2 });
    expect(await store.count('idle-1', t0 + 2, windowMs, 1)).toMatchObject({ count: 0 });
    expect(await store.count('idle-2', t0 + 2, windowMs, 1)).toMatchObject({ count: 1 });
  });

  test('eviction takes a key with nothing left to count before a recently used one', async () => {
    const store = new MemoryCounterStore({ maxKeys: 2 });
    await store.add('expired', t0, windowMs);
    await store.add('expired', t0, windowMs);
    await store.add('fresh', t0 + 5_000, windowMs);
    await store.add('new', t0 + 5_001, windowMs);
    expect(await store.count('fresh', t0 + 5_001, windowMs, 1)).toMatchObject({ count: 1 });
    expect(store.size).toBe(2);
  });

  test('a flood of new keys cannot evict a key that keeps being used', async () => {
    const store = new MemoryCounterStore({ maxKeys: 10 });
    await store.block('attacker', t0 + 60_000);
    for (let i = 0; i < 1_000; i += 1) {
      await store.add(`spray-${i}`, t0, windowMs);
      expect(await store.blockedUntil('attacker', t0)).toBe(t0 + 60_000);
    }
    expect(store.size).toBe(10);
  });

  test('a busy key holds at most 61 bucket counts (976 bytes), whatever its max and its traffic', async () => {
    const store = new MemoryCounterStore();
    expect(store.countBytes('k')).toBe(0);
    await store.add('k', t0, windowMs);
    expect(store.countBytes('k')).toBe(32);
    // 100,000 more over 1.1 s of a 1 s window: 61 buckets of 16.7 ms hold hits.
    const times = Array.from({ length: 100_000 }, (_, i) => t0 + Math.floor((i * 1_100) / 100_000));
    for (const at of times) await store.add('k', at, windowMs);
    expect(store.countBytes('k')).toBe(61 * 16);
    // The window at t0 + 1,099 is buckets 605 to 665 of 1/60 s: from t0 + 84 ms on.
    expect(await store.count('k', t0 + 1_099, windowMs, 1)).toMatchObject({ count: times.filter((at) => at >= t0 + 84).length });
  });

  test('sweeps emptied windows and ended blocks by itself every sweepEveryMs, without purge', async () => {
    const store = new MemoryCounterStore({ sweepEveryMs: 10_000 });
    await store.add('k', t0, windowMs);
    await store.block('b', t0 + 500);
    await store.count('other', t0 + 9_999, windowMs, 1);
    expect(store.size).toBe(2);
    await store.count('other', t0 + 10_000, windowMs, 1);
    expect(store.size).toBe(0);
  });

  test('the lazy sweep runs in slices of 1,000 keys, one slice per call, so no call pays for all', async () => {
    const store = new MemoryCounterStore({ sweepEveryMs: 10_000 });
    for (let i = 0; i < 2_500; i += 1) await store.add(`k${i}`, t0, windowMs);
    const sizes = [];
    for (let call = 0; call < 4; call += 1) {
      await store.count('other', t0 + 10_000, windowMs, 1);
      sizes.push(store.size);
    }
    expect(sizes).toEqual([1_500, 500, 0, 0]);
  });

  test('purge sweeps every key however many slices it takes', async () => {
    const store = new MemoryCounterStore();
    for (let i = 0; i < 2_500; i += 1) await store.add(`k${i}`, t0, windowMs);
    await store.purge(t0 + 5_000);
    expect(store.size).toBe(0);
  });

  test('the lazy sweep keeps a key whose own window still counts its hits', async () => {
    const store = new MemoryCounterStore({ sweepEveryMs: 10_000 });
    await store.add('long', t0, 60_000);
    await store.add('short', t0, windowMs);
    await store.count('other', t0 + 10_000, windowMs, 1);
    expect(store.size).toBe(1);
    expect(await store.count('long', t0 + 10_000, 60_000, 1)).toMatchObject({ count: 1 });
  });

  test('purge and reset free the keys they empty', async () => {
    const store = new MemoryCounterStore();
    await store.add('a', t0, windowMs);
    await store.add('b', t0, windowMs);
    await store.block('c', t0 + 100);
    await store.reset('a');
    expect(store.size).toBe(2);
    await store.purge(t0 + 2_000);
    expect(store.size).toBe(0);
  });

  test('rejects options that are not whole numbers of at least 1', () => {
    expect(() => new MemoryCounterStore({ maxKeys: 0 })).toThrow(RangeError);
    expect(() => new MemoryCounterStore({ maxKeys: 1.5 })).toThrow(RangeError);
    expect(() => new MemoryCounterStore({ sweepEveryMs: -1 })).toThrow(RangeError);
  });
});
